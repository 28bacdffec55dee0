# Current <-> duty cycle (IEC 61851-1 / SAE J1772), the advertised current and its rate limit.
# Currents are integer deci-amps (dA: 160 = 16.0 A); duty is integer permille (267 = 26.7 %).
# Integers keep the safety loop free of heap allocations (floats are boxed on the ESP32).
from evse.compat import const, ticks_diff

MIN_DA = const(60)  # 6 A: below this there is no valid duty (pause: steady +12 V)
MAX_DA = const(800)  # 80 A
DUTY_HIGH = const(1000)  # steady +12 V: states A, B1, C1 (no PWM)
DUTY_F = const(0)  # steady -12 V: state F
CHANGE_MS = const(5000)  # the vehicle has 5 s to follow a change; change no more often

# Proximity resistor (ohms, upper bound of the accepted range) -> cable rating (dA).
# Nominal 1.5 kOhm 13 A, 680 Ohm 20 A, 220 Ohm 32 A, 100 Ohm 63 A.
_PP = ((60, 0), (160, 630), (400, 320), (1100, 200), (2700, 130))


def duty_for(da):
    """Permille for a current; 0 A and anything below 6 A have no duty (use DUTY_HIGH)."""
    if da < MIN_DA:
        return DUTY_HIGH
    da = min(da, MAX_DA)
    if da <= 510:
        return (da * 10 + 3) // 6  # % = A / 0.6, rounded
    if da < 525:
        return 850  # 51-52.5 A: the second formula starts at 85 %; advertise 51 A
    return da * 2 // 5 + 640  # % = A / 2.5 + 64


def amps_for(duty):
    """Current (dA) a vehicle reads from a duty (permille); 0 where the duty means none."""
    if duty < 80 or duty > 970:
        return 0
    if duty < 100:
        return MIN_DA  # 8-10 %: 6 A
    if duty <= 850:
        return duty * 6 // 10
    return (duty - 640) * 5 // 2


def cable_da(ohm):
    """Cable rating from the proximity resistor; 0 for no cable or an invalid value."""
    if ohm is None:
        return 0
    for top, da in _PP:
        if ohm < top:
            return da
    return 0


def pp_ohm(uv, vref_uv, pullup_ohm):
    """Proximity resistor to PE behind a pull-up to vref; None when open (no cable)."""
    if uv >= vref_uv - vref_uv // 50:
        return None
    if uv <= 0:
        return 0
    return pullup_ohm * uv // (vref_uv - uv)


def cap(a, b):
    """min() where None means 'no limit'."""
    if a is None:
        return b
    if b is None or a < b:
        return a
    return b


class RateLimiter:
    """Holds the advertised current; a new value is taken at most every CHANGE_MS.

    Starting (from 0) and stopping (to 0) are not duty changes and pass at once.
    """

    def __init__(self):
        self.da = 0
        self._at = None  # time of the last change, None when long ago

    def reset(self, da=0):
        self.da = da
        self._at = None

    def update(self, now, target):
        if target == self.da:
            if self._at is not None and ticks_diff(now, self._at) >= CHANGE_MS:
                self._at = None
            return self.da
        at = self._at
        if target == 0 or self.da == 0 or at is None or ticks_diff(now, at) >= CHANGE_MS:
            self.da = target
            self._at = now
        return self.da
