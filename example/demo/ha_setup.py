"""Prepares and provisions the demo's Home Assistant (called by scripts/demo.sh).

``prepare``: writes the configuration folder (a minimal configuration.yaml, the demo automations,
links to ocpp_cp and the demo charger) and, on a fresh folder, marks every onboarding step but
"create the owner" as done, so that the one remaining step is the owner account.

``provision``: once Home Assistant answers, creates the owner through the onboarding API (the
same call the onboarding page makes), keeps a long-lived access token in the state folder, waits
until Home Assistant runs, then sets up ocpp_cp through its config flow (the REST API the UI uses:
connection step, then the mapping step with the demo charger's entities). Writes ``ready.json``
in the state folder when done.

Standard library only, plus ``websockets`` for the one WebSocket command (the token).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

USERNAME = "demo"
PASSWORD = "demo1234"
NAME = "Demo"
HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

# The demo charger's entities, as the mapping step of ocpp_cp's config flow takes them.
MAPPING = {
    "charge_switch": "switch.demo_charger_charging",
    "current_number": "number.demo_charger_current_limit",
    "plug_sensor": "binary_sensor.demo_charger_plug",
    "power": "sensor.demo_charger_power",
    "energy": "sensor.demo_charger_energy",
    "voltage": "sensor.demo_charger_voltage",
    "current": "sensor.demo_charger_current",
    "soc": "sensor.demo_car_battery",
    "phases": "1",
    "nominal_voltage": 230,
}

CONFIGURATION = """\
# Written by scripts/demo.sh at every start (edits are overwritten). Kept minimal so that
# Home Assistant starts in seconds and needs no package installs: no default_config.
homeassistant:
  name: ocpp_cp demo
  latitude: 52.52
  longitude: 13.405
  elevation: 34
  unit_system: metric
  currency: EUR
  country: DE
  time_zone: UTC
  language: en

http:
  server_host: 127.0.0.1
  server_port: {http_port}

frontend:
config:
recorder:
  commit_interval: 2
  purge_keep_days: 3
history:
logbook:
automation: !include automations.yaml

logger:
  default: warning
  logs:
    custom_components.ocpp_cp: info
    homeassistant.bootstrap: info

# The simulated charger and car (example/demo/custom_components/demo_charger).
demo_charger:
"""

AUTOMATIONS = """\
# Written by scripts/demo.sh at every start (edits are overwritten).
# Flipping the demo charger's "Charging" switch by hand starts or stops an OCPP session, like the
# start/stop button of a real wallbox. The charge point itself switches it too; those changes
# carry no user and are ignored here.
- id: demo_switch_starts_session
  alias: "Demo: charging switch turned on by hand starts a session"
  mode: queued
  triggers:
    - trigger: state
      entity_id: switch.demo_charger_charging
      from: "off"
      to: "on"
  conditions:
    - condition: template
      value_template: "{{ trigger.to_state.context.user_id is not none }}"
  actions:
    - action: ocpp_cp.start_transaction
      continue_on_error: true
      data:
        config_entry_id: "{{ config_entry_id(integration_entities('ocpp_cp') | first) }}"
- id: demo_switch_stops_session
  alias: "Demo: charging switch turned off by hand stops the session"
  mode: queued
  triggers:
    - trigger: state
      entity_id: switch.demo_charger_charging
      from: "on"
      to: "off"
  conditions:
    - condition: template
      value_template: "{{ trigger.to_state.context.user_id is not none }}"
  actions:
    - action: ocpp_cp.stop_transaction
      continue_on_error: true
      data:
        config_entry_id: "{{ config_entry_id(integration_entities('ocpp_cp') | first) }}"
"""


def log(message: str) -> None:
    print(f"[demo] {message}", flush=True)


# -- prepare ------------------------------------------------------------------------------------


def link(target: Path, link_path: Path) -> None:
    if link_path.is_symlink() and Path(os.readlink(link_path)) == target:
        return
    if link_path.is_symlink() or link_path.is_file():
        link_path.unlink()
    elif link_path.is_dir():
        raise SystemExit(f"{link_path} is a folder; remove it so the demo can link {target}")
    link_path.symlink_to(target)


def prepare(config: Path, http_port: int) -> None:
    config.mkdir(parents=True, exist_ok=True)
    (config / "configuration.yaml").write_text(CONFIGURATION.format(http_port=http_port))
    (config / "automations.yaml").write_text(AUTOMATIONS)
    components = config / "custom_components"
    components.mkdir(exist_ok=True)
    link(REPO / "custom_components" / "ocpp_cp", components / "ocpp_cp")
    link(HERE / "custom_components" / "demo_charger", components / "demo_charger")
    storage = config / ".storage"
    if not (storage / "auth").exists() and not (storage / "onboarding").exists():
        seed_onboarding(storage)


def seed_onboarding(storage: Path) -> None:
    """Everything but the owner account counts as done (location, units and time zone are in
    configuration.yaml; no analytics; no integrations offered). The owner is created through the
    onboarding API at first start, so Home Assistant itself writes the user and the password."""
    from homeassistant.components.onboarding import STORAGE_KEY, STORAGE_VERSION
    from homeassistant.components.onboarding.const import STEP_USER, STEPS

    storage.mkdir(parents=True, exist_ok=True)
    document = {
        "version": STORAGE_VERSION,
        "minor_version": 1,
        "key": STORAGE_KEY,
        "data": {"done": [step for step in STEPS if step != STEP_USER]},
    }
    (storage / STORAGE_KEY).write_text(json.dumps(document, indent=2))


# -- HTTP ---------------------------------------------------------------------------------------


class Api:
    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.token = token

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        form: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> tuple[int, Any]:
        headers = {}
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")


def wait_until(what: str, check: Any, timeout: float, hass_pid: int | None) -> Any:
    """Poll ``check`` (returns a value, or None to go on) every 0.5 s, at most ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        if hass_pid is not None and not pid_alive(hass_pid):
            raise SystemExit(f"Home Assistant exited while waiting for {what}; see its log")
        try:
            result = check()
        except (OSError, urllib.error.URLError):
            result = None
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise SystemExit(f"Gave up waiting {timeout:.0f} s for {what}")
        time.sleep(0.5)


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# -- provision ----------------------------------------------------------------------------------


