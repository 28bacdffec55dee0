# Home Assistant MQTT: discovery messages (one retained config per entity, abbreviated keys),
# the retained JSON state document, and command parsing (validate + clamp).
import json
import math

from evse import VERSION
from evse.control import REASONS, STATES

MANUFACTURER = "ocpp_cp"
MODEL = "MicroPython EVSE"
PILOT_STATES = ("A", "B", "C", "D", "E", "F")

# Command keys: the firmware subscribes to <base>/+/set.
CMD_CHARGING = "charging"
CMD_LIMIT = "current_limit"
CMD_RESET = "reset_fault"
CMD_HEARTBEAT = "heartbeat"
CMD_OTA = "ota"  # JSON, validated by evse.ota (imported only then)


# The entity table, one line each: component, key, name, state field, unit, device class,
# state class, flags. default_entity_id = <component>.<node_id>_<key>, unique_id =
# <node_id>_<key>. Flags: d diagnostic, e needs a meter, m needs a Modbus meter, 3 needs a
# 3-phase meter, t needs the NTC. One string: far less RAM than tuples or dict literals.
ENTITIES = """switch,charging,Charging,enabled,,,,
number,current_limit,Current limit,limit,A,current,,
sensor,offered_current,Offered current,offered,A,current,measurement,
sensor,state,State,state,,enum,,
sensor,pilot,Pilot,pilot,,enum,,d
sensor,fault,Fault reason,fault,,enum,,d
binary_sensor,plug,Plug,plug,,plug,,
binary_sensor,problem,Problem,problem,,problem,,
binary_sensor,safety,Safety,safety,,safety,,
binary_sensor,contactor,Contactor,contactor,,power,,d
button,reset_fault,Reset fault,,,,,
sensor,energy,Energy,wh,Wh,energy,total_increasing,e
sensor,power,Power,p,W,power,measurement,m
sensor,temperature,Temperature,temp,°C,temperature,measurement,td
sensor,current_l1,Current L1,i1,A,current,measurement,m
sensor,voltage_l1,Voltage L1,u1,V,voltage,measurement,m
sensor,current_l2,Current L2,i2,A,current,measurement,3
sensor,voltage_l2,Voltage L2,u2,V,voltage,measurement,3
sensor,current_l3,Current L3,i3,A,current,measurement,3
sensor,voltage_l3,Voltage L3,u3,V,voltage,measurement,3"""


def rows():
    for line in ENTITIES.split("\n"):
        yield line.split(",")


_OPTIONS = {"state": STATES, "pilot": PILOT_STATES, "fault": REASONS}


def _present(cfg, flags):
    meter = cfg["meter"]["type"]
    if "e" in flags and meter == "none":
        return False
    if "m" in flags and meter not in ("sdm120", "sdm630"):
        return False
    if "3" in flags and meter != "sdm630":
        return False
    return not ("t" in flags and cfg["pins"]["ntc_adc"] is None)


def _fields(cfg, comp, key, field, unit, cla, scla, flags, doc):
    if comp in ("switch", "number", "button"):
        doc["cmd_t"] = f"~/{key}/set"
    if comp == "button":
        return doc
    doc["stat_t"] = "~/state"
    if comp in ("switch", "binary_sensor"):
        doc["val_tpl"] = "{{ 'ON' if value_json." + field + " else 'OFF' }}"
    else:
        doc["val_tpl"] = "{{ value_json." + field + " }}"
    if comp in ("sensor", "binary_sensor"):
        exp = 3 * cfg["mqtt"]["state_interval_s"]
        doc["exp_aft"] = exp if exp > 60 else 60
    if unit:
        doc["unit_of_meas"] = unit
    if cla:
        doc["dev_cla"] = cla
    if scla:
        doc["stat_cla"] = scla
    if "d" in flags:
        doc["ent_cat"] = "diagnostic"
    if key in _OPTIONS:
        doc["ops"] = list(_OPTIONS[key])
    if comp == "number":
        doc["min"] = 6
        doc["max"] = cfg["limits"]["max_current_a"]
        doc["step"] = 1
        doc["mode"] = "box"
    if comp == "switch":
        doc["ic"] = "mdi:ev-station"
    return doc


