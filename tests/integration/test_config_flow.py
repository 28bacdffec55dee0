"""Config, options, reconfigure and reauth flows against a real CSMS on 127.0.0.1."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, patch

import pytest
import voluptuous as vol
from homeassistant.config_entries import SOURCE_USER, ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry
from websockets.asyncio.server import ServerConnection

from custom_components.ocpp_cp import _async_options_updated, config_flow
from custom_components.ocpp_cp.const import DEFAULT_ID_TAG, DOMAIN
from custom_components.ocpp_cp.engine import SettingsError
from tests.csms import TestCsms
from tests.engine.tls import Pki, make_pki, server_leaf, tls_server, v1_root

pytestmark = pytest.mark.timeout(30)

SWITCH = "switch.charger"
PLUG = "binary_sensor.car_plugged"
STATUS = "sensor.charger_status"
COMPONENT = Path(config_flow.__file__).parent

BEHAVIOUR_DEFAULTS = {
    "heartbeat_interval": None,
    "meter_interval": None,
    "freeze_current_offered": False,
    "default_id_tag": DEFAULT_ID_TAG,
}


class SilentCsms(TestCsms):
    """A CSMS that accepts the WebSocket but never reads from it (go_silent from the start)."""

    __test__ = False

    async def _handle(self, websocket: ServerConnection) -> None:
        websocket.transport.pause_reading()
        await super()._handle(websocket)


async def _setup_with_listener(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Like the real setup, minus the charge point: register the reloading update listener."""
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    return True


@pytest.fixture(autouse=True)
def mock_setup_entry() -> Iterator[AsyncMock]:
    """Flow tests do not run the integration itself."""
    with (
        patch(
            "custom_components.ocpp_cp.async_setup_entry", side_effect=_setup_with_listener
        ) as setup,
        patch("custom_components.ocpp_cp.async_unload_entry", return_value=True),
    ):
        yield setup


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def connection(url: str, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "csms_url": url,
        "charge_point_id": "CP1",
        "security_profile": "0",
        "vendor": "Acme",
        "model": "Wallbox",
        "number_of_connectors": 1,
    }
    values.update(overrides)
    return values


def stored(url: str, **overrides: Any) -> dict[str, Any]:
    """Entry data as the flow stores it for ``connection(url)``."""
    values: dict[str, Any] = {
        "csms_url": url,
        "charge_point_id": "CP1",
        "security_profile": 0,
        "authorization_key": None,
        "ca_file": None,
        "client_cert_file": None,
        "client_key_file": None,
        "tls_allow_v1_ca": False,
        "tls_server_name": None,
        "vendor": "Acme",
        "model": "Wallbox",
        "serial_number": None,
        "firmware_version": None,
        "number_of_connectors": 1,
    }
    values.update(overrides)
    return values


def make_entry(
    hass: HomeAssistant, url: str, *, connectors: int = 1, **overrides: Any
) -> MockConfigEntry:
    data = stored(url, number_of_connectors=connectors, **overrides)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=data["charge_point_id"],
        unique_id=config_flow.connection_unique_id(data),
        data=data,
        options={
            "mapping": {
                str(c): {"charge_switch": SWITCH, "plug_sensor": PLUG, "phases": 1}
                for c in range(1, connectors + 1)
            },
            **BEHAVIOUR_DEFAULTS,
        },
    )
    entry.add_to_hass(hass)
    return entry


def suggested(result: Any, key: str) -> Any:
    """The value a form shows for ``key`` (suggested value, else default)."""
    schema: vol.Schema = result["data_schema"]
    for marker in schema.schema:
        if marker == key:
            if marker.description and "suggested_value" in marker.description:
                return marker.description["suggested_value"]
            default = marker.default
            return None if default is vol.UNDEFINED else default()
    raise KeyError(key)


def placeholders(result: Any) -> dict[str, str]:
    return dict(result["description_placeholders"] or {})


async def start_user(hass: HomeAssistant) -> Any:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}
    return result


async def submit(hass: HomeAssistant, result: Any, user_input: dict[str, Any]) -> Any:
    return await hass.config_entries.flow.async_configure(result["flow_id"], user_input)


# -- user flow ----------------------------------------------------------------------------------


