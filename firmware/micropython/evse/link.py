# Link supervision: Home Assistant sends a heartbeat on <base>/heartbeat/set and announces
# itself on homeassistant/status. Without either for `timeout_ms`, fall back to a configured
# current or pause. Also counts from boot, so a controller that never shows up is covered.
from evse.compat import ticks_diff

PAUSE = "pause"
FALLBACK = "fallback"


class Link:
    def __init__(self, now, timeout_ms, policy=FALLBACK, fallback_da=60):
        self.timeout_ms = timeout_ms
        self.policy = policy
        self.fallback_da = fallback_da
        self._hb = now  # last sign of life (boot counts as one)
        self._off = None  # time HA said offline
        self.ok = True

    def heartbeat(self, now):
        self._hb = now
        self._off = None
        self.ok = True

    def ha_status(self, online, now):
        if online:
            self.heartbeat(now)
        elif self._off is None:
            self._off = now

    def update(self, now):
        """Returns the current cap (dA) while the link is lost, None while it is fine."""
        if self.ok:
            since = self._hb if self._off is None else self._off
            if ticks_diff(now, since) >= self.timeout_ms:
                self.ok = False
        if self.ok:
            return None
        if self.policy == PAUSE:
            return 0
        return self.fallback_da
