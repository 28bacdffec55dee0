# ruff: noqa: PT009, PT027 - unittest assertions: these modules also run under MicroPython
import unittest

from evse import pilot
from evse.pilot import A, B, C, D, E, F


class ClassifyTest(unittest.TestCase):
    def test_nominal_levels(self):
        for mv, s in ((12000, A), (9000, B), (6000, C), (3000, D), (0, E), (-12000, F)):
            self.assertEqual(pilot.classify(mv), s)

    def test_midpoint_thresholds(self):
        self.assertEqual(pilot.classify(10500), A)
        self.assertEqual(pilot.classify(10499), B)
        self.assertEqual(pilot.classify(7500), B)
        self.assertEqual(pilot.classify(7499), C)
        self.assertEqual(pilot.classify(4500), C)
        self.assertEqual(pilot.classify(4499), D)
        self.assertEqual(pilot.classify(1500), D)
        self.assertEqual(pilot.classify(1499), E)
        self.assertEqual(pilot.classify(-10500), E)
        self.assertEqual(pilot.classify(-10501), F)

    def test_hysteresis_holds_previous_state_near_a_threshold(self):
        # B at 7.3 V stays B (within 400 mV of the 7.5 V threshold) ...
        self.assertEqual(pilot.classify(7300, B), B)
        self.assertEqual(pilot.classify(7300, None), C)
        # ... and C at 7.8 V stays C.
        self.assertEqual(pilot.classify(7800, C), C)
        self.assertEqual(pilot.classify(7800, None), B)
        # Beyond the hysteresis band the new state wins.
        self.assertEqual(pilot.classify(7000, B), C)
        self.assertEqual(pilot.classify(8000, C), B)

    def test_large_jump_ignores_previous_state(self):
        self.assertEqual(pilot.classify(0, C), E)
        self.assertEqual(pilot.classify(12000, C), A)

    def test_diode(self):
        self.assertTrue(pilot.diode_ok(-12000))
        self.assertTrue(pilot.diode_ok(-10500))
        self.assertFalse(pilot.diode_ok(-8800))  # vehicle resistor, no diode (state B)
        self.assertFalse(pilot.diode_ok(-4800))  # state C without diode

    def test_adc_calibration(self):
        p12, n12 = 3000000, 300000
        self.assertEqual(pilot.to_mv(p12, p12, n12), 12000)
        self.assertEqual(pilot.to_mv(n12, p12, n12), -12000)
        self.assertEqual(pilot.to_mv((p12 + n12) // 2, p12, n12), 0)
        self.assertEqual(pilot.to_mv(1, 5, 5), 0)
