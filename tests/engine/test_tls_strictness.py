"""TLS with real-world PKIs: a pinned X.509 v1 root, a server name other than the host dialled,
and a client certificate the CSMS refuses, each said in words (real TLS on 127.0.0.1)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from custom_components.ocpp_cp.engine import (
    ChargePointEngine,
    ConnectErrorKind,
    ConnectionState,
    EngineSettings,
    SecurityProfile,
    SettingsError,
)
from tests.csms import TestCsms

from .conftest import EngineFactory
from .test_core import wait_state
from .tls import TlsFront, client_leaf, root_ca, server_leaf, tls_server, v1_root, write_pair

AUTH_KEY = "0123456789abcdef0123"


async def refused(engine: ChargePointEngine, timeout: float = 10) -> str:
    """The first connection error, once the engine has one."""
    async with asyncio.timeout(timeout):
        while engine.last_error is None:
            await asyncio.sleep(0.01)
    assert engine.last_error_kind == ConnectErrorKind.TLS
    assert engine.state != ConnectionState.ACCEPTED
    return engine.last_error


def record_events(engine: ChargePointEngine) -> list[str]:
    events: list[str] = []
    engine.ctx.security_sink = lambda kind, info: events.append(kind)
    return events


async def test_v1_root_refused_by_default_accepted_when_pinned(
    make_engine: EngineFactory, tmp_path: Path
) -> None:
    root = v1_root("legacy v1 CSMS root")
    (tmp_path / "v1.pem").write_text(root.pem)
    csms = await TestCsms.start(ssl_context=tls_server(tmp_path, server_leaf(root)))
    try:
        strict = make_engine(csms.url, ca_file=str(tmp_path / "v1.pem"))
        events = record_events(strict)
        await strict.start()
        error = await refused(strict)
        assert "v1 CA option" in error, error
        await asyncio.sleep(0.6)  # several more dials (0.05-0.2 s apart), the same failure
        assert events == ["CentralSystemFailedToAuthenticate"]  # once, not once a dial
        await strict.stop()
        assert csms.connection_count == 0

        pinned = make_engine(csms.url, ca_file=str(tmp_path / "v1.pem"), tls_allow_v1_ca=True)
        await pinned.start()
        await wait_state(pinned, ConnectionState.ACCEPTED)
        assert csms.connection_count == 1
    finally:
        await csms.stop()
    with pytest.raises(SettingsError) as err:  # only for a pinned CA, never the system store
        EngineSettings(csms_url="wss://example.org", charge_point_id="CP1", tls_allow_v1_ca=True)
    assert err.value.key == "ca_file"


async def test_expected_server_name(make_engine: EngineFactory, tmp_path: Path) -> None:
    root = root_ca("CSMS root")
    (tmp_path / "root.pem").write_text(root.pem)
    leaf = server_leaf(root, "csms.example")  # dialled as localhost
    csms = await TestCsms.start(ssl_context=tls_server(tmp_path, leaf))
    try:
        options: dict[str, Any] = {"ca_file": str(tmp_path / "root.pem")}
        dialled = make_engine(csms.url, **options)
        events = record_events(dialled)
        await dialled.start()
        error = await refused(dialled)
        assert "does not name localhost: set the expected server name" in error, error
        assert events[0] == "CentralSystemFailedToAuthenticate"
        await dialled.stop()

        wrong = make_engine(csms.url, tls_server_name="other.example", **options)
        await wrong.start()
        assert "does not name other.example" in await refused(wrong)
        await wrong.stop()
        assert csms.connection_count == 0

        expected = make_engine(csms.url, tls_server_name="csms.example", **options)
        await expected.start()
        await wait_state(expected, ConnectionState.ACCEPTED)
    finally:
        await csms.stop()


@pytest.fixture
async def backend() -> AsyncIterator[TestCsms]:
    server = await TestCsms.start()
    yield server
    await server.stop()


async def test_refused_client_certificate_is_said_so(
    backend: TestCsms, make_engine: EngineFactory, tmp_path: Path
) -> None:
    """A TLS terminator that requires a client certificate of its CA: none, one of another
    CA, and the right one (which gets through to the CSMS behind it)."""
    root = root_ca("CSMS root")
    (tmp_path / "root.pem").write_text(root.pem)
    context = tls_server(tmp_path, server_leaf(root), client_ca=(root.cert,))
    front = TlsFront(context, backend.port)
    try:
        without = make_engine(
            front.url(),
            security_profile=SecurityProfile.TLS_BASIC_AUTH,
            authorization_key=AUTH_KEY,
            ca_file=str(tmp_path / "root.pem"),
        )
        events = record_events(without)
        await without.start()
        error = await refused(without)
        assert error == (
            "TLS: the CSMS requires a client certificate (TLSV13_ALERT_CERTIFICATE_REQUIRED)"
        )
        assert "valid HTTP response" not in error
        assert events[0] == "FailedToAuthenticateAtCentralSystem"
        await without.stop()

        foreign_cert, foreign_key = write_pair(tmp_path, "foreign", client_leaf(root_ca("other")))
        foreign = make_engine(
            front.url(),
            security_profile=SecurityProfile.TLS_CLIENT_CERT,
            ca_file=str(tmp_path / "root.pem"),
            client_cert_file=foreign_cert,
            client_key_file=foreign_key,
        )
        await foreign.start()
        error = await refused(foreign)
        assert "does not trust the CA of the client certificate" in error, error
        await foreign.stop()
        assert backend.connection_count == 0

        good_cert, good_key = write_pair(tmp_path, "good", client_leaf(root))
        good = make_engine(
            front.url(),
            security_profile=SecurityProfile.TLS_CLIENT_CERT,
            ca_file=str(tmp_path / "root.pem"),
            client_cert_file=good_cert,
            client_key_file=good_key,
        )
        await good.start()
        await wait_state(good, ConnectionState.ACCEPTED)
        assert dict(x[0] for x in front.peer_certs[-1]["subject"])["commonName"] == "CP1"
    finally:
        await asyncio.get_running_loop().run_in_executor(None, front.close)
