# Configuration file (JSON) validation: defaults, types, ranges, pin rules. Refuses unknown
# keys (typos) and bad values with one readable line per problem.
import math

# One line per setting: key, kind, default, a, b; "[section]" starts a nested section.
# Kinds: i integer a..b, n number a..b, s string of length a..b, b boolean, e one of a
# (options split by |), p GPIO number or null (a = 1: required), o null or number a..b.
# Default "-" = none (required for s, i, n); '' = empty string. A text table costs far less
# RAM than tuples or dict literals.
SCHEMA = """node_id s evse 1 32
name s EVSE 1 64
chip e esp32 esp32|other -
tick_ms i 20 5 50
wdt_ms i 5000 2000 30000
[wifi]
ssid s - 1 32
password s '' 0 64
[mqtt]
host s - 1 128
port i 1883 1 65535
user s '' 0 64
password s '' 0 128
client_id s '' 0 64
base s '' 0 96
discovery_prefix s homeassistant 1 64
keepalive_s i 60 10 600
state_interval_s i 10 2 300
[limits]
max_current_a n 16 6 80
cable_current_a o - 6 80
default_current_a n 16 0 80
phases e 1 1|3 -
oc_margin_a n 2 0.5 10
[link]
timeout_s i 60 10 3600
policy e fallback fallback|pause -
fallback_a n 6 6 80
[pins]
pilot_pwm p - 1 -
pilot_adc p - 1 -
contactor p - 1 -
rcd p - 1 -
rcd_test p - 0 -
contactor_fb p - 0 -
ac_sense p - 0 -
pp_adc p - 0 -
ntc_adc p - 0 -
s0 p - 0 -
uart_tx p - 0 -
uart_rx p - 0 -
rs485_de p - 0 -
led p - 0 -
[pilot]
p12_uv i 3000000 0 3300000
n12_uv i 300000 0 3300000
invert b false - -
[pp]
pullup_ohm i 1000 100 100000
vref_uv i 3300000 1000000 5000000
[ntc]
r_fixed i 10000 100 1000000
r0 i 10000 100 1000000
beta i 3950 1000 10000
vref_uv i 3300000 1000000 5000000
[meter]
type e none none|s0|sdm120|sdm630 -
addr i 1 1 247
baud e 9600 2400|4800|9600|19200|38400 -
imp_per_kwh i 1000 1 100000
[inputs]
rcd_active_low b false - -
fb_active_low b false - -
ac_active_low b false - -
[ota]
key s '' 0 64
confirm_s i 120 5 3600"""


def _tok(t):
    if t == "-":
        return None
    if t == "''":
        return ""
    if t in ("true", "false"):
        return t == "true"
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        return t


def rows():
    """(path, kind, default, a, b) for every setting; path is "section.key" or "key"."""
    sec = ""
    for line in SCHEMA.split("\n"):
        if line[0] == "[":
            sec = line[1:-1] + "."
            continue
        f = line.split()
        a = tuple(_tok(x) for x in f[3].split("|")) if f[1] == "e" else _tok(f[3])
        yield sec + f[0], f[1], _tok(f[2]), a, _tok(f[4])


ADC_PINS = ("pilot_adc", "pp_adc", "ntc_adc")
OUT_PINS = ("pilot_pwm", "contactor", "rcd_test", "uart_tx", "rs485_de", "led")
_NODE_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"


class ConfigError(ValueError):
    pass


def _num(v):
    if isinstance(v, bool):
        return False
    return isinstance(v, int) or (isinstance(v, float) and math.isfinite(v))


def _check(path, kind, a, b, v, errs):
    if kind == "s":
        if not isinstance(v, str) or not a <= len(v) <= b:
            errs.append(f"{path} must be a string of {a} to {b} characters (got {v!r})")
    elif kind == "b":
        if not isinstance(v, bool):
            errs.append(f"{path} must be true or false (got {v!r})")
    elif kind == "e":
        if isinstance(v, bool) or v not in a:
            opts = ", ".join(str(x) for x in a)
            errs.append(f"{path} must be one of {opts} (got {v!r})")
    elif kind == "p":
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 48):
            errs.append(f"{path} must be a GPIO number or null (got {v!r})")
    elif kind == "o" and v is None:
        pass
    elif kind == "i" and (not isinstance(v, int) or isinstance(v, bool) or not a <= v <= b):
        errs.append(f"{path} must be an integer from {a} to {b} (got {v!r})")
    elif kind in ("n", "o") and (not _num(v) or not a <= v <= b):
        errs.append(f"{path} must be a number from {a} to {b} (got {v!r})")