async def test_user_flow_creates_entry(
    hass: HomeAssistant, csms: TestCsms, mock_setup_entry: AsyncMock
) -> None:
    """Connection, probe, one mapping step: data, options and unique id exactly."""
    result = await start_user(hass)
    result = await submit(
        hass,
        result,
        connection(csms.url + "/", serial_number=" SN-1 ", firmware_version="1.2"),
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "mapping"
    assert placeholders(result)["connector"] == "1"
    boot = csms.actions("BootNotification")
    assert boot == [
        {
            "charge_point_vendor": "Acme",
            "charge_point_model": "Wallbox",
            "charge_point_serial_number": "SN-1",
            "firmware_version": "1.2",
        }
    ]

    result = await submit(
        hass,
        result,
        {
            "charge_switch": SWITCH,
            "current_number": "number.charger_limit",
            "status_sensor": STATUS,
            "status_mapping": "charging=Charging\n\n completed = finishing \nready=Preparing",
            "power": "sensor.charger_power",
            "phases": "3",
            "nominal_voltage": 230.0,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "CP1"
    assert result["data"] == stored(csms.url + "/", serial_number="SN-1", firmware_version="1.2")
    assert result["options"] == {
        "mapping": {
            "1": {
                "charge_switch": SWITCH,
                "current_number": "number.charger_limit",
                "status_sensor": STATUS,
                "status_mapping": {
                    "charging": "Charging",
                    "completed": "Finishing",
                    "ready": "Preparing",
                },
                "power": "sensor.charger_power",
                "phases": 3,
                "nominal_voltage": 230,
            }
        },
        **BEHAVIOUR_DEFAULTS,
    }
    entry = result["result"]
    assert entry.unique_id == f"ws://127.0.0.1:{csms.port}/ocpp|CP1"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert len(mock_setup_entry.mock_calls) == 1


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("WS://CSMS.Example.COM:8887/Ocpp/", "ws://csms.example.com:8887/Ocpp"),
        ("wss://csms.example.com/ocpp//", "wss://csms.example.com/ocpp"),
        (" ws://10.0.0.1/ ", "ws://10.0.0.1"),
    ],
)
def test_normalize_csms_url(url: str, expected: str) -> None:
    assert config_flow.normalize_csms_url(url) == expected


async def test_two_connectors_two_mapping_steps(hass: HomeAssistant, csms: TestCsms) -> None:
    result = await start_user(hass)
    result = await submit(hass, result, connection(csms.url, number_of_connectors=2))
    assert result["step_id"] == "mapping"
    assert placeholders(result)["connector"] == "1"
    assert placeholders(result)["connectors"] == "2"
    result = await submit(hass, result, {"charge_switch": SWITCH, "plug_sensor": PLUG})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "mapping"
    assert placeholders(result)["connector"] == "2"
    result = await submit(
        hass, result, {"charge_switch": "switch.charger_2", "plug_sensor": "binary_sensor.p2"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["number_of_connectors"] == 2
    assert result["options"]["mapping"] == {
        "1": {"charge_switch": SWITCH, "plug_sensor": PLUG, "phases": 1, "nominal_voltage": 230},
        "2": {
            "charge_switch": "switch.charger_2",
            "plug_sensor": "binary_sensor.p2",
            "phases": 1,
            "nominal_voltage": 230,
        },
    }


async def test_duplicate_aborts(hass: HomeAssistant, csms: TestCsms) -> None:
    make_entry(hass, csms.url)
    result = await start_user(hass)
    url = f"WS://127.0.0.1:{csms.port}/ocpp/"
    result = await submit(hass, result, connection(url))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert csms.connection_count == 0


async def test_same_csms_other_charge_point_is_allowed(hass: HomeAssistant, csms: TestCsms) -> None:
    make_entry(hass, csms.url)
    result = await start_user(hass)
    result = await submit(hass, result, connection(csms.url, charge_point_id="CP2"))
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "mapping"


async def test_invalid_auth_keeps_input_then_recovers(hass: HomeAssistant, csms: TestCsms) -> None:
    csms.expected_password = "secret"
    result = await start_user(hass)
    result = await submit(
        hass,
        result,
        connection(csms.url, security_profile="1", authorization_key="wrong", serial_number="S9"),
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {"authorization_key": "invalid_auth"}
    assert "401" in placeholders(result)["error_detail"]
    assert suggested(result, "csms_url") == csms.url
    assert suggested(result, "charge_point_id") == "CP1"
    assert suggested(result, "security_profile") == "1"
    assert suggested(result, "authorization_key") == "wrong"
    assert suggested(result, "vendor") == "Acme"
    assert suggested(result, "serial_number") == "S9"

    result = await submit(
        hass,
        result,
        connection(csms.url, security_profile="1", authorization_key="secret"),
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "mapping"
    result = await submit(hass, result, {"charge_switch": SWITCH, "plug_sensor": PLUG})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["security_profile"] == 1
    assert result["data"]["authorization_key"] == "secret"


async def test_unknown_charge_point(hass: HomeAssistant, csms: TestCsms) -> None:
    csms.known_ids = {"SOMEONE_ELSE"}
    result = await start_user(hass)
    result = await submit(hass, result, connection(csms.url))
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "unknown_charge_point"}


async def test_wrong_path(hass: HomeAssistant, csms: TestCsms) -> None:
    result = await start_user(hass)
    result = await submit(hass, result, connection(f"ws://127.0.0.1:{csms.port}/wrong"))
    assert result["errors"] == {"base": "unknown_charge_point"}


async def test_connection_refused(hass: HomeAssistant) -> None:
    result = await start_user(hass)
    result = await submit(hass, result, connection(f"ws://127.0.0.1:{closed_port()}/ocpp"))
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}
    assert placeholders(result)["error_detail"]


async def test_cannot_resolve(hass: HomeAssistant) -> None:
    result = await start_user(hass)
    result = await submit(hass, result, connection("ws://csms.invalid/ocpp"))
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"csms_url": "cannot_resolve"}


async def test_boot_rejected(hass: HomeAssistant, csms: TestCsms) -> None:
    csms.boot_answers = [("Rejected", 10)]
    result = await start_user(hass)
    result = await submit(hass, result, connection(csms.url))
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "boot_rejected"}


async def test_no_answer(hass: HomeAssistant) -> None:
    silent = await SilentCsms.start()
    try:
        result = await start_user(hass)
        with patch.object(config_flow, "PROBE_ANSWER_TIMEOUT", 0.3):
            result = await submit(hass, result, connection(silent.url))
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {"base": "no_answer"}
        assert silent.connection_count == 1
        assert silent.received == []
    finally:
        await silent.stop()


async def test_pending_step(hass: HomeAssistant, csms: TestCsms) -> None:
    csms.boot_answers = [("Pending", 10)]
    result = await start_user(hass)
    result = await submit(hass, result, connection(csms.url))
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "pending"
    assert result["description_placeholders"] == {"charge_point_id": "CP1", "csms_url": csms.url}
    result = await submit(hass, result, {})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "mapping"
    result = await submit(hass, result, {"charge_switch": SWITCH, "status_sensor": STATUS})
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        ({"csms_url": "http://127.0.0.1/ocpp"}, {"csms_url": "invalid_url"}),
        ({"csms_url": "not a url"}, {"csms_url": "invalid_url"}),
        (
            {"security_profile": "2", "authorization_key": "k"},
            {"csms_url": "wss_required"},
        ),
        ({"security_profile": "1"}, {"authorization_key": "missing_key"}),
        (
            {"csms_url": "wss://localhost:1/ocpp", "security_profile": "2"},
            {"authorization_key": "missing_key"},
        ),
        (
            {"csms_url": "wss://localhost:1/ocpp", "security_profile": "3"},
            {"client_cert_file": "missing_client_cert"},
        ),
        ({"charge_point_id": "x" * 49}, {"charge_point_id": "invalid_charge_point_id"}),
        ({"ca_file": "/nonexistent/ca.pem"}, {"ca_file": "file_not_found"}),
        ({"tls_allow_v1_ca": True}, {"ca_file": "v1_ca_needs_file"}),
        (
            {"client_cert_file": "missing-cert.pem", "client_key_file": "missing.key"},
            {"client_cert_file": "file_not_found", "client_key_file": "file_not_found"},
        ),
    ],
)
async def test_settings_errors(
    hass: HomeAssistant, csms: TestCsms, overrides: dict[str, Any], errors: dict[str, str]
) -> None:
    """Settings that cannot work are reported on their field without connecting."""
    result = await start_user(hass)
    user_input = connection(csms.url, **overrides)
    result = await submit(hass, result, user_input)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == errors
    assert suggested(result, "csms_url") == user_input["csms_url"]
    assert csms.connection_count == 0


