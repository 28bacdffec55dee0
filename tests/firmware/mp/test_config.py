# ruff: noqa: PT009, PT027 - unittest assertions: these modules also run under MicroPython
import json
import unittest

import fwsim
from evse import config
from evse.config import ConfigError


def base():
    return {
        "node_id": "evse1",
        "wifi": {"ssid": "home"},
        "mqtt": {"host": "broker.lan"},
        "pins": {"pilot_pwm": 27, "pilot_adc": 36, "contactor": 26, "rcd": 35},
    }


def problems(data):
    try:
        config.validate(data)
    except ConfigError as e:
        return str(e)
    return ""


class ConfigTest(unittest.TestCase):
    def test_minimal_config_gets_defaults(self):
        cfg = config.validate(base())
        self.assertEqual(cfg["mqtt"]["port"], 1883)
        self.assertEqual(cfg["mqtt"]["base"], "ocpp_cp/evse1")
        self.assertEqual(cfg["mqtt"]["client_id"], "evse-evse1")
        self.assertEqual(cfg["limits"]["cable_current_a"], cfg["limits"]["max_current_a"])
        self.assertEqual(cfg["link"]["timeout_s"], 60)
        self.assertEqual(cfg["link"]["policy"], "fallback")
        self.assertEqual(cfg["tick_ms"], 20)

    def test_example_file_is_valid(self):
        cfg = config.loads(fwsim.example_config_text())
        self.assertEqual(cfg["node_id"], "garage")
        self.assertEqual(cfg["meter"]["type"], "sdm630")

    def test_missing_required(self):
        d = base()
        del d["wifi"]["ssid"]
        del d["pins"]["rcd"]
        msg = problems(d)
        self.assertIn("wifi.ssid is required", msg)
        self.assertIn("pins.rcd is required", msg)

    def test_unknown_key_is_refused(self):
        d = base()
        d["mqtt"]["prot"] = 1883
        self.assertIn("mqtt.prot is not a known setting", problems(d))

    def test_types_and_ranges(self):
        d = base()
        d["mqtt"]["port"] = "1883"
        d["limits"] = {"max_current_a": 100}
        d["link"] = {"policy": "ignore"}
        d["pilot"] = {"invert": 1}
        msg = problems(d)
        self.assertIn("mqtt.port must be an integer from 1 to 65535 (got '1883')", msg)
        self.assertIn("limits.max_current_a must be a number from 6 to 80 (got 100)", msg)
        self.assertIn("link.policy must be one of fallback, pause (got 'ignore')", msg)
        self.assertIn("pilot.invert must be true or false (got 1)", msg)

    def test_bool_is_not_a_number(self):
        d = base()
        d["limits"] = {"max_current_a": True}
        self.assertIn("limits.max_current_a must be a number", problems(d))

    def test_cross_field_rules(self):
        d = base()
        d["limits"] = {"max_current_a": 16, "default_current_a": 20}
        d["link"] = {"fallback_a": 20}
        d["pilot"] = {"p12_uv": 100, "n12_uv": 200}
        d["meter"] = {"type": "sdm630"}
        d["node_id"] = "Bad-Id"
        d["mqtt"]["base"] = "evse/#"
        msg = problems(d)
        self.assertIn("limits.default_current_a must be 0 or 6 to max_current_a 16", msg)
        self.assertIn("link.fallback_a must not exceed limits.max_current_a 16", msg)
        self.assertIn("pilot.p12_uv must be above pilot.n12_uv", msg)
        self.assertIn("meter.type sdm630 needs pins.uart_tx and pins.uart_rx", msg)
        self.assertIn("node_id may only hold a-z, 0-9 and _", msg)
        self.assertIn("mqtt.base must be a topic without wildcards", msg)

    def test_pin_rules(self):
        d = base()
        d["pins"] = {
            "pilot_pwm": 36,
            "pilot_adc": 4,
            "contactor": 12,
            "rcd": 7,
            "led": 27,
            "ntc_adc": 27,
        }
        msg = problems(d)
        self.assertIn("pins.pilot_pwm: GPIO 36 is input-only", msg)
        self.assertIn("pins.pilot_adc: GPIO 4 is not on ADC1", msg)
        self.assertIn("pins.contactor: GPIO 12 is a strapping pin", msg)
        self.assertIn("pins.rcd: GPIO 7 is not usable on an ESP32", msg)
        self.assertIn("is already used by pins.", msg)

    def test_other_chip_skips_esp32_pin_rules(self):
        d = base()
        d["chip"] = "other"
        d["pins"]["pilot_adc"] = 4
        config.validate(d)

    def test_loads_reports_bad_json(self):
        with self.assertRaises(ConfigError) as cm:
            config.loads("{not json")
        self.assertIn("not valid JSON", str(cm.exception))
        self.assertEqual(config.loads(json.dumps(base()))["node_id"], "evse1")

    def test_not_an_object(self):
        self.assertIn("config must be an object", problems([1, 2]))
        d = base()
        d["wifi"] = "home"
        self.assertIn("wifi must be an object", problems(d))
