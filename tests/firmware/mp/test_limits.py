# ruff: noqa: PT009, PT027 - unittest assertions: these modules also run under MicroPython
import unittest

from evse import limits
from evse.compat import ticks_add
from evse.limits import DUTY_HIGH, RateLimiter

START = (1 << 30) - 3000


def at(ms):
    return ticks_add(START, ms)


class DutyTest(unittest.TestCase):
    def test_reference_points(self):
        # 6 A = 10 %, 16 A = 26.7 %, 32 A = 53.3 %, 51 A = 85 %, 80 A = 96 %.
        for da, duty in ((60, 100), (160, 267), (320, 533), (510, 850), (800, 960)):
            self.assertEqual(limits.duty_for(da), duty)
        self.assertEqual(limits.duty_for(630), 892)  # 63 A / 2.5 + 64 = 89.2 %

    def test_below_6_a_has_no_duty(self):
        for da in (0, 10, 59):
            self.assertEqual(limits.duty_for(da), DUTY_HIGH)

    def test_above_80_a_is_clamped(self):
        self.assertEqual(limits.duty_for(1000), 960)

    def test_between_51_and_52_5_a_advertises_51_a(self):
        for da in (511, 520, 524):
            self.assertEqual(limits.duty_for(da), 850)

    def test_monotonic_and_never_over_advertises(self):
        last = 0
        for da in range(60, 801):
            d = limits.duty_for(da)
            self.assertTrue(d >= last, da)
            last = d
            # what the vehicle reads back is never more than asked for (+0.1 A rounding)
            self.assertTrue(limits.amps_for(d) <= da + 1, (da, d, limits.amps_for(d)))

    def test_amps_for_duty(self):
        self.assertEqual(limits.amps_for(100), 60)
        self.assertEqual(limits.amps_for(850), 510)
        self.assertEqual(limits.amps_for(960), 800)
        self.assertEqual(limits.amps_for(90), 60)
        self.assertEqual(limits.amps_for(50), 0)  # 5 %: digital communication only
        self.assertEqual(limits.amps_for(1000), 0)
        self.assertEqual(limits.amps_for(0), 0)


class CableTest(unittest.TestCase):
    def test_nominal_resistors(self):
        for ohm, da in ((1500, 130), (680, 200), (220, 320), (100, 630)):
            self.assertEqual(limits.cable_da(ohm), da)

    def test_invalid(self):
        self.assertEqual(limits.cable_da(None), 0)
        self.assertEqual(limits.cable_da(10), 0)
        self.assertEqual(limits.cable_da(5000), 0)

    def test_pp_divider(self):
        # 1 kOhm pull-up to 3.3 V, 680 Ohm to PE: 3.3 * 680 / 1680 = 1.3357 V
        self.assertEqual(limits.pp_ohm(1335714, 3300000, 1000), 679)
        self.assertIsNone(limits.pp_ohm(3300000, 3300000, 1000))
        self.assertEqual(limits.pp_ohm(0, 3300000, 1000), 0)

    def test_cap(self):
        self.assertEqual(limits.cap(None, 5), 5)
        self.assertEqual(limits.cap(5, None), 5)
        self.assertEqual(limits.cap(7, 5), 5)
        self.assertIsNone(limits.cap(None, None))


class RateLimiterTest(unittest.TestCase):
    def test_first_value_and_stop_pass_at_once(self):
        r = RateLimiter()
        self.assertEqual(r.update(START, 160), 160)
        self.assertEqual(r.update(at(100), 0), 0)
        self.assertEqual(r.update(at(200), 100), 100)

    def test_changes_at_most_every_5_s(self):
        r = RateLimiter()
        r.update(START, 160)
        self.assertEqual(r.update(at(1000), 100), 160)
        self.assertEqual(r.update(at(4999), 100), 160)
        self.assertEqual(r.update(at(5000), 100), 100)  # crosses the ticks wrap
        self.assertEqual(r.update(at(6000), 200), 100)
        self.assertEqual(r.update(at(10000), 200), 200)

    def test_idle_limiter_changes_at_once(self):
        r = RateLimiter()
        r.update(START, 160)
        r.update(at(6000), 160)  # window expired
        self.assertEqual(r.update(at(6020), 100), 100)

    def test_stale_stamp_is_dropped(self):
        # A change long ago must not block a change after the ticks wrap around.
        r = RateLimiter()
        r.update(0, 160)
        r.update(6000, 160)
        far = (1 << 30) - 100  # ticks_diff(far, 0) would look negative
        self.assertEqual(r.update(far, 100), 100)
