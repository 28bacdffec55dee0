# The only module that imports `machine` (and `network`): pilot PWM and ADC, contactor,
# RCD and the optional inputs, meter UART, NTC, S0 pulses, watchdog, persistent store, WiFi.
import machine
from machine import ADC, PWM, Pin

from evse import limits, pilot, thermal
from evse.compat import ticks_diff, ticks_ms, ticks_us

_WINDOW_US = 1100  # one full 1 kHz PWM period plus margin
_AC_HOLD_MS = 60  # AC-sense pulses (50/60 Hz opto) seen within this -> AC present


def wlan():
    """The WiFi station interface, switched on (the network worker connects it)."""
    import network

    w = network.WLAN(network.STA_IF)
    w.active(True)
    return w


def _adc(pin):
    a = ADC(Pin(pin))
    a.atten(ADC.ATTN_11DB)
    return a


class Store:
    """Small persisted integers: the ESP32's NVS (no file rewrite, wear-levelled), else a file."""

    def __init__(self, ns="evse", path="persist.json"):
        self._path = path
        try:
            import esp32

            self._nvs = esp32.NVS(ns)
            self._data = None
        except (ImportError, AttributeError):
            self._nvs = None
            try:
                import json

                with open(path) as f:
                    self._data = json.loads(f.read())
            except (OSError, ValueError):
                self._data = {}

    def get(self, key, default=None):
        if self._nvs is None:
            return self._data.get(key, default)
        try:
            return self._nvs.get_i32(key)
        except OSError:
            return default

    def set(self, key, value):
        if self._nvs is None:
            import json
            import os

            self._data[key] = int(value)
            with open(self._path + ".tmp", "w") as f:
                f.write(json.dumps(self._data))
            os.rename(self._path + ".tmp", self._path)
            return
        self._nvs.set_i32(key, int(value))
        self._nvs.commit()