async def test_tls_wrong_ca(hass: HomeAssistant, pki: Pki) -> None:
    server = await TestCsms.start(ssl_context=pki.server_context())
    try:
        result = await start_user(hass)
        result = await submit(hass, result, connection(server.url, ca_file=str(pki.other_ca_file)))
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {"base": "tls_error"}
        assert "certificate" in placeholders(result)["error_detail"]
    finally:
        await server.stop()


async def test_tls_basic_auth_relative_ca(hass: HomeAssistant, pki: Pki, tmp_path: Path) -> None:
    """Profile 2; the CA file is given relative to the configuration directory."""
    hass.config.config_dir = str(tmp_path)
    server = await TestCsms.start(ssl_context=pki.server_context())
    server.expected_password = "pw"
    try:
        result = await start_user(hass)
        result = await submit(
            hass,
            result,
            connection(server.url, security_profile="2", authorization_key="pw", ca_file="ca.pem"),
        )
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "mapping"
        result = await submit(hass, result, {"charge_switch": SWITCH, "plug_sensor": PLUG})
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["data"]["ca_file"] == str(pki.ca_file)
        assert result["data"]["security_profile"] == 2
    finally:
        await server.stop()


async def test_tls_client_certificate(hass: HomeAssistant, pki: Pki) -> None:
    """Profile 3 against a CSMS that requires a client certificate."""
    server = await TestCsms.start(ssl_context=pki.server_context(require_client_cert=True))
    try:
        result = await start_user(hass)
        files = {
            "ca_file": str(pki.ca_file),
            "client_cert_file": str(pki.client_cert),
            "client_key_file": str(pki.client_key),
        }
        result = await submit(hass, result, connection(server.url, security_profile="3", **files))
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "mapping"
        result = await submit(hass, result, {"charge_switch": SWITCH, "plug_sensor": PLUG})
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["data"] == stored(server.url, security_profile=3, **files)
    finally:
        await server.stop()


