# Home Assistant MQTT: discovery messages (one retained config per entity, abbreviated keys),
# the retained JSON state document, and command parsing (validate + clamp).
import json
import math

MANUFACTURER = "ocpp_cp"
MODEL = "MicroPython EVSE"
PILOT_STATES = ("A", "B", "C", "D", "E", "F")

# Command keys: the firmware subscribes to <base>/+/set.
CMD_CHARGING = "charging"
CMD_LIMIT = "current_limit"
CMD_RESET = "reset_fault"
CMD_HEARTBEAT = "heartbeat"
CMD_OTA = "ota"  # JSON, validated by evse.ota (imported only then)


def discovery(cfg):
    """Yield (topic, payload, retain) for every discovery message (evse.disco: loaded for
    this and dropped again by the network worker, so its table stays out of the heap)."""
    from evse import disco

    return disco.discovery(cfg)


def drop(name):
    """Unloads evse.<name>, a module used only now and then: its code leaves the heap."""
    import sys

    import evse

    sys.modules.pop("evse." + name, None)
    try:  # noqa: SIM105 - no contextlib in MicroPython
        delattr(evse, name)
    except AttributeError:
        pass


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