def discovery(cfg):
    """Yield (topic, payload, retain) for every discovery message. Empty payload = delete
    (entities this configuration has no hardware for)."""
    node = cfg["node_id"]
    prefix = cfg["mqtt"]["discovery_prefix"]
    dev = {
        "ids": ["ocpp_cp_fw_" + node],
        "name": cfg["name"],
        "mf": MANUFACTURER,
        "mdl": MODEL,
        "sw": VERSION,
    }
    origin = {"name": "ocpp_cp firmware", "sw": VERSION}
    for comp, key, name, field, unit, cla, scla, flags in rows():
        topic = f"{prefix}/{comp}/{node}/{key}/config"
        if not _present(cfg, flags):
            yield topic, "", True
            continue
        doc = {
            "~": cfg["mqtt"]["base"],
            "name": name,
            "uniq_id": node + "_" + key,
            "def_ent_id": f"{comp}.{node}_{key}",
            "avty_t": "~/status",
            "dev": dev,
            "o": origin,
        }
        yield topic, json.dumps(_fields(cfg, comp, key, field, unit, cla, scla, flags, doc)), True


def entity_ids(cfg):
    """default_entity_id of every entity this configuration publishes."""
    node = cfg["node_id"]
    return [f"{e[0]}.{node}_{e[1]}" for e in rows() if _present(cfg, e[7])]


def _r1(x):
    return None if x is None else round(x, 1)


def state(evse, energy_wh=None, meter=None, temp_c=None, loop_us=None):
    """The retained state document (JSON text). `meter`: dict with p, i1-i3, u1-u3;
    `loop_us`: the longest safety-loop pass so far (diagnostic, no entity)."""
    m = meter or {}
    doc = {
        "state": evse.state,
        "pilot": evse.pilot or "F",
        "enabled": evse.enabled,
        "limit": evse.setpoint / 10,
        "offered": evse.offered / 10,
        "contactor": evse.contactor,
        "plug": evse.plug,
        "problem": evse.problem,
        "safety": evse.safety,
        "fault": evse.reason,
        "rcd_trips": evse.rcd_count,
        "link": evse.link.ok,
        "temp": _r1(temp_c),
        "wh": energy_wh,
        "p": _r1(m.get("p")),
        "loop_us": loop_us,
    }
    for k in ("i1", "i2", "i3", "u1", "u2", "u3"):
        doc[k] = _r1(m.get(k))
    return json.dumps(doc)


def parse(cfg, topic, payload):
    """(command, value) for a message, or (None, reason) when it is refused.

    Commands: ("enable", bool), ("limit", dA), ("reset", None), ("heartbeat", None),
    ("ha", online bool), ("ota", command text).
    """
    try:
        raw = isinstance(payload, (bytes, bytearray))  # noqa: UP038 - MicroPython: no X | Y
        text = payload.decode() if raw else str(payload)
    except Exception:
        return None, "payload is not UTF-8"
    text = text.strip()
    if topic == cfg["mqtt"]["discovery_prefix"] + "/status":
        if text == "online":
            return "ha", True
        if text == "offline":
            return "ha", False
        return None, f"unknown HA status {text!r}"
    base = cfg["mqtt"]["base"] + "/"
    if not topic.startswith(base) or not topic.endswith("/set"):
        return None, "unknown topic"
    key = topic[len(base) : -4]
    if key == CMD_HEARTBEAT:
        return "heartbeat", None
    if key == CMD_RESET:
        return "reset", None
    if key == CMD_OTA:
        return "ota", text
    if key == CMD_CHARGING:
        t = text.upper()
        if t in ("ON", "1", "TRUE"):
            return "enable", True
        if t in ("OFF", "0", "FALSE"):
            return "enable", False
        return None, f"charging expects ON or OFF, got {text!r}"
    if key == CMD_LIMIT:
        try:
            v = float(text)
        except ValueError:
            return None, f"current_limit expects a number, got {text!r}"
        if not math.isfinite(v) or v < 0:
            return None, f"current_limit out of range: {text!r}"
        da = int(v * 10 + 0.5)
        hw = int(cfg["limits"]["max_current_a"] * 10 + 0.5)
        if da < 60:
            da = 0  # below 6 A there is no valid duty: pause
        elif da > hw:
            da = hw
        return "limit", da
    return None, f"unknown command {key!r}"
