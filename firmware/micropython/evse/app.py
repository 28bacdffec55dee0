# The application: a fixed-tick safety loop (read inputs -> Evse.step -> write outputs ->
# feed the watchdog), a 1 s housekeeping task, the Modbus meter task, and the network worker
# (net.Net) on its own thread where the port has one. Hardware is passed in, never imported
# here except by main().
import json

from evse import ha, modbus
from evse.compat import ticks_add, ticks_diff, ticks_ms, ticks_us
from evse.control import RECHECK_MS, Evse, Inputs
from evse.energy import Energy

try:
    import asyncio

    _sleep_ms = asyncio.sleep_ms
except AttributeError:  # CPython

    def _sleep_ms(ms):
        return asyncio.sleep(ms / 1000)


def da(amps):
    return int(amps * 10 + 0.5)


class App:
    def __init__(self, cfg, hw, now, root="", boot=None):
        """`root`: the file system directory of lib/evse and the update files; `boot`: the
        state otaboot.boot() left (a "trial" phase holds charging off until it confirms)."""
        self.cfg = cfg
        self.hw = hw
        lim = cfg["limits"]
        pins = cfg["pins"]
        link = cfg["link"]
        st = hw.store
        wh = st.get("wh")
        if wh is None:  # first boot: create the entry, so a later boot resumes with margin
            st.set("wh", 0)
        self.energy = Energy(wh or 0, resumed=wh is not None)
        setpoint = st.get("lim")
        if setpoint is None or not 0 <= setpoint <= da(lim["max_current_a"]):
            setpoint = da(lim["default_current_a"])
        self.evse = Evse(
            now,
            hw_max_da=da(lim["max_current_a"]),
            cable_da=da(lim["cable_current_a"]),
            has_pp=pins["pp_adc"] is not None,
            has_temp=pins["ntc_adc"] is not None,
            has_rcd_test=pins["rcd_test"] is not None,
            link_timeout_ms=link["timeout_s"] * 1000,
            link_policy=link["policy"],
            fallback_da=da(link["fallback_a"]),
            oc_margin_da=da(lim["oc_margin_a"]),
            setpoint_da=setpoint,
            enabled=st.get("en", 1) != 0,
        )
        self.root = root
        boot = boot or {}
        self.trial = boot.get("phase") == "trial"
        self.ota_doc = None  # the last update status published on <base>/ota
        if boot.get("status"):
            doc = {"status": boot["status"], "version": boot.get("version")}
            for k in ("error", "id"):
                if boot.get(k):
                    doc[k] = boot[k]
            self.ota_doc = json.dumps(doc)
        self.hold = False  # charging refused (an update runs or is on trial)
        # The user's charging switch. The hold turns the state machine's `enabled` off without
        # touching this: it is what is persisted, so an update never leaves charging disabled.
        self.user_enabled = self.evse.enabled
        if self.trial:
            self.command(now, "hold", True)
        self.reboot = False  # set to leave the safety loop and restart the board
        self._boot_at = now
        self.inp = Inputs()
        self.inbox = []  # (command, value) posted by the network worker
        self.meter = {}  # latest meter readings: p, i1-i3, u1-u3, wh
        self.temp_c = None
        self.amps_da = None
        self.meter_errors = 0
        self.session_end = False
        self.dirty = False  # settings to persist
        self.ticks = 0
        self.tick_us_max = 0

    def command(self, now, cmd, val):
        e = self.evse
        if cmd == "heartbeat":
            e.link.heartbeat(now)
        elif cmd == "ha":
            e.link.ha_status(val, now)
        elif cmd == "enable":
            if self.hold:
                return  # refused while an update runs; the state echo shows it
            self.user_enabled = bool(val)
            e.set_enabled(val)
            self.dirty = True
        elif cmd == "hold":
            e.set_enabled(not val and self.user_enabled)
            self.hold = val
        elif cmd == "limit":
            e.set_limit(val)
            self.dirty = True
        elif cmd == "reset":
            e.reset_fault()

    def tick(self, now):
        """One pass of the safety loop."""
        inbox = self.inbox
        while inbox:
            cmd, val = inbox.pop(0)
            self.command(now, cmd, val)
        inp = self.inp
        hw = self.hw
        hw.read(inp)
        inp.temp_c = self.temp_c
        inp.amps_da = self.amps_da
        e = self.evse
        was = e.contactor
        e.step(now, inp)
        hw.write(e.duty, e.contactor, e.rcd_test)
        if was and not e.contactor:
            self.session_end = True
        self.ticks += 1
        hw.feed()

    def housekeeping(self, now):
        """Once a second: temperature, S0 pulses, persistence."""
        hw = self.hw
        self.temp_c = hw.read_temp()
        n = hw.take_pulses()
        if n:
            self.energy.feed_pulses(n, self.cfg["meter"]["imp_per_kwh"])
        en = self.energy
        if en.due(now, self.session_end):
            hw.store.set("wh", en.total)
            en.mark_saved(now)
        self.session_end = False
        if self.trial and ticks_diff(now, self._boot_at) >= self.cfg["ota"]["confirm_s"] * 1000:
            self.reboot = True  # not confirmed in time: the next boot rolls back
        if self.dirty:
            self.dirty = False
            hw.store.set("en", 1 if self.user_enabled else 0)  # never the hold's "off"
            hw.store.set("lim", self.evse.setpoint)

    def meter_result(self, out):
        """A complete meter reading (dict from modbus.decode), or None after a failure."""
        if out is None:
            self.meter_errors += 1
            if self.meter_errors >= 5:
                self.meter = {}
                self.amps_da = None
            return
        self.meter_errors = 0
        modbus.finish(out)
        self.energy.feed_register(out.get("wh"))
        amps = 0
        for k in ("i1", "i2", "i3"):
            v = out.get(k)
            if v is not None and v > amps:
                amps = v
        self.amps_da = int(amps * 10)
        self.meter = out

    def state_json(self):
        return ha.state(self.evse, self.energy.reported, self.meter, self.temp_c, self.tick_us_max)

    # asyncio tasks
    async def safety_loop(self):
        period = self.cfg["tick_ms"]
        hw = self.hw
        e = self.evse
        nxt = ticks_ms()
        try:
            while not self.reboot:
                t0 = ticks_us()
                now = ticks_ms()
                self.tick(now)
                if self.ticks == 1:
                    hw.start_wdt(self.cfg["wdt_ms"])
                self.tick_us_max = max(self.tick_us_max, ticks_diff(ticks_us(), t0))
                if ticks_diff(now, nxt) >= 0:  # a regular pass (not an extra one)
                    nxt = ticks_add(nxt, period)
                wait = ticks_diff(nxt, ticks_ms())
                if wait < 0:  # overran: start a fresh schedule
                    nxt = ticks_ms()
                    wait = 0
                if e.pending and wait > RECHECK_MS:
                    wait = RECHECK_MS  # an extra pass confirms the sample (the schedule stays)
                await _sleep_ms(wait)
        except BaseException:
            hw.safe()
            raise
        hw.safe()
        hw.reset()

    async def slow_loop(self):
        while True:
            self.housekeeping(ticks_ms())
            await _sleep_ms(1000)

    async def meter_loop(self):
        m = self.cfg["meter"]
        plan = modbus.METERS[m["type"]]
        addr = m["addr"]
        hw = self.hw
        # bytes on the wire: 10 bits each; the answer for the largest read plus margin
        char_ms = 10000 // m["baud"] + 1
        while True:
            out = {}
            for start, names in plan:
                n = modbus.count(names)
                hw.uart_send(modbus.request(addr, start, n))
                await _sleep_ms((8 + modbus.response_len(n)) * char_ms + 30)
                try:
                    modbus.decode(modbus.parse(hw.uart_recv(), addr, n), names, out)
                except ValueError:
                    out = None
                    break
            self.meter_result(out)
            await _sleep_ms(1000)

    async def run(self, net=None, threaded=True):
        """Runs until the safety loop fails. The network worker runs on its own thread where
        the port has _thread (blocking umqtt calls release the interpreter lock there), else
        (or with threaded=False) as a task."""
        # A first temperature reading before the first safety pass: otherwise a configured NTC
        # reads as a missing sensor and the boot guard holds charging for 10 s.
        self.housekeeping(ticks_ms())
        tasks = [asyncio.create_task(self.slow_loop())]
        if self.cfg["meter"]["type"] in modbus.METERS:
            tasks.append(asyncio.create_task(self.meter_loop()))
        if net is not None:
            started = False
            if threaded:
                try:
                    import _thread

                    _thread.stack_size(16 * 1024)
                    _thread.start_new_thread(net.run_forever, ())
                    started = True
                except ImportError:
                    started = False
            if not started:
                tasks.append(asyncio.create_task(net.run_task(_sleep_ms)))
        try:
            await self.safety_loop()
        finally:
            for t in tasks:
                t.cancel()