async def test_tls_pinned_v1_ca_with_expected_server_name(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    """A CSMS whose PKI has an X.509 v1 root and a certificate for another name than the
    host dialled: refused, and said why, until both TLS options are set; then the entry
    stores them."""
    root = v1_root("legacy CSMS root")
    (tmp_path / "v1.pem").write_text(root.pem)
    server = await TestCsms.start(
        ssl_context=tls_server(tmp_path, server_leaf(root, "csms.example"))
    )
    try:
        base = connection(server.url, ca_file=str(tmp_path / "v1.pem"))
        result = await start_user(hass)
        result = await submit(hass, result, base | {"tls_server_name": "csms.example"})
        assert result["errors"] == {"base": "tls_error"}
        assert "v1 CA option" in placeholders(result)["error_detail"]
        result = await submit(hass, result, base | {"tls_allow_v1_ca": True})
        assert result["errors"] == {"base": "tls_error"}
        assert "set the expected server name" in placeholders(result)["error_detail"]
        options = {"tls_allow_v1_ca": True, "tls_server_name": " csms.example "}
        result = await submit(hass, result, base | options)
        assert result["step_id"] == "mapping"
        result = await submit(hass, result, {"charge_switch": SWITCH, "plug_sensor": PLUG})
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["data"] == stored(
            server.url,
            ca_file=str(tmp_path / "v1.pem"),
            tls_allow_v1_ca=True,
            tls_server_name="csms.example",
        )
    finally:
        await server.stop()


async def test_tls_unreadable_key_file(hass: HomeAssistant, pki: Pki, tmp_path: Path) -> None:
    """A key file that is not a key fails as a TLS error, not a crash."""
    bogus = tmp_path / "bogus.key"
    bogus.write_text("not a key\n")
    result = await start_user(hass)
    result = await submit(
        hass,
        result,
        connection(
            "wss://localhost:1/ocpp",
            security_profile="3",
            client_cert_file=str(pki.client_cert),
            client_key_file=str(bogus),
        ),
    )
    assert result["errors"] == {"base": "tls_error"}


async def test_mapping_errors(hass: HomeAssistant, csms: TestCsms) -> None:
    result = await start_user(hass)
    result = await submit(hass, result, connection(csms.url))
    assert result["step_id"] == "mapping"

    result = await submit(hass, result, {"charge_switch": SWITCH, "power": "sensor.p"})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "mapping"
    assert result["errors"] == {"base": "plug_or_status_required"}
    assert suggested(result, "power") == "sensor.p"

    bad = "charging=Charging\nidle=Idle"
    result = await submit(
        hass, result, {"charge_switch": SWITCH, "status_sensor": STATUS, "status_mapping": bad}
    )
    assert result["errors"] == {"status_mapping": "invalid_status_mapping"}
    assert suggested(result, "status_mapping") == bad
    assert "SuspendedEV" in placeholders(result)["statuses"]

    result = await submit(
        hass,
        result,
        {"charge_switch": SWITCH, "status_sensor": STATUS, "status_mapping": "no equals sign"},
    )
    assert result["errors"] == {"status_mapping": "invalid_status_mapping"}

    result = await submit(
        hass,
        result,
        {"charge_switch": SWITCH, "status_mapping": "=Charging"},
    )
    assert result["errors"] == {
        "status_mapping": "invalid_status_mapping",
        "base": "plug_or_status_required",
    }

    result = await submit(
        hass,
        result,
        {"charge_switch": SWITCH, "status_sensor": STATUS, "status_mapping": "a=b=Faulted"},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"]["mapping"]["1"]["status_mapping"] == {"a=b": "Faulted"}


async def test_mapping_requires_charge_switch(hass: HomeAssistant, csms: TestCsms) -> None:
    result = await start_user(hass)
    result = await submit(hass, result, connection(csms.url))
    with pytest.raises(vol.Invalid):
        await submit(hass, result, {"plug_sensor": PLUG})


# -- options flow -------------------------------------------------------------------------------


async def test_options_mapping_single_connector(hass: HomeAssistant) -> None:
    entry = make_entry(hass, "ws://127.0.0.1:9/ocpp")
    hass.config_entries.async_update_entry(
        entry,
        options={
            **entry.options,
            "mapping": {
                "1": {
                    "charge_switch": SWITCH,
                    "status_sensor": STATUS,
                    "status_mapping": {"charging": "Charging", "done": "Finishing"},
                    "phases": 3,
                    "nominal_voltage": 240,
                }
            },
        },
    )
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["mapping", "behaviour", "site_guard"]

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "mapping"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "mapping"
    assert placeholders(result)["connector"] == "1"
    assert suggested(result, "charge_switch") == SWITCH
    assert suggested(result, "status_mapping") == "charging=Charging\ndone=Finishing"
    assert suggested(result, "phases") == "3"
    assert suggested(result, "nominal_voltage") == 240

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"charge_switch": SWITCH, "status_mapping": "x=Charging"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "plug_or_status_required"}

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {"charge_switch": "input_boolean.charge", "plug_sensor": PLUG, "nominal_voltage": 230},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        "mapping": {
            "1": {
                "charge_switch": "input_boolean.charge",
                "plug_sensor": PLUG,
                "phases": 1,
                "nominal_voltage": 230,
            }
        },
        **BEHAVIOUR_DEFAULTS,
    }


