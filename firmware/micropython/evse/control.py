# The EVSE state machine: pilot, contactor, faults. Deterministic and allocation-light:
# step(now_ms, inputs) reads one sample of every input and sets the outputs `duty` (permille,
# 1000 = steady +12 V, 0 = steady -12 V), `contactor` and `rcd_test`. Times are ticks_ms
# values compared with ticks_diff; stamps are dropped once their window has passed, so a
# stale stamp is never compared after the 2**30 ms wrap.
from evse import limits, pilot
from evse.compat import const, ticks_diff
from evse.link import Link
from evse.pilot import A, B, C, D, E, F
from evse.thermal import Ladder

CONFIRM = const(2)  # equal samples to accept a new pilot state (no more towards "off")
# A sample that needs confirming (a new pilot state, a missing diode) gets its confirming
# sample this soon instead of a whole tick later: the safety loop inserts an extra pass.
RECHECK_MS = const(4)
DIODE_BAD = const(2)  # consecutive samples without the -12 V low level -> diode fault
C_STABLE_MS = const(500)  # B -> C debounce before closing
STOP_MS = const(6000)  # PWM off (C1): force the contactor open after this
OC_MS = const(6000)  # over-current for longer than 5 s + 1 s -> fault
GUARD_MS = const(3000)  # re-entry guard after opening
FAULT_GUARD_MS = const(10000)  # re-entry guard after a fault clears
CHECK_MS = const(1000)  # welded contactor / no AC / feedback mismatch
RCD_RETRY_MS = const(300000)  # auto-retry 5 min after an RCD trip ...
RCD_RETRIES = const(6)  # ... at most 6 times, then lock out until unplug
SELFTEST_TRIP_MS = const(200)  # RCD test winding: trip expected within
SELFTEST_CLEAR_MS = const(1000)  # ... and cleared again within

# Fault reason codes (reported as they are).
RCD = "rcd"
RCD_LOCKOUT = "rcd_lockout"
RCD_SELFTEST = "rcd_selftest"
DIODE = "diode"
VENT = "vent_required"
SHORT = "pilot_short"
PILOT_FAULT = "pilot_fault"
OVER_CURRENT = "over_current"
WELDED = "welded"
NO_AC = "no_ac"
CONTACTOR = "contactor"
TEMP_SENSOR = "temp_sensor"
OVER_TEMP = "over_temp"  # not a fault: the thermal stop, reported as the reason
NONE = "none"

# Ascending priority: a new fault replaces the active one only when it ranks higher.
FAULTS = (
    TEMP_SENSOR,
    SHORT,
    PILOT_FAULT,
    VENT,
    DIODE,
    OVER_CURRENT,
    NO_AC,
    RCD,
    RCD_LOCKOUT,
    RCD_SELFTEST,
    CONTACTOR,
    WELDED,
)
REASONS = (NONE, OVER_TEMP) + FAULTS  # noqa: RUF005 - MicroPython: no (*x) in displays
# Cleared when the vehicle is unplugged (pilot back to A) or by reset.
_UNPLUG = (DIODE, VENT, OVER_CURRENT, NO_AC, RCD_LOCKOUT, SHORT, PILOT_FAULT)
# Cleared by reset only; the pilot is driven to F (EVSE unavailable).
PERMANENT = (WELDED, CONTACTOR, RCD_SELFTEST)
SAFETY = (RCD, RCD_LOCKOUT, RCD_SELFTEST, WELDED, CONTACTOR, NO_AC)
_RCDS = (RCD, RCD_LOCKOUT)
_VEHICLE = (B, C)  # module-level tuples: `in` without building a tuple on every tick
_PLUGGED = (B, C, D)
_PILOT_FAULTS = (SHORT, PILOT_FAULT, VENT)

STATES = (
    "no_car",
    "waiting",
    "suspended_ev",
    "suspended_evse",
    "starting",
    "charging",
    "stopping",
    "fault",
)


class Inputs:
    """One sample of every input, filled by the application each tick."""

    def __init__(self):
        self.hi_mv = 12000  # pilot high level
        self.lo_mv = 12000  # pilot low level (about -12 V with PWM on and a diode)
        self.pp_ohm = None  # proximity resistor (socket outlets), None = no cable
        self.rcd = False  # RCD tripped (latched by the IRQ or the input level)
        self.fb = None  # contactor feedback: True closed, None = no such input
        self.ac = None  # AC present downstream of the contactor, None = no AC sense
        self.temp_c = None  # temperature, None = no reading
        self.amps_da = None  # highest phase current (dA), None = no meter


