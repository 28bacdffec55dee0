# ruff: noqa: PT009, PT027 - unittest assertions: these modules also run under MicroPython
# The application glue (App.tick, housekeeping, meter results) and the network worker
# (Net.service) with fake hardware, a fake MQTT client and a fake WLAN.
import json
import unittest

import fwsim
from evse import limits
from evse.app import App
from evse.compat import ticks_add
from evse.net import Net
from fwsim import START, Broker, FakeHardware, FakeMQTT, FakeWlan, Store


class Rig:
    def __init__(self, store=None, **cfg):
        self.cfg = fwsim.config(**cfg)
        self.hw = FakeHardware(store=store)
        self.t = 0
        self.now = START
        self.app = App(self.cfg, self.hw, self.now)
        self.broker = Broker()
        self.wlan = FakeWlan()
        self.net = Net(self.app, self.cfg, self.wlan, lambda: FakeMQTT(self.broker))

    def run(self, ms, tick=20, net=True):
        end = self.t + ms
        while self.t < end:
            self.hw.t = self.t
            self.app.tick(self.now)
            if self.t % 1000 == 0:
                self.app.housekeeping(self.now)
            if net and self.t % 60 == 0:
                self.net.service(self.now)
            self.t += tick
            self.now = ticks_add(self.now, tick)

    def send(self, key, payload):
        self.broker.inbound.append((f"ocpp_cp/evse1/{key}/set", payload))

    def state(self):
        return json.loads(self.broker.retained["ocpp_cp/evse1/state"])


class AppTest(unittest.TestCase):
    def test_first_boot_creates_energy_entry_and_uses_defaults(self):
        r = Rig()
        self.assertEqual(r.hw.store.data["wh"], 0)
        self.assertEqual(r.app.evse.setpoint, 160)
        self.assertTrue(r.app.evse.enabled)
        self.assertEqual(r.app.energy.total, 0)

    def test_persisted_settings_and_energy_resume(self):
        r = Rig(store=Store({"wh": 5000, "en": 0, "lim": 100}))
        self.assertEqual(r.app.evse.setpoint, 100)
        self.assertFalse(r.app.evse.enabled)
        self.assertEqual(r.app.energy.reported, 5020)

    def test_out_of_range_persisted_limit_is_ignored(self):
        r = Rig(store=Store({"lim": 999}))
        self.assertEqual(r.app.evse.setpoint, 160)

    def test_session_drives_hardware_and_feeds_watchdog(self):
        r = Rig()
        r.hw.car.state = "B"
        r.run(200, net=False)
        self.assertEqual(r.hw.duty, 267)
        r.hw.car.state = "C"
        r.run(1000, net=False)
        self.assertTrue(r.hw.contactor)
        self.assertEqual(r.hw.feeds, r.app.ticks)
        r.hw.car.state = "B"
        r.run(60, net=False)
        self.assertFalse(r.hw.contactor)
        self.assertTrue(r.app.session_end)
        r.app.energy.add_wh(3)
        r.app.housekeeping(r.now)  # session end forces the save
        self.assertEqual(r.hw.store.data["wh"], 3)

    def test_commands_apply_and_persist(self):
        r = Rig()
        r.app.inbox.append(("limit", 100))
        r.app.inbox.append(("enable", False))
        r.run(20, net=False)
        self.assertEqual(r.app.evse.setpoint, 100)
        self.assertFalse(r.app.evse.enabled)
        r.app.housekeeping(r.now)
        self.assertEqual(r.hw.store.data["lim"], 100)
        self.assertEqual(r.hw.store.data["en"], 0)

    def test_meter_results(self):
        r = Rig()
        r.app.meter_result({"kwh": 10.0, "i1": 15.9, "i2": 16.2, "i3": 0.0, "p": 7400.0})
        r.app.meter_result({"kwh": 10.5, "i1": 15.9, "i2": 16.2, "i3": 0.0, "p": 7400.0})
        self.assertEqual(r.app.energy.total, 500)
        self.assertEqual(r.app.amps_da, 162)
        for _ in range(4):
            r.app.meter_result(None)
        self.assertEqual(r.app.amps_da, 162)  # a few failed reads keep the last values
        r.app.meter_result(None)
        self.assertIsNone(r.app.amps_da)
        self.assertEqual(r.app.meter, {})

    def test_pulses_counted(self):
        r = Rig(meter={"type": "s0", "imp_per_kwh": 1000}, pins={"s0": 4})
        r.hw.pulses = 25
        r.app.housekeeping(r.now)
        self.assertEqual(r.app.energy.total, 25)

    def test_temperature_reaches_the_state_machine(self):
        r = Rig(pins={"ntc_adc": 39})
        r.hw.temp_c = 72.0
        r.run(1100, net=False)
        self.assertEqual(r.app.evse.reason, "over_temp")


