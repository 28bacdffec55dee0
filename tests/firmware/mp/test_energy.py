# ruff: noqa: PT009, PT027 - unittest assertions: these modules also run under MicroPython
import unittest

from evse.compat import ticks_add
from evse.energy import SAVE_MS, STEP_WH, Energy

T0 = (1 << 30) - 5000


def at(ms):
    return ticks_add(T0, ms)


class EnergyTest(unittest.TestCase):
    def test_register_deltas_and_rebaseline(self):
        en = Energy()
        en.feed_register(1000)  # first reading: baseline only
        self.assertEqual(en.total, 0)
        en.feed_register(1500)
        self.assertEqual(en.total, 500)
        en.feed_register(200)  # meter replaced: new baseline, no drop
        self.assertEqual(en.total, 500)
        en.feed_register(260)
        self.assertEqual(en.total, 560)
        en.feed_register(None)
        self.assertEqual(en.total, 560)

    def test_pulses_keep_the_remainder(self):
        en = Energy()
        for _ in range(3):
            en.feed_pulses(1, 800)  # 1.25 Wh each
        self.assertEqual(en.total, 3)
        en.feed_pulses(1, 800)
        self.assertEqual(en.total, 5)

    def test_resume_adds_the_unsaved_margin(self):
        en = Energy(12345, resumed=True)
        self.assertEqual(en.total, 12345 + STEP_WH)
        self.assertEqual(en.saved, 12345)
        self.assertTrue(en.due(T0))  # the margin is written at once

    def test_reported_never_runs_ahead_of_store_plus_step(self):
        en = Energy(1000, resumed=True)
        en.mark_saved(T0)
        en.add_wh(500)
        self.assertEqual(en.reported, en.saved + STEP_WH)
        self.assertFalse(en.due(at(100)))
        self.assertTrue(en.due(at(SAVE_MS)))
        en.mark_saved(at(SAVE_MS))
        self.assertEqual(en.reported, en.total)

    def test_monotonic_across_power_loss(self):
        # Whatever was reported before the loss, the value after reboot is not lower.
        en = Energy(0, resumed=False)
        t = T0
        reported = 0
        store = 0
        for i in range(300):
            en.add_wh(7)
            t = ticks_add(t, 1000)
            if en.due(t):
                store = en.total
                en.mark_saved(t, store)
            reported = max(reported, en.reported)
            again = Energy(store, resumed=True)
            self.assertTrue(again.reported >= reported, (i, again.reported, reported))

    def test_force_saves_small_amounts(self):
        en = Energy(100, resumed=True)
        en.mark_saved(T0)
        en.add_wh(1)
        self.assertFalse(en.due(at(10)))
        self.assertTrue(en.due(at(10), force=True))

    def test_nothing_to_save(self):
        en = Energy()
        self.assertFalse(en.due(T0, force=True))