def client_id(api: Api) -> str:
    return api.url + "/"


def tokens_from_code(api: Api, code: str) -> str:
    status, body = Api(api.url).request(
        "POST",
        "/auth/token",
        form={"grant_type": "authorization_code", "code": code, "client_id": client_id(api)},
    )
    if status != 200:
        raise SystemExit(f"/auth/token answered {status}: {body}")
    return str(body["access_token"])


def create_owner(api: Api) -> str:
    status, body = api.request(
        "POST",
        "/api/onboarding/users",
        {
            "client_id": client_id(api),
            "name": NAME,
            "username": USERNAME,
            "password": PASSWORD,
            "language": "en",
        },
    )
    if status != 200:
        raise SystemExit(f"Creating the owner failed: HTTP {status} {body}")
    log(f"created the owner account: {USERNAME} / {PASSWORD}")
    return tokens_from_code(api, body["auth_code"])


def log_in(api: Api) -> str:
    cid = client_id(api)
    status, flow = api.request(
        "POST",
        "/auth/login_flow",
        {"client_id": cid, "handler": ["homeassistant", None], "redirect_uri": cid},
    )
    if status != 200:
        raise SystemExit(f"Starting the login flow failed: HTTP {status} {flow}")
    status, result = api.request(
        "POST",
        f"/auth/login_flow/{flow['flow_id']}",
        {"client_id": cid, "username": USERNAME, "password": PASSWORD},
    )
    if status != 200 or result.get("type") != "create_entry":
        raise SystemExit(
            f"Cannot log in as {USERNAME}/{PASSWORD} ({result}). The demo's Home Assistant "
            "folder has another owner: delete the demo state folder to start over."
        )
    return tokens_from_code(api, result["result"])


def long_lived_token(api: Api, access_token: str) -> str:
    from websockets.sync.client import connect

    ws_url = "ws" + api.url.removeprefix("http") + "/api/websocket"
    with connect(ws_url, open_timeout=30) as ws:
        json.loads(ws.recv(timeout=30))  # auth_required
        ws.send(json.dumps({"type": "auth", "access_token": access_token}))
        reply = json.loads(ws.recv(timeout=30))
        if reply.get("type") != "auth_ok":
            raise SystemExit(f"WebSocket authentication failed: {reply}")
        ws.send(
            json.dumps(
                {
                    "id": 1,
                    "type": "auth/long_lived_access_token",
                    "client_name": f"ocpp_cp demo {int(time.time())}",
                    "lifespan": 3650,
                }
            )
        )
        reply = json.loads(ws.recv(timeout=30))
    if not reply.get("success"):
        raise SystemExit(f"Creating a long-lived token failed: {reply}")
    return str(reply["result"])


def ensure_token(api: Api, state: Path) -> str:
    token_file = state / "token"
    access: str | None = None
    status, steps = api.request("GET", "/api/onboarding")
    if status == 200 and any(s["step"] == "user" and not s["done"] for s in steps):
        access = create_owner(api)
        token_file.unlink(missing_ok=True)
    elif token_file.exists():
        token = token_file.read_text().strip()
        status, _ = Api(api.url, token).request("GET", "/api/")
        if status == 200:
            return token
    if access is None:
        access = log_in(api)
    token = long_lived_token(api, access)
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    return token


def show_errors(step: dict[str, Any]) -> str:
    errors = step.get("errors") or {}
    placeholders = step.get("description_placeholders") or {}
    detail = placeholders.get("error_detail") or ""
    return ", ".join(f"{field}: {key}" for field, key in errors.items()) + (
        f" ({detail})" if detail else ""
    )


