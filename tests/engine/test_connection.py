"""Connection supervision: redial, half-open links, errors in words, security profiles."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from ocpp.v16 import call

from custom_components.ocpp_cp.engine import (
    ConnectErrorKind,
    ConnectionState,
    EngineSettings,
    SecurityProfile,
    SettingsError,
)
from tests.csms import TestCsms

from .conftest import EngineFactory
from .test_core import accepted_engine, wait_state
from .tls import make_pki

AUTH_KEY = "0123456789abcdef0123"


async def wait_error(engine: object, kind: ConnectErrorKind, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while getattr(engine, "last_error_kind") != kind:  # noqa: B009
            await asyncio.sleep(0.01)


def test_url_is_base_plus_percent_encoded_id() -> None:
    settings = EngineSettings(csms_url="ws://example.org/ocpp/", charge_point_id="Garage 1/é")
    assert settings.connection_url == "ws://example.org/ocpp/Garage%201%2F%C3%A9"


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"csms_url": "http://example.org"}, "csms_url"),
        (
            {"csms_url": "ws://example.org", "security_profile": SecurityProfile.TLS_BASIC_AUTH},
            "csms_url",
        ),
        ({"security_profile": SecurityProfile.BASIC_AUTH}, "authorization_key"),
        (
            {"csms_url": "wss://example.org", "security_profile": SecurityProfile.TLS_CLIENT_CERT},
            "client_cert_file",
        ),
        ({"charge_point_id": ""}, "charge_point_id"),
        ({"number_of_connectors": 0}, "number_of_connectors"),
        ({"measurands": frozenset({"Bogus"})}, "measurands"),
    ],
)
def test_settings_refuse_what_cannot_work(options: dict[str, object], key: str) -> None:
    values: dict[str, object] = {"csms_url": "ws://example.org", "charge_point_id": "CP1"}
    values.update(options)
    with pytest.raises(SettingsError) as err:
        EngineSettings(**values)  # type: ignore[arg-type]
    assert err.value.key == key


def test_backoff_grows_with_jitter_and_cap(make_engine: EngineFactory) -> None:
    engine = make_engine("ws://127.0.0.1:9", reconnect_initial_delay=1.0, reconnect_max_delay=60.0)
    first = [engine.services.connection.backoff_delay(0) for _ in range(50)]
    assert all(0.75 <= d <= 1.25 for d in first)
    assert len({round(d, 6) for d in first}) > 40  # jittered, not lockstep
    assert all(3.0 <= engine.services.connection.backoff_delay(2) <= 5.0 for _ in range(20))
    assert all(45.0 <= engine.services.connection.backoff_delay(12) <= 75.0 for _ in range(20))


async def test_reconnects_after_csms_drops_without_rebooting(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    engine = await accepted_engine(csms, make_engine, number_of_connectors=2)
    engine.set_plugged(2, True)
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Preparing")
    mark = len(csms.received)
    await csms.drop()
    await wait_state(engine, ConnectionState.DISCONNECTED)
    await wait_state(engine, ConnectionState.ACCEPTED)
    for connector_id in (0, 1, 2):
        await csms.wait_for(
            "StatusNotification", lambda p, c=connector_id: p["connector_id"] == c, after=mark
        )
    assert csms.connection_count == 2
    assert len(csms.actions("BootNotification")) == 1  # a reconnect is not a reboot
    statuses = [r.payload for r in csms.received[mark:] if r.action == "StatusNotification"]
    assert {s["connector_id"]: s["status"] for s in statuses}[2] == "Preparing"


async def test_half_open_link_detected_by_ping(csms: TestCsms, make_engine: EngineFactory) -> None:
    engine = await accepted_engine(csms, make_engine, pong_timeout=0.5)
    result = await csms.call(call.ChangeConfiguration(key="WebSocketPingInterval", value="1"))
    assert result.status == "Accepted"
    csms.go_silent()
    await wait_state(engine, ConnectionState.DISCONNECTED, timeout=15)
    assert engine.last_error == "the CSMS stopped answering WebSocket pings"
    await wait_state(engine, ConnectionState.ACCEPTED, timeout=15)
    assert csms.connection_count == 2


async def test_csms_restart_is_survived(make_engine: EngineFactory) -> None:
    first = await TestCsms.start()
    port = first.port
    engine = make_engine(first.url)
    try:
        await engine.start()
        await wait_state(engine, ConnectionState.ACCEPTED)
    finally:
        await first.stop()
    await wait_error(engine, ConnectErrorKind.REFUSED)
    assert engine.last_error == "connection refused by the CSMS host"
    second = await TestCsms.start(port=port)
    try:
        await wait_state(engine, ConnectionState.ACCEPTED, timeout=15)
        await second.wait_for("StatusNotification")
    finally:
        await second.stop()


async def test_offline_stays_away_until_online(csms: TestCsms, make_engine: EngineFactory) -> None:
    engine = await accepted_engine(csms, make_engine)
    engine.go_offline()
    await wait_state(engine, ConnectionState.DISCONNECTED)
    await asyncio.sleep(0.5)
    assert csms.connection_count == 1
    engine.go_online()
    await wait_state(engine, ConnectionState.ACCEPTED)
    assert csms.connection_count == 2


async def test_unauthorized_and_unknown_id_in_words(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    csms.expected_password = AUTH_KEY
    engine = make_engine(
        csms.url, security_profile=SecurityProfile.BASIC_AUTH, authorization_key="wrong-key-0123456"
    )
    await engine.start()
    await wait_error(engine, ConnectErrorKind.UNAUTHORIZED)
    assert engine.last_error is not None and engine.last_error.startswith("HTTP 401")
    await engine.stop()
    csms.known_ids = {"CP1"}
    unknown = make_engine(
        csms.url,
        charge_point_id="CP2",
        security_profile=SecurityProfile.BASIC_AUTH,
        authorization_key=AUTH_KEY,
    )
    await unknown.start()
    await wait_error(unknown, ConnectErrorKind.NOT_FOUND)
    assert unknown.last_error is not None
    assert "wrong path or unknown charge point id" in unknown.last_error
    await unknown.stop()
    good = make_engine(
        csms.url, security_profile=SecurityProfile.BASIC_AUTH, authorization_key=AUTH_KEY
    )
    await good.start()
    await wait_state(good, ConnectionState.ACCEPTED)


async def test_dns_failure_in_words(make_engine: EngineFactory) -> None:
    engine = make_engine("ws://no-such-host.invalid:9000/ocpp", connect_timeout=5)
    await engine.start()
    await wait_error(engine, ConnectErrorKind.DNS, timeout=15)
    assert engine.last_error == "cannot resolve the CSMS host no-such-host.invalid:9000"


async def test_authorization_key_change_reconnects_with_new_key(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    csms.expected_password = AUTH_KEY
    engine = await accepted_engine(
        csms, make_engine, security_profile=SecurityProfile.BASIC_AUTH, authorization_key=AUTH_KEY
    )
    new_key = "fedcba9876543210fedcba98"
    result = await csms.call(call.ChangeConfiguration(key="AuthorizationKey", value=new_key))
    assert result.status == "Accepted"  # answered before the reconnect
    csms.expected_password = new_key
    await wait_state(engine, ConnectionState.DISCONNECTED)
    await wait_state(engine, ConnectionState.ACCEPTED)
    assert csms.connection_count == 2
    lower = await csms.call(call.ChangeConfiguration(key="SecurityProfile", value="0"))
    assert lower.status == "Rejected"  # a profile is never lowered
    tls_over_ws = await csms.call(call.ChangeConfiguration(key="SecurityProfile", value="2"))
    assert tls_over_ws.status == "Rejected"  # profile 2 needs wss://


@pytest.mark.parametrize(
    "profile", [SecurityProfile.TLS_BASIC_AUTH, SecurityProfile.TLS_CLIENT_CERT]
)
async def test_tls_profiles(
    tmp_path: Path, make_engine: EngineFactory, profile: SecurityProfile
) -> None:
    pki = make_pki(tmp_path)
    client_cert = profile == SecurityProfile.TLS_CLIENT_CERT
    csms = await TestCsms.start(ssl_context=pki.server_context(require_client_cert=client_cert))
    try:
        if not client_cert:
            csms.expected_password = AUTH_KEY
        options: dict[str, object] = {
            "security_profile": profile,
            "ca_file": str(pki.ca_file),
        }
        if client_cert:
            options |= {
                "client_cert_file": str(pki.client_cert),
                "client_key_file": str(pki.client_key),
            }
        else:
            options |= {"authorization_key": AUTH_KEY}
        wrong_ca = make_engine(csms.url, **(options | {"ca_file": str(pki.other_ca_file)}))
        await wrong_ca.start()
        await wait_error(wrong_ca, ConnectErrorKind.TLS)
        assert wrong_ca.last_error is not None
        assert wrong_ca.last_error.startswith("TLS certificate verification failed")
        await wrong_ca.stop()
        assert csms.connection_count == 0
        engine = make_engine(csms.url, **options)
        await engine.start()
        await wait_state(engine, ConnectionState.ACCEPTED)
        await csms.wait_for("StatusNotification")
    finally:
        await csms.stop()


async def test_client_certificate_required_for_profile_3(
    tmp_path: Path, make_engine: EngineFactory
) -> None:
    pki = make_pki(tmp_path)
    csms = await TestCsms.start(ssl_context=pki.server_context(require_client_cert=True))
    try:
        # profile 2 without a client certificate: the CSMS refuses the TLS handshake
        engine = make_engine(
            csms.url,
            security_profile=SecurityProfile.TLS_BASIC_AUTH,
            authorization_key=AUTH_KEY,
            ca_file=str(pki.ca_file),
        )
        await engine.start()
        async with asyncio.timeout(10):
            while engine.last_error is None:
                await asyncio.sleep(0.01)
        assert engine.state != ConnectionState.ACCEPTED
        assert csms.connection_count == 0
    finally:
        await csms.stop()


async def test_unavailable_logged_once_and_recovery_once(
    make_engine: EngineFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="custom_components.ocpp_cp.engine")
    first = await TestCsms.start()
    port = first.port
    engine = make_engine(first.url)
    try:
        await engine.start()
        await wait_state(engine, ConnectionState.ACCEPTED)
    finally:
        await first.stop()
    await wait_error(engine, ConnectErrorKind.REFUSED)
    await asyncio.sleep(0.5)  # several more failed attempts
    second = await TestCsms.start(port=port)
    try:
        await wait_state(engine, ConnectionState.ACCEPTED, timeout=15)
        # read before the second CSMS goes away too (that would be an outage of its own)
        records = [r for r in caplog.records if r.name.endswith("services.connection")]
    finally:
        await second.stop()
    warnings = [r for r in records if r.levelname == "WARNING" and "unavailable" in r.message]
    assert len(warnings) == 1
    assert len([r for r in records if r.levelname == "INFO" and r.message.endswith("is back")]) == 1


async def test_a_deliberate_reconnect_closes_cleanly_and_is_no_outage(
    make_engine: EngineFactory, caplog: pytest.LogCaptureFixture, csms: TestCsms
) -> None:
    """Reconnect (the HA button, new credentials, a reset) sends a close frame (1000) and
    logs at INFO; only a lost link is a WARNING."""
    caplog.set_level(logging.DEBUG, logger="custom_components.ocpp_cp.engine")
    engine = make_engine(csms.url)
    await engine.start()
    await wait_state(engine, ConnectionState.ACCEPTED)
    engine.reconnect()
    async with asyncio.timeout(15):
        while csms.connection_count < 2 or engine.state != ConnectionState.ACCEPTED:
            await asyncio.sleep(0.01)
    assert csms.close_codes[0] == 1000
    records = [r for r in caplog.records if r.name.endswith("services.connection")]
    assert not [r for r in records if r.levelname == "WARNING"]
    assert any(r.levelname == "INFO" and "Reconnecting" in r.getMessage() for r in records)
    assert len(csms.actions("BootNotification")) == 1  # a reconnect is no reboot