async def test_options_mapping_picks_connector(hass: HomeAssistant) -> None:
    entry = make_entry(hass, "ws://127.0.0.1:9/ocpp", connectors=3)
    before = dict(entry.options["mapping"])
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "mapping"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "connector"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"connector": "2"}
    )
    assert result["step_id"] == "mapping"
    assert placeholders(result)["connector"] == "2"
    assert placeholders(result)["connectors"] == "3"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"charge_switch": "switch.two", "status_sensor": STATUS}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options["mapping"] == {
        "1": before["1"],
        "2": {
            "charge_switch": "switch.two",
            "status_sensor": STATUS,
            "phases": 1,
            "nominal_voltage": 230,
        },
        "3": before["3"],
    }


async def test_options_behaviour(hass: HomeAssistant) -> None:
    entry = make_entry(hass, "ws://127.0.0.1:9/ocpp")
    mapping = entry.options["mapping"]
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "behaviour"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "behaviour"
    assert suggested(result, "heartbeat_interval") is None
    assert suggested(result, "default_id_tag") == DEFAULT_ID_TAG

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            "heartbeat_interval": 60,
            "meter_interval": 0,
            "freeze_current_offered": True,
            "default_id_tag": "x" * 21,
        },
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"default_id_tag": "invalid_id_tag"}
    assert suggested(result, "heartbeat_interval") == 60

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            "heartbeat_interval": 60,
            "meter_interval": 0,
            "freeze_current_offered": True,
            "default_id_tag": " HA-TAG ",
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        "mapping": mapping,
        "heartbeat_interval": 60,
        "meter_interval": 0,
        "freeze_current_offered": True,
        "default_id_tag": "HA-TAG",
    }

    # Prefilled from the options; clearing an interval unpins it.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "behaviour"}
    )
    assert suggested(result, "heartbeat_interval") == 60
    assert suggested(result, "freeze_current_offered") is True
    assert suggested(result, "default_id_tag") == "HA-TAG"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"freeze_current_offered": False, "default_id_tag": "HA-TAG"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options["heartbeat_interval"] is None
    assert entry.options["meter_interval"] is None
    assert entry.options["freeze_current_offered"] is False


