"""The security-log messages against ocpp-rpc in strict mode (Node): no schema violations."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from custom_components.ocpp_cp.engine import ConnectionState
from tests.strict_csms_harness import StrictCsms

from .conftest import EngineFactory
from .test_core import wait_state
from .test_get_log import FtpServer


@pytest.fixture
async def strict() -> AsyncIterator[StrictCsms]:
    async with StrictCsms() as server:
        yield server


@pytest.fixture
def ftp(tmp_path: Path) -> Iterator[FtpServer]:
    (tmp_path / "ftp" / "logs").mkdir(parents=True)
    server = FtpServer(tmp_path / "ftp")
    try:
        yield server
    finally:
        server.close()


def result_of(event: dict[str, Any]) -> dict[str, Any]:
    assert event["event"] == "result_in", event
    result: dict[str, Any] = event["result"]
    return result


def is_call(method: str, **params: Any) -> Any:
    return lambda e: (
        e.get("event") == "call_in"
        and e["method"] == method
        and all(e["params"].get(k) == v for k, v in params.items())
    )


async def test_security_log_messages_without_schema_violations(
    strict: StrictCsms, make_engine: EngineFactory, ftp: FtpServer
) -> None:
    engine = make_engine(strict.url)
    await engine.start()
    await wait_state(engine, ConnectionState.ACCEPTED)
    await strict.wait_for(is_call("SecurityEventNotification", type="StartupOfTheDevice"))

    get_log = {"log": {"remoteLocation": ftp.url("logs")}, "logType": "SecurityLog"}
    answer = result_of(await strict.call("GetLog", {**get_log, "requestId": 1}))
    assert answer["status"] == "Accepted"
    await strict.wait_for(is_call("LogStatusNotification", status="Uploaded", requestId=1))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    failing = {
        "log": {
            "remoteLocation": f"http://127.0.0.1:{closed}/x",
            "oldestTimestamp": "2020-01-01T00:00:00Z",
            "latestTimestamp": "2099-01-01T00:00:00.000Z",
        },
        "logType": "DiagnosticsLog",
        "requestId": 2,
        "retries": 0,
        "retryInterval": 0,
    }
    assert result_of(await strict.call("GetLog", failing))["status"] == "Accepted"
    await strict.wait_for(is_call("LogStatusNotification", status="UploadFailure", requestId=2))
    rejected = {**get_log, "requestId": 3, "log": {"remoteLocation": "sftp://127.0.0.1/x"}}
    assert result_of(await strict.call("GetLog", rejected)) == {"status": "Rejected"}

    for requested, status in (
        ("BootNotification", "Accepted"),
        ("LogStatusNotification", "Accepted"),
        ("FirmwareStatusNotification", "Accepted"),
        ("Heartbeat", "Accepted"),
        ("MeterValues", "Accepted"),
        ("SignChargePointCertificate", "Accepted"),
        ("StatusNotification", "Accepted"),
    ):
        answer = result_of(
            await strict.call("ExtendedTriggerMessage", {"requestedMessage": requested})
        )
        assert answer == {"status": status}, requested
    await strict.wait_for(is_call("LogStatusNotification", status="Idle"))
    await strict.wait_for(is_call("SignedFirmwareStatusNotification", status="Idle"))
    await strict.wait_for(is_call("SignCertificate"))

    await engine.services.security.record("TamperDetectionActivated", "lid opened")
    await strict.wait_for(is_call("SecurityEventNotification", techInfo="lid opened"))
    assert result_of(await strict.call("Reset", {"type": "Soft"}))["status"] == "Accepted"
    await strict.wait_for(is_call("SecurityEventNotification", type="ResetOrReboot"))
    await strict.check_no_violations()