class Hardware:
    def __init__(self, cfg, store=None):
        p = cfg["pins"]
        inputs = cfg["inputs"]
        # Contactor first: driven low (off) before anything else happens.
        self._contactor = Pin(p["contactor"], Pin.OUT, value=0)
        self._invert = cfg["pilot"]["invert"]
        self._duty = limits.DUTY_F
        self._pwm = PWM(Pin(p["pilot_pwm"]), freq=1000, duty_u16=self._u16(limits.DUTY_F))
        self._pilot = _adc(p["pilot_adc"])
        self._p12 = cfg["pilot"]["p12_uv"]
        self._n12 = cfg["pilot"]["n12_uv"]
        self._rcd_level = 0 if inputs["rcd_active_low"] else 1
        self._rcd = Pin(p["rcd"], Pin.IN)
        self._rcd_latch = False
        # Soft IRQ on the ESP32 (no hard=): it only records; the trip itself opens the
        # contactor in hardware (RCD contact in series with the coil).
        self._rcd.irq(
            handler=self._on_rcd,
            trigger=Pin.IRQ_FALLING if inputs["rcd_active_low"] else Pin.IRQ_RISING,
        )
        self._rcd_test = None if p["rcd_test"] is None else Pin(p["rcd_test"], Pin.OUT, value=0)
        self._fb = None if p["contactor_fb"] is None else Pin(p["contactor_fb"], Pin.IN)
        self._fb_level = 0 if inputs["fb_active_low"] else 1
        self._ac = None
        self._ac_n = 0
        self._ac_last = 0
        self._ac_at = None
        if p["ac_sense"] is not None:
            self._ac = Pin(p["ac_sense"], Pin.IN)
            self._ac.irq(
                handler=self._on_ac,
                trigger=Pin.IRQ_FALLING if inputs["ac_active_low"] else Pin.IRQ_RISING,
            )
        self._pp = None if p["pp_adc"] is None else _adc(p["pp_adc"])
        self._pp_cfg = (cfg["pp"]["vref_uv"], cfg["pp"]["pullup_ohm"])
        n = cfg["ntc"]
        self._ntc = None if p["ntc_adc"] is None else _adc(p["ntc_adc"])
        self._ntc_cfg = (n["vref_uv"], n["r_fixed"], n["r0"], n["beta"])
        self._pulses = 0
        if p["s0"] is not None:
            self._s0 = Pin(p["s0"], Pin.IN, Pin.PULL_UP)
            self._s0.irq(handler=self._on_pulse, trigger=Pin.IRQ_FALLING)
        m = cfg["meter"]
        self._uart = None
        self._de = None
        if m["type"] in ("sdm120", "sdm630"):
            self._uart = machine.UART(
                2, baudrate=m["baud"], bits=8, parity=None, stop=1, tx=p["uart_tx"], rx=p["uart_rx"]
            )
            if p["rs485_de"] is not None:
                self._de = Pin(p["rs485_de"], Pin.OUT, value=0)
        self._led = None if p["led"] is None else Pin(p["led"], Pin.OUT, value=0)
        self._wdt = None
        self.store = store or Store()

    # IRQ handlers: no allocation, only record.
    def _on_rcd(self, _pin):
        self._rcd_latch = True

    def _on_ac(self, _pin):
        self._ac_n += 1

    def _on_pulse(self, _pin):
        self._pulses += 1

    def _u16(self, duty):
        v = duty * 65535 // 1000
        return 65535 - v if self._invert else v

    def sample_pilot(self):
        """(high mV, low mV): min and max over a window covering a full PWM period."""
        read = self._pilot.read_uv
        hi = -1
        lo = 1 << 29
        n = 0
        t0 = ticks_us()
        while True:
            v = read()
            hi = max(hi, v)
            lo = min(lo, v)
            n += 1
            if n >= 16 and ticks_diff(ticks_us(), t0) >= _WINDOW_US:
                break
        return pilot.to_mv(hi, self._p12, self._n12), pilot.to_mv(lo, self._p12, self._n12)

    def read(self, inp):
        inp.hi_mv, inp.lo_mv = self.sample_pilot()
        latched = self._rcd_latch
        self._rcd_latch = False
        inp.rcd = latched or self._rcd.value() == self._rcd_level
        if self._fb is not None:
            inp.fb = self._fb.value() == self._fb_level
        if self._ac is not None:
            now = ticks_ms()
            n = self._ac_n
            if n != self._ac_last:
                self._ac_last = n
                self._ac_at = now
            elif self._ac_at is not None and ticks_diff(now, self._ac_at) >= _AC_HOLD_MS:
                self._ac_at = None
            inp.ac = self._ac_at is not None
        if self._pp is not None:
            vref, pullup = self._pp_cfg
            inp.pp_ohm = limits.pp_ohm(self._pp.read_uv(), vref, pullup)

    def write(self, duty, contactor, rcd_test):
        if duty != self._duty:
            self._pwm.duty_u16(self._u16(duty))
            self._duty = duty
        self._contactor.value(1 if contactor else 0)
        if self._rcd_test is not None:
            self._rcd_test.value(1 if rcd_test else 0)
        if self._led is not None:
            self._led.value(1 if contactor else 0)

    def safe(self):
        """Contactor open, pilot at -12 V (F). Called on any exception."""
        self._contactor.value(0)
        self._pwm.duty_u16(self._u16(limits.DUTY_F))
        self._duty = limits.DUTY_F
        if self._rcd_test is not None:
            self._rcd_test.value(0)

    def start_wdt(self, timeout_ms):
        if self._wdt is None:
            self._wdt = machine.WDT(timeout=timeout_ms)

    def feed(self):
        if self._wdt is not None:
            self._wdt.feed()

    def reset(self):
        """Restart the board (an update was staged, or a trial did not confirm in time)."""
        machine.reset()

    def read_temp(self):
        if self._ntc is None:
            return None
        vref, r_fixed, r0, beta = self._ntc_cfg
        return thermal.ntc_c(self._ntc.read_uv(), vref, r_fixed, r0, beta)

    def take_pulses(self):
        state = machine.disable_irq()
        n = self._pulses
        self._pulses = 0
        machine.enable_irq(state)
        return n

    def uart_send(self, frame):
        u = self._uart
        u.read()  # drop anything stale
        if self._de is not None:
            self._de.value(1)
        u.write(frame)
        if self._de is not None:
            while not u.txdone():  # 8 bytes: under 10 ms at 9600 baud
                pass
            self._de.value(0)

    def uart_recv(self):
        return self._uart.read() or b""