async def test_options_behaviour_rejects_out_of_range_interval(hass: HomeAssistant) -> None:
    entry = make_entry(hass, "ws://127.0.0.1:9/ocpp")
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "behaviour"}
    )
    with pytest.raises(vol.Invalid):
        await hass.config_entries.options.async_configure(
            result["flow_id"], {"heartbeat_interval": 86401, "default_id_tag": "t"}
        )


# -- reconfigure --------------------------------------------------------------------------------


async def test_reconfigure_success(
    hass: HomeAssistant, csms: TestCsms, mock_setup_entry: AsyncMock
) -> None:
    entry = make_entry(hass, f"ws://127.0.0.1:{closed_port()}/ocpp", serial_number="S1")
    assert await hass.config_entries.async_setup(entry.entry_id)
    options = dict(entry.options)

    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert suggested(result, "csms_url") == entry.data["csms_url"]
    assert suggested(result, "security_profile") == "0"
    assert suggested(result, "serial_number") == "S1"
    assert suggested(result, "number_of_connectors") == 1

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], connection(csms.url, charge_point_id="CP7")
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data == stored(csms.url, charge_point_id="CP7")
    assert entry.unique_id == f"{csms.url}|CP7"
    assert entry.title == "CP7"
    assert entry.options == options
    assert entry.state is ConfigEntryState.LOADED
    assert len(mock_setup_entry.mock_calls) == 2


async def test_reconfigure_error_keeps_input(hass: HomeAssistant, csms: TestCsms) -> None:
    entry = make_entry(hass, csms.url)
    csms.expected_password = "pw"
    result = await entry.start_reconfigure_flow(hass)
    user_input = connection(csms.url, security_profile="1", authorization_key="nope")
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert result["errors"] == {"authorization_key": "invalid_auth"}
    assert suggested(result, "authorization_key") == "nope"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], connection(f"ws://127.0.0.1:{closed_port()}/ocpp")
    )
    assert result["errors"] == {"base": "cannot_connect"}
    assert entry.data == stored(csms.url)


async def test_reconfigure_collision(hass: HomeAssistant, csms: TestCsms) -> None:
    make_entry(hass, csms.url, charge_point_id="CP1")
    other = make_entry(hass, csms.url, charge_point_id="CP2")
    result = await other.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], connection(csms.url + "/", charge_point_id="CP1")
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "unique_id_in_use"
    assert other.data["charge_point_id"] == "CP2"
    assert csms.connection_count == 0


async def test_reconfigure_more_connectors_maps_the_new_ones(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    entry = make_entry(hass, csms.url, connectors=2)
    hass.config_entries.async_update_entry(entry, title="My charger")
    first = entry.options["mapping"]["1"]
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], connection(csms.url, number_of_connectors=3)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "mapping"
    assert placeholders(result)["connector"] == "3"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"charge_switch": "switch.three", "plug_sensor": PLUG}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["number_of_connectors"] == 3
    assert entry.title == "My charger"
    assert entry.options["mapping"]["1"] == first
    assert entry.options["mapping"]["3"] == {
        "charge_switch": "switch.three",
        "plug_sensor": PLUG,
        "phases": 1,
        "nominal_voltage": 230,
    }

    # Fewer connectors drop the mapping of the removed ones.
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], connection(csms.url, number_of_connectors=1)
    )
    assert result["type"] is FlowResultType.ABORT
    assert list(entry.options["mapping"]) == ["1"]


async def test_reconfigure_pending(hass: HomeAssistant, csms: TestCsms) -> None:
    entry = make_entry(hass, csms.url)
    csms.boot_answers = [("Pending", 10)]
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], connection(csms.url, model="Other")
    )
    assert result["step_id"] == "pending"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["model"] == "Other"