def main(path="config.json", boot=None):
    """Device entry point (main.py calls this). Returns to the REPL, outputs safe, when the
    configuration is refused or a file named `nostart` exists (for maintenance); once the
    safety loop has run, the watchdog resets the board after any failure."""
    # Until Hardware() drives the contactor pin low, the GPIOs are inputs out of reset and
    # the contactor driver's pull-down keeps the coil off (README, wiring).
    import os

    from evse import hardware

    try:
        os.stat("nostart")
        print("EVSE not started: remove the file 'nostart' to run")
        return
    except OSError:
        pass
    try:
        from evse import config

        with open(path) as f:
            cfg = config.loads(f.read())
    except (OSError, ValueError) as e:
        print("EVSE not started:", e)
        return
    finally:
        ha.drop("config")  # used at boot only: its schema table leaves the heap

    hw = hardware.Hardware(cfg)
    try:
        from umqtt.simple import MQTTClient

        from evse.net import Net

        m = cfg["mqtt"]

        def client():
            # umqtt sends user and password only when user is set (password may be "").
            user = m["user"] or None
            return MQTTClient(
                m["client_id"], m["host"], m["port"], user, m["password"], m["keepalive_s"]
            )

        app = App(cfg, hw, ticks_ms(), boot=boot)
        net = Net(app, cfg, hardware.wlan(), client)
        asyncio.run(app.run(net))
    finally:
        hw.safe()