class Evse:
    def __init__(
        self,
        now,
        hw_max_da,
        cable_da=None,
        has_pp=False,
        has_temp=False,
        has_rcd_test=False,
        link_timeout_ms=60000,
        link_policy="fallback",
        fallback_da=60,
        oc_margin_da=20,
        setpoint_da=160,
        enabled=True,
    ):
        self.hw_max = hw_max_da
        self.cable_fixed = hw_max_da if cable_da is None else cable_da
        self.has_pp = has_pp
        self.has_temp = has_temp
        self.has_rcd_test = has_rcd_test
        self.oc_margin = oc_margin_da
        self.setpoint = setpoint_da
        self.enabled = enabled
        self.link = Link(now, link_timeout_ms, link_policy, fallback_da)
        self.ladder = Ladder()
        self.rate = limits.RateLimiter()
        # Outputs. The hardware starts with the pilot at -12 V (F) and the contactor open.
        self.duty = limits.DUTY_F
        self.contactor = False
        self.rcd_test = False
        # Reported state.
        self.pilot = None  # confirmed pilot state
        self.plug = False
        self.fault = None
        self.offered = 0  # advertised current (dA), 0 while no PWM
        self.state = STATES[0]
        self.rcd_count = 0
        self.closes = 0
        self.opens = 0
        # Internals.
        self._raw = None
        self._n = 0
        self._c_at = None
        self._c_stable = False
        self._diode_bad = 0
        self._diode_ok = False
        self._guard_at = None
        self._guard_ms = 0
        self._stop_at = None
        self._oc_at = None
        self._fb_at = None
        self._ac_at = None
        self._retry_at = None
        self._retry_due = False
        self._st = 0
        self._st_at = None
        self._reset = False
        self.pending = False  # a sample waits for its confirmation: next pass in RECHECK_MS

    # Commands (already validated and clamped by the caller).
    def set_enabled(self, on):
        self.enabled = bool(on)

    def set_limit(self, da):
        self.setpoint = da

    def reset_fault(self):
        self._reset = True

    @property
    def reason(self):
        if self.fault is not None:
            return self.fault
        if self.ladder.level == 3:
            return OVER_TEMP
        return NONE

    @property
    def problem(self):
        return self.fault is not None or self.ladder.level == 3

    @property
    def safety(self):
        return self.fault in SAFETY

    def _set_fault(self, now, code):
        f = self.fault
        if f is None or FAULTS.index(code) > FAULTS.index(f):
            self.fault = code
            self._fb_at = self._ac_at = self._oc_at = None
            if code == RCD:
                self._retry_at = now
                self._retry_due = False

    def _clear_fault(self, now):
        self.fault = None
        self._guard_at = now
        self._guard_ms = FAULT_GUARD_MS

    def _open(self, now):
        self.contactor = False
        self.opens += 1
        self._guard_at = now
        self._guard_ms = GUARD_MS
        self._stop_at = None
        self._oc_at = None
        self._diode_ok = False

    def _close(self):
        self.contactor = True
        self.closes += 1
        self._stop_at = None
        self._oc_at = None
        self._st = 0
        self.rcd_test = False

    def _rcd_trip(self, now):
        if self.fault in (RCD, RCD_LOCKOUT) or self.fault in PERMANENT:
            return
        self.rcd_count += 1
        self._set_fault(now, RCD_LOCKOUT if self.rcd_count > RCD_RETRIES else RCD)

    def _selftest(self, now, rcd):
        """RCD self-test through the test winding; True once passed."""
        st = self._st
        if st == 0:
            self.rcd_test = True
            self._st = 1
            self._st_at = now
        elif st == 1:
            if rcd:
                self.rcd_test = False
                self._st = 2
                self._st_at = now
            elif ticks_diff(now, self._st_at) >= SELFTEST_TRIP_MS:
                self._set_fault(now, RCD_SELFTEST)
        elif not rcd:
            return True
        elif ticks_diff(now, self._st_at) >= SELFTEST_CLEAR_MS:
            self._set_fault(now, RCD_SELFTEST)
        return False

    def _abort_selftest(self, now):
        # The test may have left the RCD tripped: ignore it while it recovers (phase 3).
        if self._st in (1, 2):
            self._st = 3
            self._st_at = now
        self.rcd_test = False

    def step(self, now, inp):
        driving_f = self.duty == limits.DUTY_F
        pwm = 0 < self.duty < limits.DUTY_HIGH

        # Pilot: classify (hysteresis), confirm after CONFIRM equal samples.
        raw = pilot.classify(inp.hi_mv, self._raw)
        if raw == self._raw:
            self._n += 1
        else:
            self._raw = raw
            self._n = 1
        if raw == C:
            if self._c_at is None:
                self._c_at = now
            elif not self._c_stable:
                # latched once: a stamp from days ago is never compared after the wrap
                self._c_stable = ticks_diff(now, self._c_at) >= C_STABLE_MS
        else:
            self._c_at = None
            self._c_stable = False
        if self._n >= CONFIRM and raw != self.pilot:
            self.pilot = raw
            if raw == A and not inp.rcd:
                self.rcd_count = 0
        p = self.pilot
        if not driving_f:
            self.plug = p in _PLUGGED

        # Diode: with PWM on and a vehicle present the low level must reach about -12 V.
        if pwm and raw in _VEHICLE:
            if pilot.diode_ok(inp.lo_mv):
                self._diode_bad = 0
                self._diode_ok = True
            else:
                self._diode_bad += 1
                if self._diode_bad >= DIODE_BAD:
                    self._set_fault(now, DIODE)
        else:
            self._diode_bad = 0
            if not self.contactor:
                self._diode_ok = False
        self.pending = (raw != self.pilot and self._n < CONFIRM) or 0 < self._diode_bad < DIODE_BAD

        # Safety inputs.
        if self._st == 3 and (not inp.rcd or ticks_diff(now, self._st_at) >= SELFTEST_CLEAR_MS):
            self._st = 0
        if inp.rcd and self._st == 0:
            self._rcd_trip(now)
        if not driving_f:
            if p == E:
                self._set_fault(now, SHORT)
            elif p == F:
                self._set_fault(now, PILOT_FAULT)
            elif p == D:
                self._set_fault(now, VENT)
        temp = inp.temp_c
        if self.has_temp and temp is None:
            self._set_fault(now, TEMP_SENSOR)
        self.ladder.update(temp)
        amps = inp.amps_da
        if (
            self.contactor
            and self._stop_at is None
            and amps is not None
            and amps > self.offered + self.oc_margin
        ):
            if self._oc_at is None:
                self._oc_at = now
            elif ticks_diff(now, self._oc_at) >= OC_MS:
                self._set_fault(now, OVER_CURRENT)
        else:
            self._oc_at = None
        closed = self.contactor
        if inp.fb is not None and inp.fb != closed:
            if self._fb_at is None:
                self._fb_at = now
            elif ticks_diff(now, self._fb_at) >= CHECK_MS:
                self._set_fault(now, CONTACTOR if closed else WELDED)
        else:
            self._fb_at = None
        if inp.ac is not None and inp.ac != closed:
            if self._ac_at is None:
                self._ac_at = now
            elif ticks_diff(now, self._ac_at) >= CHECK_MS:
                self._set_fault(now, NO_AC if closed else WELDED)
        else:
            self._ac_at = None

        # Faults that clear: RCD retry, condition gone, unplug, reset.
        f = self.fault
        if f is not None:
            if f == RCD and not self._retry_due:
                self._retry_due = ticks_diff(now, self._retry_at) >= RCD_RETRY_MS
            if self._reset:
                if not (inp.rcd and f in _RCDS):
                    self.rcd_count = 0
                    self._clear_fault(now)
            elif f == RCD:
                if self._retry_due and not inp.rcd:
                    self._clear_fault(now)
                elif p == A and not inp.rcd:
                    self.rcd_count = 0
                    self._clear_fault(now)
            elif f == TEMP_SENSOR:
                if temp is not None:
                    self._clear_fault(now)
            elif f in _UNPLUG and ((p == A and not inp.rcd) or (f in _PILOT_FAULTS and p == B)):
                self._clear_fault(now)
        self._reset = False
        if self._guard_at is not None and ticks_diff(now, self._guard_at) >= self._guard_ms:
            self._guard_at = None

        # Advertised current.
        t = self.setpoint if self.enabled else 0
        t = limits.cap(t, self.hw_max)
        t = limits.cap(t, limits.cable_da(inp.pp_ohm) if self.has_pp else self.cable_fixed)
        t = limits.cap(t, self.ladder.cap_da(self.hw_max))
        t = limits.cap(t, self.link.update(now))
        if t < limits.MIN_DA:
            t = 0
        if p in _VEHICLE:
            offered = self.rate.update(now, t)  # starting the PWM counts as a change
        else:
            self.rate.reset()
            offered = 0
        fault = self.fault
        want = fault is None and offered >= limits.MIN_DA and p in _VEHICLE

        # Contactor.
        if self.contactor:
            if fault is not None or p != C:
                self._open(now)
            elif not want:
                if self._stop_at is None:
                    self._stop_at = now
                elif ticks_diff(now, self._stop_at) >= STOP_MS:
                    self._open(now)
            else:
                self._stop_at = None
        elif (
            want
            and p == C
            and self._c_stable
            and self._diode_ok
            and self._guard_at is None
            and (self._st in (1, 2) or (self._st == 0 and not inp.rcd))
        ):
            if not self.has_rcd_test or self._selftest(now, inp.rcd):
                self._close()
        else:
            self._abort_selftest(now)
        if self.fault is not None:
            self._abort_selftest(now)

        # Pilot output.
        fault = self.fault
        if fault in PERMANENT:
            self.duty = limits.DUTY_F
        elif fault is not None or not want or self._stop_at is not None:
            self.duty = limits.DUTY_HIGH
        else:
            self.duty = limits.duty_for(offered)
        self.offered = offered if 0 < self.duty < limits.DUTY_HIGH else 0

        # Reported EVSE state.
        if fault is not None:
            s = 7
        elif self.contactor:
            s = 6 if self._stop_at is not None else 5
        elif p not in _VEHICLE:
            s = 0
        elif not self.enabled:
            s = 1
        elif not want:
            s = 3
        elif p == C:
            s = 4
        else:
            s = 2
        self.state = STATES[s]
