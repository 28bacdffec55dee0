# ruff: noqa: PT009, PT027 - unittest assertions: these modules also run under MicroPython
# Unit tests of the Evse state machine, one behaviour at a time (scenarios: test_scenarios).
import unittest

from evse import control, limits
from evse.control import Evse, Inputs
from fwsim import START, Sim


def charging(**kw):
    sim = Sim(**kw)
    sim.plug_and_charge()
    assert sim.evse.contactor, sim.events
    return sim


class BootTest(unittest.TestCase):
    def test_outputs_at_construction(self):
        e = Evse(START, hw_max_da=320)
        self.assertFalse(e.contactor)
        self.assertEqual(e.duty, limits.DUTY_F)
        self.assertIsNone(e.pilot)

    def test_idle_without_vehicle(self):
        sim = Sim()
        sim.run(200)
        e = sim.evse
        self.assertEqual(e.pilot, "A")
        self.assertEqual(e.duty, limits.DUTY_HIGH)
        self.assertEqual(e.state, "no_car")
        self.assertFalse(e.plug)
        self.assertIsNone(e.fault)

    def test_first_sample_under_own_f_is_not_a_fault(self):
        e = Evse(START, hw_max_da=320)
        inp = Inputs()
        inp.hi_mv = inp.lo_mv = -12000  # our own -12 V
        e.step(START, inp)
        self.assertIsNone(e.fault)


class PilotTest(unittest.TestCase):
    def test_pwm_only_with_vehicle_and_offer(self):
        sim = Sim(setpoint_da=160)
        sim.car.state = "B"
        sim.run(100)
        e = sim.evse
        self.assertEqual(e.pilot, "B")
        self.assertEqual(e.duty, 267)
        self.assertEqual(e.offered, 160)
        self.assertEqual(e.state, "suspended_ev")
        self.assertTrue(e.plug)

    def test_single_glitch_sample_is_ignored(self):
        sim = charging()
        sim.car.state = "B"
        sim.tick()
        sim.car.state = "C"
        sim.run(200)
        self.assertTrue(sim.evse.contactor)

    def test_disabled_shows_waiting_without_pwm(self):
        sim = Sim(enabled=False)
        sim.car.state = "C"
        sim.run(2000)
        e = sim.evse
        self.assertEqual(e.state, "waiting")
        self.assertEqual(e.duty, limits.DUTY_HIGH)
        self.assertFalse(e.contactor)

    def test_limit_below_6_a_pauses(self):
        sim = Sim(setpoint_da=0)
        sim.car.state = "C"
        sim.run(2000)
        self.assertEqual(sim.evse.state, "suspended_evse")
        self.assertFalse(sim.evse.contactor)


class AdvertisedCurrentTest(unittest.TestCase):
    def test_min_of_setpoint_hw_cable_thermal_link(self):
        sim = Sim(hw_max_da=320, setpoint_da=400, has_pp=True)
        sim.pp_ohm = 680  # 20 A cable
        sim.car.state = "B"
        sim.run(100)
        self.assertEqual(sim.evse.offered, 200)

    def test_tethered_cable_rating(self):
        sim = Sim(hw_max_da=320, setpoint_da=320, cable_da=250)
        sim.car.state = "B"
        sim.run(100)
        self.assertEqual(sim.evse.offered, 250)

    def test_no_cable_in_socket_means_no_offer(self):
        sim = Sim(has_pp=True)
        sim.car.state = "B"
        sim.run(200)
        self.assertEqual(sim.evse.offered, 0)
        self.assertEqual(sim.evse.duty, limits.DUTY_HIGH)

    def test_thermal_cap(self):
        sim = Sim(hw_max_da=320, setpoint_da=320, has_temp=True)
        sim.temp_c = 66
        sim.car.state = "B"
        sim.run(100)
        self.assertEqual(sim.evse.offered, 160)

    def test_temperature_sensor_failure_is_a_fault(self):
        sim = Sim(has_temp=True)
        sim.temp_c = None
        sim.car.state = "B"
        sim.run(100)
        self.assertEqual(sim.evse.fault, control.TEMP_SENSOR)
        sim.temp_c = 30
        sim.run(100)
        self.assertIsNone(sim.evse.fault)


class FaultPolicyTest(unittest.TestCase):
    def test_priority(self):
        sim = Sim()
        e = sim.evse
        e._set_fault(sim.now, control.DIODE)
        e._set_fault(sim.now, control.SHORT)  # lower: ignored
        self.assertEqual(e.fault, control.DIODE)
        e._set_fault(sim.now, control.WELDED)
        self.assertEqual(e.fault, control.WELDED)

    def test_permanent_faults_drive_f_and_need_reset(self):
        sim = Sim()
        sim.car.state = "B"
        sim.run(100)
        sim.evse._set_fault(sim.now, control.CONTACTOR)
        sim.run(100)
        self.assertEqual(sim.evse.duty, limits.DUTY_F)
        sim.car.state = "A"
        sim.run(1000)
        self.assertEqual(sim.evse.fault, control.CONTACTOR)  # unplug does not clear it
        sim.evse.reset_fault()
        sim.run(100)
        self.assertIsNone(sim.evse.fault)
        self.assertEqual(sim.evse.duty, limits.DUTY_HIGH)

    def test_reset_does_not_clear_a_tripped_rcd(self):
        sim = charging()
        sim.rcd = True
        sim.run(100)
        sim.evse.reset_fault()
        sim.run(100)
        self.assertEqual(sim.evse.fault, control.RCD)
        sim.rcd = False
        sim.evse.reset_fault()
        sim.run(100)
        self.assertIsNone(sim.evse.fault)
        self.assertEqual(sim.evse.rcd_count, 0)

    def test_reason_problem_safety(self):
        sim = Sim(has_temp=True)
        sim.temp_c = 72
        sim.run(100)
        e = sim.evse
        self.assertEqual(e.reason, control.OVER_TEMP)
        self.assertTrue(e.problem)
        self.assertFalse(e.safety)
        e._set_fault(sim.now, control.RCD)
        self.assertEqual(e.reason, control.RCD)
        self.assertTrue(e.safety)

    def test_every_fault_code_is_reported_as_a_reason(self):
        for f in control.FAULTS:
            self.assertIn(f, control.REASONS)


class WrapTest(unittest.TestCase):
    def test_charging_across_the_ticks_wrap(self):
        sim = Sim()
        sim.plug_and_charge(ms=20000)  # START is 15 s before the wrap
        self.assertTrue(sim.evse.contactor)
        self.assertTrue(sim.now < START)  # wrapped
        sim.car.state = "B"
        sim.run(100)
        self.assertFalse(sim.evse.contactor)

    def test_vehicle_waiting_in_c_for_days_still_closes(self):
        # A vehicle that stays in C (C1) while charging is off, for longer than the ticks
        # wrap-around: once enabled it must still close within the usual time.
        sim = Sim(enabled=False)
        sim.car.state = "C"
        sim.run(1000)
        sim.tick_ms = 60000
        sim.run(7 * 24 * 3600 * 1000)  # 7 days, more than half the 2**30 ms period
        sim.tick_ms = 20
        sim.evse.set_enabled(True)
        t_on = sim.t
        t_close = sim.run_until(lambda: sim.evse.contactor, 3000)
        self.assertIsNotNone(t_close)
        self.assertTrue(t_close - t_on <= 100, t_close - t_on)