def _merge(data, errs):
    """Defaults filled in, every value checked; nested sections as dicts."""
    out = {}
    if not isinstance(data, dict):
        errs.append("config must be an object")
        data = {}
    known = {}
    for path, kind, default, a, b in rows():
        if "." in path:
            sec, key = path.split(".")
        else:
            sec, key = None, path
        known[path] = 1
        src = data
        dst = out
        if sec is not None:
            known[sec] = 1
            src = data.get(sec, {})
            if not isinstance(src, dict):
                if sec not in out:
                    errs.append(f"{sec} must be an object")
                src = {}
            dst = out.setdefault(sec, {})
        if key in src:
            v = src[key]
        elif default is None and (kind in ("s", "i", "n") or (kind == "p" and a)):
            errs.append(f"{path} is required")
            continue
        else:
            v = default
        _check(path, kind, a, b, v, errs)
        dst[key] = v
    for key, v in data.items():
        if key not in known:
            errs.append(f"{key} is not a known setting")
        elif isinstance(v, dict):
            for k in v:
                if key + "." + k not in known:
                    errs.append(f"{key}.{k} is not a known setting")
    return out


def _pins(cfg, errs):
    pins = cfg["pins"]
    esp32 = cfg["chip"] == "esp32"
    seen = {}
    for name, pin in pins.items():
        if pin is None:
            continue
        if pin in seen:
            errs.append(f"pins.{name}: GPIO {pin} is already used by pins.{seen[pin]}")
        seen[pin] = name
        if not esp32:
            continue
        if 6 <= pin <= 11 or pin > 39:
            errs.append(f"pins.{name}: GPIO {pin} is not usable on an ESP32")
        elif name in ADC_PINS and not 32 <= pin <= 39:
            errs.append(f"pins.{name}: GPIO {pin} is not on ADC1 (use 32-39; ADC2 stops with WiFi)")
        elif name in OUT_PINS and pin >= 34:
            errs.append(f"pins.{name}: GPIO {pin} is input-only")
        elif name == "contactor" and pin in (0, 2, 5, 12, 15):
            errs.append(f"pins.contactor: GPIO {pin} is a strapping pin (may pulse at boot)")


def validate(data):
    """Normalised configuration (defaults filled in), or ConfigError listing every problem."""
    errs = []
    cfg = _merge(data, errs)
    if errs:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(errs))
    for ch in cfg["node_id"]:
        if ch not in _NODE_CHARS:
            errs.append("node_id may only hold a-z, 0-9 and _ (got {!r})".format(cfg["node_id"]))
            break
    m = cfg["mqtt"]
    if not m["base"]:
        m["base"] = "ocpp_cp/" + cfg["node_id"]
    for k in ("base", "discovery_prefix"):
        t = m[k]
        if "+" in t or "#" in t or t.startswith("/") or t.endswith("/"):
            errs.append(f"mqtt.{k} must be a topic without wildcards or outer slashes (got {t!r})")
    if not m["client_id"]:
        m["client_id"] = "evse-" + cfg["node_id"]
    lim = cfg["limits"]
    hw = lim["max_current_a"]
    if lim["cable_current_a"] is None:
        lim["cable_current_a"] = hw
    d = lim["default_current_a"]
    if d > hw or 0 < d < 6:
        errs.append(f"limits.default_current_a must be 0 or 6 to max_current_a {hw} (got {d})")
    if cfg["link"]["fallback_a"] > hw:
        errs.append(f"link.fallback_a must not exceed limits.max_current_a {hw}")
    p = cfg["pilot"]
    if p["p12_uv"] <= p["n12_uv"]:
        errs.append("pilot.p12_uv must be above pilot.n12_uv")
    _pins(cfg, errs)
    mt = cfg["meter"]["type"]
    pins = cfg["pins"]
    if mt == "s0" and pins["s0"] is None:
        errs.append("meter.type s0 needs pins.s0")
    if mt in ("sdm120", "sdm630") and (pins["uart_tx"] is None or pins["uart_rx"] is None):
        errs.append(f"meter.type {mt} needs pins.uart_tx and pins.uart_rx")
    if cfg["wdt_ms"] < 20 * cfg["tick_ms"]:
        errs.append(f"wdt_ms must be at least 20 ticks ({20 * cfg['tick_ms']} ms)")
    if errs:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(errs))
    return cfg


def loads(text):
    import json

    try:
        data = json.loads(text)
    except ValueError as e:
        raise ConfigError(f"config file is not valid JSON: {e}") from None
    return validate(data)
