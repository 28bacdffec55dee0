# Home Assistant MQTT discovery: one retained config per entity, abbreviated keys. Used at
# connect and when Home Assistant comes back online only: the network worker loads this module
# for that and drops it again (evse.ha.drop), so the entity table is not resident.
import json

from evse import VERSION
from evse.control import REASONS, STATES
from evse.ha import MANUFACTURER, MODEL, PILOT_STATES

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
