# Temperature: NTC conversion (Beta equation) and the over-temperature ladder.
import math

from evse.compat import const

HALF_C = const(65)  # half of the hardware maximum
QUARTER_C = const(68)  # a quarter (at least 6 A)
STOP_C = const(71)  # stop charging
RESTORE_C = const(62)  # back to full current


def ntc_c(uv, vref_uv, r_fixed, r0=10000, beta=3950, t0_c=25.0):
    """NTC from the ADC pin to ground, fixed resistor to vref. None when open or shorted."""
    if uv <= vref_uv // 100 or uv >= vref_uv - vref_uv // 100:
        return None
    r = r_fixed * uv / (vref_uv - uv)
    inv = 1.0 / (t0_c + 273.15) + math.log(r / r0) / beta
    return 1.0 / inv - 273.15


class Ladder:
    """0 full, 1 half, 2 quarter, 3 stop. Climbs at once; returns to 0 only at RESTORE_C."""

    def __init__(self):
        self.level = 0

    def update(self, temp_c):
        if temp_c is None:
            return self.level
        if temp_c >= STOP_C:
            lvl = 3
        elif temp_c >= QUARTER_C:
            lvl = 2
        elif temp_c >= HALF_C:
            lvl = 1
        else:
            lvl = 0
        if lvl > self.level:
            self.level = lvl
        elif temp_c <= RESTORE_C:
            self.level = 0
        return self.level

    def cap_da(self, hw_max_da):
        """Current cap for the level (dA), None for no cap."""
        lvl = self.level
        if lvl == 0:
            return None
        if lvl == 1:
            return hw_max_da // 2
        if lvl == 2:
            q = hw_max_da // 4
            return q if q > 60 else 60
        return 0
