# ruff: noqa: PT009, PT027 - unittest assertions: these modules also run under MicroPython
import json
import unittest

import fwsim
from evse import disco, ha
from evse.control import REASONS, STATES, Evse


def msgs(cfg):
    return list(ha.discovery(cfg))


class DiscoveryTest(unittest.TestCase):
    def setUp(self):
        self.cfg = fwsim.config(
            meter={"type": "sdm630"},
            pins={"uart_tx": 17, "uart_rx": 16, "ntc_adc": 39},
        )

    def test_every_message_is_retained_json_with_required_fields(self):
        for topic, payload, retain in msgs(self.cfg):
            self.assertTrue(retain)
            self.assertTrue(topic.startswith("homeassistant/"), topic)
            self.assertTrue(topic.endswith("/config"), topic)
            doc = json.loads(payload)
            comp = topic.split("/")[1]
            key = topic.split("/")[3]
            self.assertEqual(doc["uniq_id"], "evse1_" + key)
            self.assertEqual(doc["def_ent_id"], f"{comp}.evse1_{key}")
            self.assertFalse("obj_id" in doc)
            self.assertFalse("object_id" in doc)
            self.assertEqual(doc["~"], "ocpp_cp/evse1")
            self.assertEqual(doc["avty_t"], "~/status")
            self.assertEqual(doc["dev"]["mf"], "ocpp_cp")
            self.assertEqual(doc["dev"]["mdl"], "MicroPython EVSE")
            self.assertEqual(doc["dev"]["ids"], ["ocpp_cp_fw_evse1"])
            self.assertEqual(doc["o"]["name"], "ocpp_cp firmware")
            if comp in ("sensor", "binary_sensor"):
                self.assertEqual(doc["exp_aft"], 60)
                self.assertEqual(doc["stat_t"], "~/state")
            if comp in ("switch", "number", "button"):
                self.assertEqual(doc["cmd_t"], f"~/{key}/set")

    def test_entity_ids_full_hardware(self):
        ids = disco.entity_ids(self.cfg)
        expected = [
            "switch.evse1_charging",
            "number.evse1_current_limit",
            "sensor.evse1_offered_current",
            "sensor.evse1_state",
            "sensor.evse1_pilot",
            "sensor.evse1_fault",
            "binary_sensor.evse1_plug",
            "binary_sensor.evse1_problem",
            "binary_sensor.evse1_safety",
            "binary_sensor.evse1_contactor",
            "button.evse1_reset_fault",
            "sensor.evse1_energy",
            "sensor.evse1_power",
            "sensor.evse1_temperature",
            "sensor.evse1_current_l1",
            "sensor.evse1_voltage_l1",
            "sensor.evse1_current_l2",
            "sensor.evse1_voltage_l2",
            "sensor.evse1_current_l3",
            "sensor.evse1_voltage_l3",
        ]
        self.assertEqual(ids, expected)

    def test_absent_hardware_is_deleted(self):
        cfg = fwsim.config()  # no meter, no NTC
        out = msgs(cfg)
        deleted = [t for t, p, _ in out if p == ""]
        self.assertIn("homeassistant/sensor/evse1/energy/config", deleted)
        self.assertIn("homeassistant/sensor/evse1/temperature/config", deleted)
        self.assertIn("homeassistant/sensor/evse1/current_l3/config", deleted)
        self.assertEqual(len(out), 20)
        self.assertFalse("sensor.evse1_power" in disco.entity_ids(cfg))

    def test_single_phase_meter(self):
        cfg = fwsim.config(meter={"type": "sdm120"}, pins={"uart_tx": 17, "uart_rx": 16})
        ids = disco.entity_ids(cfg)
        self.assertIn("sensor.evse1_current_l1", ids)
        self.assertFalse("sensor.evse1_current_l2" in ids)

    def test_entity_details(self):
        docs = {}
        for topic, payload, _ in msgs(self.cfg):
            if payload:
                docs[topic.split("/")[3]] = json.loads(payload)
        self.assertEqual(docs["energy"]["stat_cla"], "total_increasing")
        self.assertEqual(docs["energy"]["unit_of_meas"], "Wh")
        self.assertEqual(docs["energy"]["dev_cla"], "energy")
        self.assertEqual(docs["power"]["unit_of_meas"], "W")
        self.assertEqual(docs["current_limit"]["min"], 6)
        self.assertEqual(docs["current_limit"]["max"], 32)
        self.assertEqual(docs["current_limit"]["unit_of_meas"], "A")
        self.assertEqual(docs["temperature"]["ent_cat"], "diagnostic")
        self.assertEqual(docs["fault"]["ent_cat"], "diagnostic")
        self.assertEqual(docs["fault"]["ops"], list(REASONS))
        self.assertEqual(docs["state"]["ops"], list(STATES))
        self.assertEqual(docs["pilot"]["ops"], ["A", "B", "C", "D", "E", "F"])
        self.assertEqual(docs["plug"]["dev_cla"], "plug")
        self.assertEqual(docs["problem"]["dev_cla"], "problem")
        self.assertEqual(docs["safety"]["dev_cla"], "safety")
        self.assertFalse("stat_t" in docs["reset_fault"])

    def test_payloads_are_small(self):
        for _, payload, _ in msgs(self.cfg):
            self.assertTrue(len(payload) < 800, len(payload))


