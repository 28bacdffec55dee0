# ruff: noqa: PT009, PT027 - unittest assertions: these modules also run under MicroPython
# evse.hardware against a fake `machine` module.
import sys
import unittest

import fake_machine
import fwsim

_PATH = "/tmp/evse_store_test.json"


def load_hardware():
    sys.modules["machine"] = fake_machine
    sys.modules.pop("evse.hardware", None)
    from evse import hardware

    return hardware


class HardwareTest(unittest.TestCase):
    def setUp(self):
        fake_machine.reset_all()
        self.hw_mod = load_hardware()
        self.cfg = fwsim.config(
            meter={"type": "sdm630"},
            pins={
                "uart_tx": 17,
                "uart_rx": 16,
                "ntc_adc": 39,
                "s0": 4,
                "ac_sense": 34,
                "rcd_test": 25,
            },
        )
        self.level = [12000]
        p12, n12 = 3000000, 300000
        self.phase = [0]

        def pilot_uv():
            # alternate between the high level and -12 V, like a PWM signal
            self.phase[0] += 1
            mv = self.level[0] if self.phase[0] % 3 else -12000
            return n12 + (mv + 12000) * (p12 - n12) // 24000

        fake_machine.ADC.SOURCES[36] = pilot_uv
        fake_machine.ADC.SOURCES[39] = lambda: 1650000
        self.store = fwsim.Store()
        self.hw = self.hw_mod.Hardware(self.cfg, store=self.store)
        self.pins = fake_machine.PINS

    def tearDown(self):
        sys.modules.pop("machine", None)
        sys.modules.pop("evse.hardware", None)

    def test_safe_state_at_construction(self):
        self.assertEqual(self.pins[26].history[0], 0)  # contactor driven low first
        self.assertEqual(self.pins[26].mode, fake_machine.Pin.OUT)
        self.assertEqual(self.hw._pwm.duties[-1], 0)  # pilot at -12 V (F)
        self.assertEqual(self.pins[25].level, 0)  # RCD test winding off

    def test_inverted_pilot_stage(self):
        fake_machine.reset_all()
        fake_machine.ADC.SOURCES[36] = lambda: 0
        cfg = fwsim.config(pilot={"invert": True})
        hw = self.hw_mod.Hardware(cfg, store=fwsim.Store())
        self.assertEqual(hw._pwm.duties[-1], 65535)
        hw.write(1000, False, False)
        self.assertEqual(hw._pwm.duties[-1], 0)

    def test_write_and_safe(self):
        hw = self.hw
        hw.write(267, True, False)
        self.assertEqual(hw._pwm.duties[-1], 267 * 65535 // 1000)
        self.assertEqual(self.pins[26].level, 1)
        n = len(hw._pwm.duties)
        hw.write(267, True, False)
        self.assertEqual(len(hw._pwm.duties), n)  # unchanged duty is not rewritten
        hw.safe()
        self.assertEqual(self.pins[26].level, 0)
        self.assertEqual(hw._pwm.duties[-1], 0)

    def test_pilot_sampling_min_max(self):
        self.level[0] = 6000
        hi, lo = self.hw.sample_pilot()
        self.assertTrue(abs(hi - 6000) <= 1, hi)
        self.assertTrue(abs(lo + 12000) <= 1, lo)

    def test_rcd_irq_only_records(self):
        hw = self.hw
        inp = fwsim.Inputs()
        self.pins[35].fire()  # a short pulse: gone again before the next tick
        hw.read(inp)
        self.assertTrue(inp.rcd)
        hw.read(inp)
        self.assertFalse(inp.rcd)
        self.pins[35].level = 1  # a standing trip
        hw.read(inp)
        self.assertTrue(inp.rcd)

    def test_ac_sense_and_pulses(self):
        hw = self.hw
        inp = fwsim.Inputs()
        hw.read(inp)
        self.assertFalse(inp.ac)
        self.pins[34].fire()
        hw.read(inp)
        self.assertTrue(inp.ac)
        for _ in range(3):
            self.pins[4].fire()
        self.assertEqual(hw.take_pulses(), 3)
        self.assertEqual(hw.take_pulses(), 0)
        self.assertEqual(fake_machine.IRQ_STATE[0], 0)

    def test_temperature(self):
        self.assertAlmostEqual(self.hw.read_temp(), 25.0, places=2)

    def test_uart_and_watchdog(self):
        hw = self.hw
        uart = fake_machine.UARTS[0]
        self.assertEqual(uart.baudrate, 9600)
        hw.uart_send(b"\x01\x04")
        self.assertEqual(uart.written, [b"\x01\x04"])
        uart.rx = b"\x01\x04\x00"
        self.assertEqual(hw.uart_recv(), b"\x01\x04\x00")
        self.assertEqual(hw.uart_recv(), b"")
        hw.feed()  # no watchdog yet: nothing to feed
        hw.start_wdt(5000)
        hw.start_wdt(6000)  # started once only
        hw.feed()
        self.assertEqual(len(fake_machine.WDTS), 1)
        self.assertEqual(fake_machine.WDTS[0].timeout, 5000)
        self.assertEqual(fake_machine.WDTS[0].feeds, 1)

    def test_file_store_fallback(self):
        st = self.hw_mod.Store(path=_PATH)
        st.set("wh", 1234)
        again = self.hw_mod.Store(path=_PATH)
        self.assertEqual(again.get("wh"), 1234)
        self.assertIsNone(again.get("nope"))
        import os

        os.remove(_PATH)
