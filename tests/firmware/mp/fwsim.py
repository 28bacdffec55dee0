# Simulation helpers shared by the firmware tests and the benchmark. Runs unchanged on
# CPython and MicroPython: a simulated clock (ms, starting just before the ticks wrap), a
# simulated vehicle on the pilot, fake hardware for the App, a fake MQTT client and WLAN.
from evse import limits
from evse.compat import ticks_add
from evse.control import RECHECK_MS, Evse, Inputs

# 15 s before ticks_ms wraps (period 2**30): every scenario crosses the wrap.
START = (1 << 30) - 15000
LEVEL = {"A": 12000, "B": 9000, "C": 6000, "D": 3000, "E": 0}
# Low level without the diode: the vehicle's resistor against the 1 kOhm source.
NO_DIODE_LOW = {"A": -12000, "B": -8800, "C": -4800, "D": -2700, "E": 0}


class Car:
    """A vehicle on the pilot: its state (A-E), its diode, and the current it draws.

    It follows the advertised current after `follow_ms`, draws nothing once the PWM is gone
    for `stop_ms` (C1), and draws only while the contactor is closed and it is in C.
    """

    def __init__(self, max_da=320, follow_ms=2000, stop_ms=1000):
        self.state = "A"
        self.diode = True
        self.max_da = max_da
        self.follow_ms = follow_ms
        self.stop_ms = stop_ms
        self.amps_da = 0
        self.ignore_duty = False
        self.leave_c_ms = None  # goes back to B this long after the PWM disappears (C1)
        self._c1_t = None
        self._target = 0
        self._target_t = 0
        self._pending = 0

    def levels(self, duty):
        if duty == limits.DUTY_F:
            return -12000, -12000
        hi = LEVEL[self.state]
        if duty >= limits.DUTY_HIGH or self.state == "E":
            return hi, hi
        lo = -12000 if self.diode else NO_DIODE_LOW[self.state]
        return hi, lo

    def update(self, t, duty, closed):
        """Advance the drawn current to time t (ms since start)."""
        if self.state == "C" and duty >= limits.DUTY_HIGH and self.leave_c_ms is not None:
            if self._c1_t is None:
                self._c1_t = t
            elif t - self._c1_t >= self.leave_c_ms:
                self.state = "B"
        else:
            self._c1_t = None
        if not closed or self.state != "C":
            self.amps_da = 0
            self._pending = 0
            return
        if self.ignore_duty:
            self.amps_da = self.max_da
            return
        offered = limits.amps_for(duty) if 0 < duty < limits.DUTY_HIGH else 0
        target = offered if offered < self.max_da else self.max_da
        if target != self._pending:
            self._pending = target
            self._target_t = t
        delay = self.stop_ms if target == 0 else self.follow_ms
        if self.amps_da == 0 and target > 0:
            self.amps_da = target  # starts drawing at once
        elif t - self._target_t >= delay:
            self.amps_da = target


class Sim:
    """Evse + Car on a simulated clock. `t` counts ms from the start; `now` is ticks_ms."""

    def __init__(self, tick_ms=20, car=None, meter=True, recheck=True, **kw):
        self.tick_ms = tick_ms
        self.t = 0
        self.now = START
        self.car = car or Car()
        self.meter = meter
        kw.setdefault("hw_max_da", 320)
        self.evse = Evse(self.now, **kw)
        self.inp = Inputs()
        self.rcd = False
        self.temp_c = None
        self.pp_ohm = None
        self.fb = None  # None: no feedback input; "follow": mirrors the contactor; True/False
        self.ac = None  # same for AC sense
        self.rcd_module = False  # an electronic RCD with a test winding
        self.events = []  # (t, "close"/"open"/"duty"/"fault", value)
        self._sched = []
        self._next = 0  # the next regular pass
        self.recheck = recheck

    def at(self, t, fn):
        self._sched.append((t, fn))
        self._sched.sort(key=lambda x: x[0])

    def _input(self, v, closed):
        if v == "follow":
            return closed
        return v

    def tick(self):
        while self._sched and self._sched[0][0] <= self.t:
            self._sched.pop(0)[1]()
        e = self.evse
        inp = self.inp
        car = self.car
        car.update(self.t, e.duty, e.contactor)
        inp.hi_mv, inp.lo_mv = car.levels(e.duty)
        rcd = self.rcd
        if self.rcd_module and e.rcd_test:
            rcd = True
        inp.rcd = rcd
        inp.temp_c = self.temp_c
        inp.pp_ohm = self.pp_ohm
        inp.fb = self._input(self.fb, e.contactor)
        inp.ac = self._input(self.ac, e.contactor)
        inp.amps_da = car.amps_da if self.meter else None
        closed, duty, fault = e.contactor, e.duty, e.fault
        e.step(self.now, inp)
        if e.contactor != closed:
            self.events.append((self.t, "close" if e.contactor else "open", None))
        if e.duty != duty:
            self.events.append((self.t, "duty", e.duty))
        if e.fault != fault:
            self.events.append((self.t, "fault", e.fault))
        # The App's schedule: a pass every tick_ms, plus an extra one RECHECK_MS after a
        # sample that waits for its confirmation.
        if self.t >= self._next:
            self._next += self.tick_ms
        dt = self._next - self.t
        if self.recheck and e.pending and dt > RECHECK_MS:
            dt = RECHECK_MS
        self.t += dt
        self.now = ticks_add(self.now, dt)

    def run(self, ms):
        end = self.t + ms
        while self.t < end:
            self.tick()

    def run_until(self, pred, limit_ms):
        """Ticks until pred() holds; returns the time (t) of the tick where it first held,
        or None after limit_ms."""
        end = self.t + limit_ms
        while self.t <= end:
            t = self.t
            self.tick()
            if pred():
                return t
        return None

    def first(self, kind, after=0, value=None):
        for t, k, v in self.events:
            if k == kind and t >= after and (value is None or v == value):
                return t
        return None

    def plug_and_charge(self, ms=3000):
        """Plug in, ask for charge, run until charging; returns the close time."""
        self.car.state = "B"
        self.run(500)
        self.car.state = "C"
        c_at = self.t
        self.run(ms)
        return c_at