async def test_reconfigure_reloads_exactly_once(
    hass: HomeAssistant, csms: TestCsms, mock_setup_entry: AsyncMock
) -> None:
    """The flow only updates the entry; the integration's update listener does the reload."""
    entry = make_entry(hass, csms.url)
    assert await hass.config_entries.async_setup(entry.entry_id)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], connection(csms.url, vendor="Other")
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data["vendor"] == "Other"
    assert len(mock_setup_entry.mock_calls) == 2  # the first setup and one reload


# -- reauth -------------------------------------------------------------------------------------


async def test_reauth(hass: HomeAssistant, csms: TestCsms, mock_setup_entry: AsyncMock) -> None:
    entry = make_entry(hass, csms.url, security_profile=1, authorization_key="old")
    assert await hass.config_entries.async_setup(entry.entry_id)
    csms.expected_password = "new"

    result = await entry.start_reauth_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert placeholders(result)["charge_point_id"] == "CP1"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"authorization_key": "still-wrong"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert result["errors"] == {"authorization_key": "invalid_auth"}
    assert entry.data["authorization_key"] == "old"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"authorization_key": "new"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.data == stored(csms.url, security_profile=1, authorization_key="new")
    assert len(mock_setup_entry.mock_calls) == 2


async def test_reauth_errors_go_to_base(hass: HomeAssistant) -> None:
    entry = make_entry(
        hass,
        f"ws://127.0.0.1:{closed_port()}/ocpp",
        security_profile=1,
        authorization_key="old",
    )
    result = await entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"authorization_key": "new"}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"authorization_key": ""}
    )
    assert result["errors"] == {"authorization_key": "missing_key"}


# -- translations -------------------------------------------------------------------------------


def test_translations_cover_the_flows() -> None:
    en = json.loads((COMPONENT / "translations" / "en.json").read_text())
    assert (COMPONENT / "strings.json").read_text() == (
        COMPONENT / "translations" / "en.json"
    ).read_text()
    config, options = en["config"], en["options"]

    errors = {key for _, key in config_flow.CONNECT_ERRORS.values()} | {
        "missing_key",
        "wss_required",
        "missing_client_cert",
        "v1_ca_needs_file",
        "file_not_found",
        "invalid_charge_point_id",
        "invalid_url",
        "invalid_status_mapping",
        "plug_or_status_required",
        "boot_rejected",
        "no_answer",
        "unknown",
    }
    assert errors <= set(config["error"])
    assert {"invalid_status_mapping", "plug_or_status_required", "invalid_id_tag"} <= set(
        options["error"]
    )
    assert {
        "already_configured",
        "already_in_progress",
        "reauth_successful",
        "reconfigure_successful",
        "unique_id_in_use",
    } <= set(config["abort"])

    connection_fields = {str(m) for m in config_flow.connection_schema().schema}
    mapping_fields = {str(m) for m in config_flow.mapping_schema().schema}
    for step in ("user", "reconfigure"):
        assert set(config["step"][step]["data"]) == connection_fields
        assert set(config["step"][step]["data_description"]) == connection_fields
    for section in (config, options):
        assert set(section["step"]["mapping"]["data"]) == mapping_fields
        assert set(section["step"]["mapping"]["data_description"]) == mapping_fields
    assert set(config["step"]) == {
        "user",
        "pending",
        "firmware",
        "mapping",
        "reconfigure",
        "reauth_confirm",
    }
    assert set(options["step"]) == {
        "init",
        "connector",
        "firmware",
        "mapping",
        "behaviour",
        "site_guard",
    }
    assert set(options["step"]["init"]["menu_options"]) == {"mapping", "behaviour", "site_guard"}
    assert set(en["selector"]["security_profile"]["options"]) == {"0", "1", "2", "3"}
    assert set(en["selector"]["phases"]["options"]) == {"1", "3"}


def test_an_unexpected_settings_error_is_a_generic_form_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A setting the form cannot name (a new EngineSettings rule) still ends as an error."""
    errors = config_flow.settings_error(SettingsError("phases", "phases must be 1, 2 or 3"), {})
    assert errors == {"base": "unknown"}
    assert "Unexpected setting error for phases" in caplog.text


async def test_a_crash_while_trying_the_csms_is_a_form_error(
    hass: HomeAssistant, csms: TestCsms, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug of ours in the probe shows "unknown" on the form instead of a broken flow."""

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(config_flow, "probe_csms", broken)
    result = await start_user(hass)
    result = await submit(hass, result, connection(csms.url))
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "unknown"}
