# Control pilot: classify the sampled high level into IEC 61851 states A-F (mid-point
# thresholds with hysteresis) and check the vehicle's diode on the low level. Levels in mV.
from evse.compat import const

A = "A"  # 12 V, no vehicle
B = "B"  # 9 V, vehicle connected
C = "C"  # 6 V, vehicle asks to charge
D = "D"  # 3 V, charge with ventilation (refused)
E = "E"  # 0 V, short circuit or no supply
F = "F"  # -12 V, EVSE unavailable

HYST_MV = const(400)
DIODE_MAX_MV = const(-10500)  # with PWM on, the low level must be below this (about -12 V)
_BIG = const(1 << 24)

# (state, lower bound, upper bound) of the high level in mV; mid-points 10.5/7.5/4.5/1.5 V and
# -10.5 V for a high level that is itself negative (something drives -12 V: hardware fault).
_BANDS = (
    (A, 10500, _BIG),
    (B, 7500, 10500),
    (C, 4500, 7500),
    (D, 1500, 4500),
    (E, -10500, 1500),
    (F, -_BIG, -10500),
)


def classify(hi_mv, prev=None):
    """State for a high level; stays in `prev` until the level is HYST_MV past its band."""
    if prev is not None:
        for s, lo, hi in _BANDS:
            if s == prev:
                if lo - HYST_MV <= hi_mv < hi + HYST_MV:
                    return prev
                break
    for s, lo, _ in _BANDS:
        if hi_mv >= lo:
            return s
    return F


def diode_ok(lo_mv):
    return lo_mv <= DIODE_MAX_MV


def to_mv(uv, p12_uv, n12_uv):
    """ADC reading (uV at the ADC pin) to pilot mV, from a two-point calibration at +/-12 V."""
    span = p12_uv - n12_uv
    if span == 0:
        return 0
    return -12000 + (uv - n12_uv) * 24000 // span