class Store:
    def __init__(self, data=None):
        self.data = dict(data or {})
        self.writes = []

    def get(self, key, default=None):
        return self.data.get(key, default)

    def set(self, key, value):
        self.data[key] = int(value)
        self.writes.append((key, int(value)))


class FakeHardware:
    """What evse.hardware.Hardware offers to the App, with a Car on the pilot."""

    def __init__(self, car=None, store=None):
        self.car = car or Car()
        self.store = store or Store()
        self.t = 0
        self.rcd = False
        self.temp_c = None
        self.pulses = 0
        self.duty = limits.DUTY_F
        self.contactor = False
        self.rcd_test = False
        self.feeds = 0
        self.wdt_ms = None
        self.safe_calls = 0
        self.sent = []
        self.replies = []
        self.resets = 0

    def read(self, inp):
        self.car.update(self.t, self.duty, self.contactor)
        inp.hi_mv, inp.lo_mv = self.car.levels(self.duty)
        inp.rcd = self.rcd

    def write(self, duty, contactor, rcd_test):
        self.duty = duty
        self.contactor = contactor
        self.rcd_test = rcd_test

    def safe(self):
        self.safe_calls += 1
        self.contactor = False
        self.duty = limits.DUTY_F

    def start_wdt(self, ms):
        self.wdt_ms = ms

    def reset(self):
        self.resets += 1

    def feed(self):
        self.feeds += 1

    def read_temp(self):
        return self.temp_c

    def take_pulses(self):
        n = self.pulses
        self.pulses = 0
        return n

    def uart_send(self, frame):
        self.sent.append(frame)

    def uart_recv(self):
        return self.replies.pop(0) if self.replies else b""


class FakeSock:
    def __init__(self):
        self.closed = False

    def close(self):
        self.closed = True


class Broker:
    """Shared state of the fake MQTT world: retained messages, published log, inbound queue."""

    def __init__(self):
        self.retained = {}
        self.log = []  # (topic, payload, retain)
        self.inbound = []  # (topic, payload) waiting for check_msg
        self.subs = []
        self.will = None
        self.fail_connect = 0
        self.fail_publish = 0
        self.connects = 0
        self.pings = 0

    def last(self, topic):
        for t, p, _ in reversed(self.log):
            if t == topic:
                return p
        return None

    def count(self, topic):
        return len([1 for t, _, _ in self.log if t == topic])


class FakeMQTT:
    """The subset of umqtt.simple.MQTTClient the firmware uses."""

    def __init__(self, broker):
        self.broker = broker
        self.sock = FakeSock()
        self.cb = None
        self.connected = False

    def set_callback(self, cb):
        self.cb = cb

    def set_last_will(self, topic, msg, retain=False, qos=0):
        self.broker.will = (topic, msg, retain)

    def connect(self, clean_session=True):
        b = self.broker
        if b.fail_connect:
            b.fail_connect -= 1
            raise OSError(113)
        b.connects += 1
        self.connected = True
        return 0

    def publish(self, topic, msg, retain=False, qos=0):
        b = self.broker
        if b.fail_publish:
            b.fail_publish -= 1
            raise OSError(104)
        if isinstance(topic, bytes):
            topic = topic.decode()
        if isinstance(msg, bytes):
            msg = msg.decode()
        b.log.append((topic, msg, retain))
        if retain:
            if msg:
                b.retained[topic] = msg
            elif topic in b.retained:
                del b.retained[topic]

    def subscribe(self, topic, qos=0):
        self.broker.subs.append(topic)

    def check_msg(self):
        b = self.broker
        if b.inbound:
            topic, payload = b.inbound.pop(0)
            self.cb(topic.encode(), payload.encode())
        return None

    def ping(self):
        self.broker.pings += 1

    def disconnect(self):
        self.connected = False


class FakeWlan:
    def __init__(self, up=True):
        self.up = up
        self.connect_calls = 0

    def isconnected(self):
        return self.up

    def connect(self, ssid, password):
        self.connect_calls += 1

    def disconnect(self):
        pass


def config(**over):
    """A valid configuration (validated by evse.config) with overrides per section."""
    from evse import config as cfgmod

    data = {
        "node_id": "evse1",
        "name": "Garage EVSE",
        "wifi": {"ssid": "home", "password": "secret"},
        "mqtt": {"host": "192.168.1.10"},
        "limits": {"max_current_a": 32, "default_current_a": 16},
        "pins": {"pilot_pwm": 27, "pilot_adc": 36, "contactor": 26, "rcd": 35},
    }
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(data.get(k), dict):
            data[k].update(v)
        else:
            data[k] = v
    return cfgmod.validate(data)


def example_config_text():
    """firmware/micropython/config.example.json: next to this file under MicroPython (the
    Node runner copies it there), in the repository on CPython."""
    here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
    for path in (
        here + "/config.example.json",
        here + "/../../../firmware/micropython/config.example.json",
    ):
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            pass
    raise OSError("config.example.json not found")