class NetTest(unittest.TestCase):
    def test_connect_announce_discover_publish(self):
        r = Rig()
        r.run(100)
        b = r.broker
        self.assertEqual(b.connects, 1)
        self.assertEqual(b.will, ("ocpp_cp/evse1/status", "offline", True))
        self.assertEqual(b.retained["ocpp_cp/evse1/status"], "online")
        self.assertEqual(b.subs, ["ocpp_cp/evse1/+/set", "homeassistant/status"])
        configs = [t for t, p, _ in b.log if t.endswith("/config")]
        self.assertEqual(len(configs), 20)
        self.assertEqual(r.state()["state"], "no_car")
        # the discovery table was loaded to publish and is unloaded again (heap)
        import sys

        import evse

        self.assertFalse("evse.disco" in sys.modules)
        self.assertFalse(hasattr(evse, "disco"))

    def test_command_round_trip_echoes_state(self):
        r = Rig()
        r.run(200)
        r.send("current_limit", "10")
        r.send("charging", "OFF")
        r.run(400)
        doc = r.state()
        self.assertEqual(doc["limit"], 10.0)
        self.assertEqual(doc["enabled"], False)

    def test_invalid_command_is_rejected_and_state_echoed(self):
        r = Rig()
        r.run(500)
        n = r.broker.count("ocpp_cp/evse1/state")
        r.send("current_limit", "lots")
        r.run(300)
        self.assertEqual(r.net.rejected, 1)
        self.assertIn("expects a number", r.net.last_error)
        self.assertEqual(r.broker.count("ocpp_cp/evse1/state"), n + 1)
        self.assertEqual(r.app.evse.setpoint, 160)

    def test_state_published_on_change_and_periodically(self):
        r = Rig()
        r.run(1000)
        n = r.broker.count("ocpp_cp/evse1/state")
        r.hw.car.state = "B"
        r.run(300)
        self.assertEqual(r.broker.count("ocpp_cp/evse1/state"), n + 1)
        self.assertEqual(r.state()["state"], "suspended_ev")
        self.assertEqual(r.state()["offered"], 16.0)
        r.run(10000)
        self.assertEqual(r.broker.count("ocpp_cp/evse1/state"), n + 2)

    def test_ha_birth_republishes_and_offline_starts_the_link_timer(self):
        r = Rig(link={"timeout_s": 30, "policy": "pause"})
        r.run(200)
        before = len([1 for t, _, _ in r.broker.log if t.endswith("/config")])
        r.broker.inbound.append(("homeassistant/status", "online"))
        r.run(200)
        after = len([1 for t, _, _ in r.broker.log if t.endswith("/config")])
        self.assertEqual(after, 2 * before)
        r.broker.inbound.append(("homeassistant/status", "offline"))
        r.run(29000)
        self.assertTrue(r.app.evse.link.ok)
        r.run(1200)
        self.assertFalse(r.app.evse.link.ok)
        self.assertEqual(r.state()["link"], False)

    def test_heartbeat_keeps_link(self):
        r = Rig(link={"timeout_s": 10})
        for _ in range(5):
            r.send("heartbeat", "")
            r.run(5000)
        self.assertTrue(r.app.evse.link.ok)
        r.run(11000)
        self.assertFalse(r.app.evse.link.ok)

    def test_reconnect_with_backoff_after_failures(self):
        r = Rig()
        r.broker.fail_connect = 2
        r.run(100)
        self.assertEqual(r.broker.connects, 0)
        self.assertEqual(r.net.failures, 1)
        r.run(2100)  # first retry after 2 s fails again
        self.assertEqual(r.net.failures, 2)
        r.run(4000)  # the next one waits 5 s
        self.assertEqual(r.broker.connects, 0)
        r.run(1500)
        self.assertEqual(r.broker.connects, 1)
        r.broker.fail_publish = 1  # the connection breaks while publishing
        r.hw.car.state = "B"
        r.run(300)
        self.assertIsNone(r.net.client)
        r.run(2500)
        self.assertEqual(r.broker.connects, 2)
        self.assertEqual(r.state()["state"], "suspended_ev")

    def test_wifi_down_retries_wifi_only(self):
        r = Rig()
        r.wlan.up = False
        r.run(25000)
        self.assertEqual(r.broker.connects, 0)
        self.assertEqual(r.wlan.connect_calls, 2)
        r.wlan.up = True
        r.run(200)
        self.assertEqual(r.broker.connects, 1)

    def test_ping_when_idle(self):
        r = Rig(mqtt={"keepalive_s": 10, "state_interval_s": 60})
        r.run(100)
        r.run(6000)
        self.assertTrue(r.broker.pings >= 1)

    def test_network_errors_never_reach_the_safety_loop(self):
        r = Rig()
        r.hw.car.state = "B"
        r.run(200)
        r.hw.car.state = "C"
        r.broker.fail_publish = 100
        r.run(1000)
        self.assertTrue(r.app.evse.contactor)
        self.assertEqual(r.hw.duty, limits.duty_for(160))
