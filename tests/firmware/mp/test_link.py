# ruff: noqa: PT009, PT027 - unittest assertions: these modules also run under MicroPython
import unittest

from evse.compat import ticks_add
from evse.link import Link

T0 = (1 << 30) - 30000  # the ticks wrap during every test


def at(ms):
    return ticks_add(T0, ms)


class LinkTest(unittest.TestCase):
    def test_lost_after_timeout_from_boot(self):
        lk = Link(T0, 60000, "fallback", 60)
        self.assertIsNone(lk.update(at(59999)))
        self.assertEqual(lk.update(at(60000)), 60)
        self.assertFalse(lk.ok)

    def test_heartbeat_keeps_it_alive_and_restores(self):
        lk = Link(T0, 60000, "fallback", 100)
        lk.heartbeat(at(50000))
        self.assertIsNone(lk.update(at(100000)))
        self.assertEqual(lk.update(at(110000)), 100)
        lk.heartbeat(at(120000))
        self.assertIsNone(lk.update(at(120000)))
        self.assertTrue(lk.ok)

    def test_pause_policy(self):
        lk = Link(T0, 10000, "pause")
        self.assertEqual(lk.update(at(10000)), 0)

    def test_ha_offline_counts_from_the_message(self):
        lk = Link(T0, 60000, "pause")
        lk.heartbeat(at(1000))
        lk.ha_status(False, at(30000))
        self.assertIsNone(lk.update(at(89999)))
        self.assertEqual(lk.update(at(90000)), 0)
        lk.ha_status(True, at(95000))
        self.assertIsNone(lk.update(at(95000)))
