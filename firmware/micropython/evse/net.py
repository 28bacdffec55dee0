# Network worker: WiFi (re)connect, MQTT via umqtt.simple (or anything with its API), Home
# Assistant discovery, availability, state publishing and commands. service(now) does one
# bounded step and never raises; run_forever() (thread) and run_task() (asyncio) loop over it.
import sys

from evse import ha
from evse.compat import sleep_ms, ticks_diff, ticks_ms

WIFI_RETRY_MS = 20000
MQTT_RETRY_MS = (2000, 5000, 10000, 30000)
POLL_MS = 50
MIN_PUBLISH_MS = 200


class Net:
    def __init__(self, app, cfg, wlan, client_factory):
        self.app = app
        self.cfg = cfg
        self.wlan = wlan
        self.factory = client_factory
        m = cfg["mqtt"]
        base = m["base"]
        self.t_status = base + "/status"
        self.t_state = base + "/state"
        self.t_cmd = base + "/+/set"
        self.t_ota = base + "/ota"
        self.t_birth = m["discovery_prefix"] + "/status"
        self.interval_ms = m["state_interval_s"] * 1000
        self.keepalive_ms = m["keepalive_s"] * 1000
        self.client = None
        self.connects = 0
        self.failures = 0
        self.rejected = 0
        self.last_error = None
        self._wifi_at = None
        self._retry_at = None
        self._republish = False
        self._force = False
        self._sig = None
        self._pub_at = None
        self._sent_at = None
        self.ota_cmd = None  # an update command waiting for evse.ota (imported on demand)
        self.ota = None  # the update in progress (evse.ota.Updater)

    def _on_msg(self, topic, msg):
        if isinstance(topic, (bytes, bytearray)):  # noqa: UP038 - MicroPython: no X | Y
            topic = topic.decode()
        cmd, val = ha.parse(self.cfg, topic, msg)
        if cmd is None:
            self.rejected += 1
            self.last_error = val
            self._force = True  # echo the unchanged state (HA reverts its control)
            return
        if cmd == "ota":
            self.ota_cmd = val
            return
        if cmd == "ha" and val:
            self._republish = True
        elif cmd != "heartbeat":
            self._force = True
        self.app.inbox.append((cmd, val))

    def _drop(self, now, why):
        self.last_error = str(why)
        c = self.client
        self.client = None
        if c is not None:
            try:  # noqa: SIM105 - no contextlib in MicroPython
                c.sock.close()
            except Exception:
                pass
        self.failures += 1
        self._retry_at = now

    def _connect(self, now):
        c = self.factory()
        c.set_callback(self._on_msg)
        c.set_last_will(self.t_status, "offline", retain=True)
        c.connect()
        self.client = c
        c.publish(self.t_status, "online", retain=True)
        c.subscribe(self.t_cmd)
        c.subscribe(self.t_birth)
        self.connects += 1
        self.failures = 0
        self._republish = True
        self._sent_at = now

    def publish_all(self, now):
        c = self.client
        for topic, payload, retain in ha.discovery(self.cfg):
            c.publish(topic, payload, retain=retain)
        ha.drop("disco")
        c.publish(self.t_status, "online", retain=True)
        if self.app.ota_doc is not None:
            c.publish(self.t_ota, self.app.ota_doc, retain=True)
        self._republish = False
        self._publish_state(now)

    def _publish_state(self, now):
        self.client.publish(self.t_state, self.app.state_json(), retain=True)
        self._pub_at = now
        self._sent_at = now
        self._force = False

    def _signature(self):
        e = self.app.evse
        return (
            e.state,
            e.pilot,
            e.reason,
            e.enabled,
            e.setpoint,
            e.offered,
            e.contactor,
            e.plug,
            e.link.ok,
        )

    def service(self, now):
        """One step; returns the ms to wait before the next call."""
        try:
            return self._service(now)
        except Exception as e:
            self._drop(now, e)
            return POLL_MS

    def _service(self, now):
        if not self.wlan.isconnected():
            if self.client is not None:
                self._drop(now, "WiFi lost")
            if self._wifi_at is None or ticks_diff(now, self._wifi_at) >= WIFI_RETRY_MS:
                self._wifi_at = now
                w = self.cfg["wifi"]
                try:  # noqa: SIM105 - no contextlib in MicroPython
                    self.wlan.disconnect()
                except Exception:
                    pass
                self.wlan.connect(w["ssid"], w["password"])
            return 500
        self._wifi_at = None
        if self.client is None:
            if self._retry_at is not None:
                n = self.failures
                wait = MQTT_RETRY_MS[n - 1 if n <= len(MQTT_RETRY_MS) else -1]
                if ticks_diff(now, self._retry_at) < wait:
                    return 200
            self._connect(now)
        c = self.client
        for _ in range(4):
            c.check_msg()
        if self._republish:
            self.publish_all(now)
            return POLL_MS
        busy = False
        if self.ota_cmd is not None or self.ota is not None or self.app.trial:
            from evse import ota

            if self.app.trial:
                if self.app.ticks >= ota.HEALTHY_TICKS and self._pub_at is not None:
                    ota.confirm(self)
            else:
                ota.service(self, now)
                busy = self.ota is not None
            if self.ota is None and not self.app.trial:
                # The update is over (refused, failed or confirmed; a staged one reboots): its
                # code leaves the heap again, as evse.disco's does.
                ha.drop("ota")
                sys.modules.pop("otaboot", None)
        sig = self._signature()
        since = None if self._pub_at is None else ticks_diff(now, self._pub_at)
        if (
            since is None
            or since >= self.interval_ms
            or ((sig != self._sig or self._force) and since >= MIN_PUBLISH_MS)
        ):
            self._publish_state(now)
            self._sig = sig
        elif ticks_diff(now, self._sent_at) >= self.keepalive_ms // 2:
            c.ping()
            self._sent_at = now
        return 0 if busy else POLL_MS

    def run_forever(self):
        while True:
            sleep_ms(self.service(ticks_ms()))

    async def run_task(self, sleep):
        while True:
            await sleep(self.service(ticks_ms()))
