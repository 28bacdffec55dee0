# Lifetime energy (Wh): accumulated from meter deltas, persisted, never decreasing.
#
# Invariant: the reported value never exceeds the last saved value + STEP_WH, and a reboot
# resumes at saved + STEP_WH. So whatever was published before a power loss, the value after
# the reboot is not lower (Home Assistant reads any drop of a total_increasing sensor as a
# meter reset). The price is at most STEP_WH of phantom energy per power cycle.
from evse.compat import const, ticks_diff

STEP_WH = const(20)
SAVE_MS = const(10000)  # save at most this often while energy flows


class Energy:
    def __init__(self, saved_wh=0, resumed=False):
        saved_wh = int(saved_wh) if saved_wh and saved_wh > 0 else 0
        self.total = saved_wh + (STEP_WH if resumed else 0)
        self.saved = saved_wh  # what the store holds
        self._saved_at = None
        self._last = None  # last meter register (Wh) for deltas
        self._frac = 0  # sub-Wh remainder of pulse counting, in mWh

    def add_wh(self, wh):
        if wh > 0:
            self.total += wh

    def feed_register(self, meter_wh):
        """Meter's own total register (Wh). A decrease (meter swap or reset) rebaselines."""
        if meter_wh is None:
            return
        meter_wh = int(meter_wh)
        last = self._last
        self._last = meter_wh
        if last is not None and meter_wh > last:
            self.total += meter_wh - last

    def feed_pulses(self, pulses, imp_per_kwh):
        if pulses <= 0 or imp_per_kwh <= 0:
            return
        mwh = self._frac + pulses * 1000000 // imp_per_kwh
        self.total += mwh // 1000
        self._frac = mwh % 1000

    @property
    def reported(self):
        lim = self.saved + STEP_WH
        return self.total if self.total < lim else lim

    def due(self, now, force=False):
        """True when the total should be written now: STEP_WH ahead of the store and the
        last write SAVE_MS ago, or `force` (end of a session) with anything unsaved."""
        at = self._saved_at
        if at is not None and ticks_diff(now, at) >= SAVE_MS:
            self._saved_at = at = None  # expired: never compare a stale stamp after wrap
        ahead = self.total - self.saved
        if ahead <= 0:
            return False
        return force or (at is None and ahead >= STEP_WH)

    def mark_saved(self, now, wh=None):
        self.saved = self.total if wh is None else wh
        self._saved_at = now
