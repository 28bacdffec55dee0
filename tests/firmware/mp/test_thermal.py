# ruff: noqa: PT009, PT027 - unittest assertions: these modules also run under MicroPython
import unittest

from evse import thermal
from evse.thermal import Ladder


class NtcTest(unittest.TestCase):
    def test_25_c_at_r0(self):
        t = thermal.ntc_c(1650000, 3300000, 10000, 10000, 3950)
        self.assertAlmostEqual(t, 25.0, places=3)

    def test_hotter_means_lower_voltage(self):
        hot = thermal.ntc_c(1000000, 3300000, 10000)
        cold = thermal.ntc_c(2500000, 3300000, 10000)
        self.assertTrue(hot > 25 > cold)
        # 10k NTC, B 3950, at R = 4.3478 kOhm: 45.0 C
        self.assertAlmostEqual(hot, 45.0, delta=0.05)

    def test_open_or_short_is_none(self):
        self.assertIsNone(thermal.ntc_c(0, 3300000, 10000))
        self.assertIsNone(thermal.ntc_c(3300000, 3300000, 10000))
        self.assertIsNone(thermal.ntc_c(3299000, 3300000, 10000))


class LadderTest(unittest.TestCase):
    def test_ladder_up(self):
        lad = Ladder()
        self.assertEqual(lad.update(60), 0)
        self.assertIsNone(lad.cap_da(320))
        self.assertEqual(lad.update(65), 1)
        self.assertEqual(lad.cap_da(320), 160)
        self.assertEqual(lad.update(68), 2)
        self.assertEqual(lad.cap_da(320), 80)
        self.assertEqual(lad.update(71), 3)
        self.assertEqual(lad.cap_da(320), 0)

    def test_quarter_is_at_least_6_a(self):
        lad = Ladder()
        lad.update(69)
        self.assertEqual(lad.cap_da(160), 60)

    def test_restore_only_at_62_c(self):
        lad = Ladder()
        lad.update(72)
        for t in (70, 66, 63):
            self.assertEqual(lad.update(t), 3)
        self.assertEqual(lad.update(62), 0)

    def test_none_keeps_level(self):
        lad = Ladder()
        lad.update(66)
        self.assertEqual(lad.update(None), 1)