def create_entry(api: Api, csms_url: str, cp_id: str, auth_key: str | None) -> str | None:
    status, step = api.request(
        "POST",
        "/api/config/config_entries/flow",
        {"handler": "ocpp_cp", "show_advanced_options": False},
    )
    if status != 200:
        raise SystemExit(f"Starting the ocpp_cp config flow failed: HTTP {status} {step}")
    connection: dict[str, Any] = {
        "csms_url": csms_url,
        "charge_point_id": cp_id,
        "security_profile": "0",
        "vendor": "ocpp_cp",
        "model": "HA demo",
        "number_of_connectors": 1,
    }
    if auth_key:
        connection["security_profile"] = "2" if csms_url.startswith("wss://") else "1"
        connection["authorization_key"] = auth_key
    flow = f"/api/config/config_entries/flow/{step['flow_id']}"
    log(f"connecting charge point {cp_id} to {csms_url} (the config flow tries it first)")
    status, step = api.request("POST", flow, connection, timeout=60)
    if step.get("type") == "abort":
        log(f"the config flow stopped: {step.get('reason')}")
        return None
    if step.get("step_id") == "pending":
        log("the CSMS answered Pending: the charge point waits until it is accepted there")
        status, step = api.request("POST", flow, {})
    if step.get("step_id") != "mapping":
        log(
            f"the CSMS connection failed: {show_errors(step)}. Fix CSMS_URL/CP_ID (or add the "
            "integration in the UI: Settings > Devices & services > Add integration > OCPP)."
        )
        api.request("DELETE", flow)
        return None
    status, step = api.request("POST", flow, MAPPING)
    if step.get("type") != "create_entry":
        log(f"the mapping step failed: {show_errors(step)}")
        api.request("DELETE", flow)
        return None
    return str(step["result"]["entry_id"])


def ensure_entry(
    api: Api, state: Path, csms_url: str, cp_id: str, auth_key: str | None, hass_pid: int | None
) -> str | None:
    """One ocpp_cp entry for (csms_url, cp_id); a demo entry for another CSMS is replaced."""
    record_file = state / "entry.json"
    wanted = {"csms_url": csms_url, "charge_point_id": cp_id, "auth": bool(auth_key)}
    record = json.loads(record_file.read_text()) if record_file.exists() else {}
    _, entries = api.request("GET", "/api/config/config_entries/entry?domain=ocpp_cp")
    existing = {entry["entry_id"]: entry for entry in entries}
    entry_id = record.get("entry_id")
    if entry_id in existing and all(record.get(k) == v for k, v in wanted.items()):
        log(f"ocpp_cp is set up already (charge point {cp_id} -> {csms_url})")
    else:
        if entry_id in existing:
            log(f"removing the demo's ocpp_cp entry for {record.get('csms_url')}")
            api.request("DELETE", f"/api/config/config_entries/entry/{entry_id}")
        entry_id = create_entry(api, csms_url, cp_id, auth_key)
        if entry_id is None:
            record_file.unlink(missing_ok=True)
            return None
        record_file.write_text(json.dumps({"entry_id": entry_id, **wanted}, indent=2))
        log(f"ocpp_cp set up: charge point {cp_id} -> {csms_url}")

    def loaded() -> str | None:
        _, entries = api.request("GET", "/api/config/config_entries/entry?domain=ocpp_cp")
        states = {entry["entry_id"]: entry["state"] for entry in entries}
        if states.get(entry_id) in ("setup_error", "setup_retry", "migration_error"):
            raise SystemExit(f"ocpp_cp did not load ({states[entry_id]}); see the HA log")
        return entry_id if states.get(entry_id) == "loaded" else None

    return wait_until("ocpp_cp to load", loaded, 60, hass_pid)


def provision(args: argparse.Namespace) -> None:
    started = time.monotonic()
    state: Path = args.state
    api = Api(args.url)

    def frontend_up() -> bool | None:
        status, _ = api.request("GET", "/manifest.json", timeout=5)
        return True if status == 200 else None

    wait_until("the Home Assistant web server", frontend_up, args.timeout, args.hass_pid)
    token = ensure_token(api, state)
    api = Api(args.url, token)

    def running() -> bool | None:
        status, config = api.request("GET", "/api/config", timeout=5)
        return True if status == 200 and config.get("state") == "RUNNING" else None

    wait_until("Home Assistant to finish starting", running, args.timeout, args.hass_pid)
    entry_id = None
    if args.csms_url:
        entry_id = ensure_entry(
            api, state, args.csms_url, args.cp_id, args.auth_key or None, args.hass_pid
        )
    ready = {
        "url": args.url,
        "token_file": str(state / "token"),
        "entry_id": entry_id,
        "seconds": round(time.monotonic() - started, 1),
    }
    (state / "ready.json").write_text(json.dumps(ready, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--http-port", type=int, required=True)
    p = sub.add_parser("provision")
    p.add_argument("--url", required=True)
    p.add_argument("--state", type=Path, required=True)
    p.add_argument("--csms-url", help="set up ocpp_cp against this CSMS (omit: no entry)")
    p.add_argument("--cp-id", default="DEMO1")
    p.add_argument("--auth-key", help="Basic auth password (security profile 1, or 2 for wss)")
    p.add_argument("--hass-pid", type=int)
    p.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.config, args.http_port)
    else:
        try:
            provision(args)
        except KeyboardInterrupt:
            sys.exit(130)


if __name__ == "__main__":
    main()