class StateTest(unittest.TestCase):
    def test_state_document(self):
        e = Evse(0, hw_max_da=320, setpoint_da=165)
        doc = json.loads(ha.state(e, 1234, {"p": 3680.04, "i1": 16.04, "u1": 230.0}, 41.04))
        self.assertEqual(doc["state"], "no_car")
        self.assertEqual(doc["pilot"], "F")
        self.assertEqual(doc["limit"], 16.5)
        self.assertEqual(doc["offered"], 0)
        self.assertEqual(doc["enabled"], True)
        self.assertEqual(doc["fault"], "none")
        self.assertEqual(doc["wh"], 1234)
        self.assertEqual(doc["p"], 3680.0)
        self.assertEqual(doc["i1"], 16.0)
        self.assertIsNone(doc["i2"])
        self.assertEqual(doc["temp"], 41.0)
        self.assertEqual(doc["link"], True)
        for k in ("plug", "problem", "safety", "contactor"):
            self.assertEqual(doc[k], False)


class ParseTest(unittest.TestCase):
    def setUp(self):
        self.cfg = fwsim.config()

    def p(self, key, payload):
        return ha.parse(self.cfg, f"ocpp_cp/evse1/{key}/set", payload)

    def test_switch(self):
        self.assertEqual(self.p("charging", b"ON"), ("enable", True))
        self.assertEqual(self.p("charging", b"off"), ("enable", False))
        self.assertEqual(self.p("charging", b"1"), ("enable", True))
        self.assertIsNone(self.p("charging", b"maybe")[0])

    def test_limit_validated_and_clamped(self):
        self.assertEqual(self.p("current_limit", b"16"), ("limit", 160))
        self.assertEqual(self.p("current_limit", b"10.55"), ("limit", 106))
        self.assertEqual(self.p("current_limit", b"100"), ("limit", 320))
        self.assertEqual(self.p("current_limit", b"5.9"), ("limit", 0))
        self.assertEqual(self.p("current_limit", b"0"), ("limit", 0))
        for bad in (b"-1", b"abc", b"nan", b"inf", b""):
            self.assertIsNone(self.p("current_limit", bad)[0], bad)

    def test_reset_heartbeat(self):
        self.assertEqual(self.p("reset_fault", b"PRESS"), ("reset", None))
        self.assertEqual(self.p("heartbeat", b""), ("heartbeat", None))
        self.assertEqual(self.p("heartbeat", b"anything"), ("heartbeat", None))

    def test_ha_birth(self):
        self.assertEqual(ha.parse(self.cfg, "homeassistant/status", b"online"), ("ha", True))
        self.assertEqual(ha.parse(self.cfg, "homeassistant/status", b"offline"), ("ha", False))
        self.assertIsNone(ha.parse(self.cfg, "homeassistant/status", b"?")[0])

    def test_unknown(self):
        self.assertIsNone(self.p("self_destruct", b"1")[0])
        self.assertIsNone(ha.parse(self.cfg, "other/topic/set", b"1")[0])
        self.assertIsNone(self.p("charging", b"\xff\xfe")[0])
