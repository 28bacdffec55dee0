"""Self-tests for the strict Node CSMS harness (tests/strict_csms_harness.py).

A hand-written minimal charge point (plain ``websockets`` client) sends valid and invalid
OCPP 1.6J messages to prove that the harness really reports schema violations in both
directions. Needs ``npm ci`` in tests/strict_csms.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.connection import Connection
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from tests.strict_csms_harness import STRICT_CSMS_DIR, StrictCsms, StrictCsmsError

pytestmark = pytest.mark.skipif(
    not (STRICT_CSMS_DIR / "node_modules" / "ocpp-rpc").is_dir(),
    reason="run `npm ci` in tests/strict_csms first",
)

TEST_TIMEOUT = 20.0
IDENTITY = "CP_SELFTEST"
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")

CALL, CALLRESULT, CALLERROR = 2, 3, 4

VALID_BOOT = {"chargePointVendor": "SelfTest", "chargePointModel": "Mini"}


class MiniChargePoint:
    """Just enough of an OCPP-J 1.6 charge point to poke the strict CSMS."""

    def __init__(self, ws: Connection) -> None:
        self.ws = ws
        self._ids = itertools.count(1)

    async def send(self, frame: list[Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def recv(self, seconds: float = 5.0) -> list[Any]:
        async with asyncio.timeout(seconds):
            raw = await self.ws.recv()
        frame = json.loads(raw)
        assert isinstance(frame, list)
        return frame

    async def call(self, action: str, payload: Any) -> list[Any]:
        """Send a CALL and return the CALLRESULT/CALLERROR frame answering it."""
        message_id = f"sel-{next(self._ids)}"
        await self.send([CALL, message_id, action, payload])
        while True:
            frame = await self.recv()
            if frame[0] in (CALLRESULT, CALLERROR) and frame[1] == message_id:
                return frame

    async def expect_call(self, action: str) -> list[Any]:
        frame = await self.recv()
        assert frame[0] == CALL, frame
        assert frame[2] == action, frame
        return frame

    async def assert_silent(self, seconds: float = 0.3) -> None:
        try:
            async with asyncio.timeout(seconds):
                frame = await self.ws.recv()
        except TimeoutError:
            return
        pytest.fail(f"unexpected frame {frame!r}")


@pytest.fixture
async def csms(socket_enabled: None) -> AsyncIterator[StrictCsms]:
    server = StrictCsms()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
        assert not server.running, "strict CSMS process left behind"


async def _connect(csms: StrictCsms, identity: str = IDENTITY) -> ClientConnection:
    ws = await connect(
        f"{csms.url}/{identity}",
        subprotocols=[Subprotocol("ocpp1.6")],
        open_timeout=5,
        close_timeout=2,
    )
    assert ws.subprotocol == "ocpp1.6"
    await csms.wait_for_event("connected", identity=identity)
    return ws


async def test_valid_boot_notification_is_accepted_without_violation(csms: StrictCsms) -> None:
    async with asyncio.timeout(TEST_TIMEOUT):
        async with await _connect(csms) as ws:
            cp = MiniChargePoint(ws)
            frame = await cp.call("BootNotification", VALID_BOOT)
            assert frame[0] == CALLRESULT, frame
            result = frame[2]
            assert result["status"] == "Accepted"
            assert result["interval"] == 300
            assert ISO_Z.match(result["currentTime"]), result

            event = await csms.wait_for_event("call_in", method="BootNotification")
            assert event["params"] == VALID_BOOT
            assert event["identity"] == IDENTITY

            # The other canned answers, including the transaction id counter.
            start = {"connectorId": 1, "idTag": "TAG", "meterStart": 0}
            start["timestamp"] = result["currentTime"]
            first = await cp.call("StartTransaction", start)
            second = await cp.call("StartTransaction", start)
            assert first[0] == second[0] == CALLRESULT
            assert (first[2]["transactionId"], second[2]["transactionId"]) == (1, 2)
            assert first[2]["idTagInfo"] == {"status": "Accepted"}
            heartbeat = await cp.call("Heartbeat", {})
            assert ISO_Z.match(heartbeat[2]["currentTime"])
        await csms.wait_for_event("disconnected", identity=IDENTITY)
    await csms.check_no_violations()


@pytest.mark.parametrize(
    ("payload", "wire_code", "keyword"),
    [
        pytest.param(
            {"chargePointVendor": "V" * 30, "chargePointModel": "Mini"},
            "FormationViolation",
            "maxLength",
            id="vendor-too-long",
        ),
        pytest.param(
            {"chargePointVendor": "SelfTest"},
            "OccurrenceConstraintViolation",
            "required",
            id="model-missing",
        ),
    ],
)
async def test_invalid_call_from_charge_point_is_inbound_violation(
    csms: StrictCsms, payload: dict[str, Any], wire_code: str, keyword: str
) -> None:
    async with asyncio.timeout(TEST_TIMEOUT), await _connect(csms) as ws:
        cp = MiniChargePoint(ws)
        frame = await cp.call("BootNotification", payload)
        assert frame[0] == CALLERROR, frame
        assert frame[2] == wire_code, frame

        violation = await csms.wait_for_event("violation")
        assert violation["direction"] == "in"
        assert violation["source"] == "strict"
        assert violation["method"] == "BootNotification"
        assert violation["isCall"] is True
        assert violation["payload"] == payload
        assert violation["details"][0]["keyword"] == keyword
        # Handled as a proper CALL (call_in) but never answered with the canned result.
        await csms.wait_for_event("call_in", method="BootNotification")
        assert len(csms.violations) == 1, csms.violations


async def test_invalid_response_from_charge_point_is_inbound_violation(
    csms: StrictCsms,
) -> None:
    async with asyncio.timeout(TEST_TIMEOUT), await _connect(csms) as ws:
        cp = MiniChargePoint(ws)
        pending = asyncio.create_task(csms.call("GetConfiguration", {}))
        request = await cp.expect_call("GetConfiguration")
        assert request[3] == {}
        await cp.send([CALLRESULT, request[1], {"configurationKey": "HeartbeatInterval"}])

        answer = await pending
        assert answer["event"] == "error_in"
        assert answer["source"] == "validation"
        assert answer["code"] == "TypeConstraintViolation"
        assert answer["result"] == {"configurationKey": "HeartbeatInterval"}

        # ocpp-rpc flags it with outbound=false: the charge point sent it, so "in".
        (violation,) = csms.violations
        assert violation["direction"] == "in"
        assert violation["isCall"] is False
        assert violation["method"] == "GetConfiguration"
        assert violation["messageId"] == request[1]
        # A response is never answered, not even with a CALLERROR.
        await cp.assert_silent()


async def test_valid_response_from_charge_point_gives_result_in(csms: StrictCsms) -> None:
    valid = {
        "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
        "unknownKey": ["Nope"],
    }
    async with asyncio.timeout(TEST_TIMEOUT), await _connect(csms) as ws:
        cp = MiniChargePoint(ws)
        pending = asyncio.create_task(
            csms.call("GetConfiguration", {"key": ["HeartbeatInterval", "Nope"]})
        )
        request = await cp.expect_call("GetConfiguration")
        assert request[3] == {"key": ["HeartbeatInterval", "Nope"]}
        await cp.send([CALLRESULT, request[1], valid])

        answer = await pending
        assert answer["event"] == "result_in"
        assert answer["result"] == valid
        assert answer["method"] == "GetConfiguration"
        assert answer["messageId"] == request[1]
        await csms.wait_for_event("call_out", messageId=request[1])
    await csms.check_no_violations()


async def test_callerror_from_charge_point_gives_error_in(csms: StrictCsms) -> None:
    async with asyncio.timeout(TEST_TIMEOUT), await _connect(csms) as ws:
        cp = MiniChargePoint(ws)
        pending = asyncio.create_task(csms.call("Reset", {"type": "Soft"}))
        request = await cp.expect_call("Reset")
        await cp.send([CALLERROR, request[1], "NotSupported", "no resets today", {"x": 1}])

        answer = await pending
        assert answer["event"] == "error_in"
        assert answer["source"] == "callerror"
        assert (answer["code"], answer["message"], answer["details"]) == (
            "NotSupported",
            "no resets today",
            {"x": 1},
        )
    await csms.check_no_violations()


async def test_malformed_callerror_from_charge_point_is_inbound_violation(
    csms: StrictCsms,
) -> None:
    async with asyncio.timeout(TEST_TIMEOUT), await _connect(csms) as ws:
        cp = MiniChargePoint(ws)
        pending = asyncio.create_task(csms.call("Reset", {"type": "Soft"}))
        request = await cp.expect_call("Reset")
        await cp.send([CALLERROR, request[1], "Nope", "bad code", None])
        answer = await pending
        assert (answer["event"], answer["source"], answer["code"]) == (
            "error_in",
            "callerror",
            "Nope",
        )
        (violation,) = csms.violations
        assert (violation["direction"], violation["source"]) == ("in", "frame")
        assert "not an OCPP 1.6 error code" in violation["error"]
        assert "errorDetails" in violation["error"]


async def test_invalid_csms_response_is_outbound_violation(csms: StrictCsms) -> None:
    async with asyncio.timeout(TEST_TIMEOUT), await _connect(csms) as ws:
        cp = MiniChargePoint(ws)
        await csms.set_response("BootNotification", {"status": "Maybe", "interval": "soon"})
        frame = await cp.call("BootNotification", VALID_BOOT)
        # ocpp-rpc drops the invalid answer and sends InternalError instead.
        assert frame[0] == CALLERROR, frame
        assert frame[2] == "InternalError"
        await csms.sync()
        (violation,) = csms.violations
        assert violation["direction"] == "out"
        assert violation["isCall"] is False
        assert violation["method"] == "BootNotification"

        await csms.reset_response("BootNotification")
        frame = await cp.call("BootNotification", VALID_BOOT)
        assert frame[0] == CALLRESULT
        assert frame[2]["status"] == "Accepted"
        await csms.sync()
        assert len(csms.violations) == 1

        await csms.set_response(
            "BootNotification",
            {"status": "Pending", "interval": 5, "currentTime": "2025-01-01T00:00:00Z"},
        )
        frame = await cp.call("BootNotification", VALID_BOOT)
        assert frame[2] == {
            "status": "Pending",
            "interval": 5,
            "currentTime": "2025-01-01T00:00:00Z",
        }
        await csms.sync()
        assert len(csms.violations) == 1


async def test_invalid_csms_call_is_outbound_violation_and_not_sent(csms: StrictCsms) -> None:
    async with asyncio.timeout(TEST_TIMEOUT), await _connect(csms) as ws:
        cp = MiniChargePoint(ws)
        answer = await csms.call("GetConfiguration", {"key": "HeartbeatInterval"})
        assert (answer["event"], answer["source"]) == ("error_in", "validation")
        assert answer["code"] == "TypeConstraintViolation"
        (violation,) = csms.violations
        assert (violation["direction"], violation["isCall"]) == ("out", True)
        assert violation["messageId"] is None
        await cp.assert_silent()


async def test_unexpected_action_from_charge_point_is_inbound_violation(
    csms: StrictCsms,
) -> None:
    async with asyncio.timeout(TEST_TIMEOUT), await _connect(csms) as ws:
        cp = MiniChargePoint(ws)
        frame = await cp.call("Reset", {"type": "Hard"})  # a CSMS-initiated action
        assert frame[0] == CALLERROR
        assert frame[2] == "NotImplemented"
        await csms.wait_for_event("violation")
        (violation,) = csms.violations
        assert (violation["direction"], violation["source"]) == ("in", "unexpected_call")
        assert violation["method"] == "Reset"


async def test_garbage_frame_from_charge_point_is_inbound_violation(csms: StrictCsms) -> None:
    async with asyncio.timeout(TEST_TIMEOUT), await _connect(csms) as ws:
        cp = MiniChargePoint(ws)
        await ws.send("this is not json")
        frame = await cp.recv()
        assert frame[0] == CALLERROR
        assert frame[2] == "RpcFrameworkError"
        await csms.sync()
        (violation,) = csms.violations
        assert (violation["direction"], violation["source"]) == ("in", "badMessage")


async def test_missing_subprotocol_is_rejected(csms: StrictCsms) -> None:
    async with asyncio.timeout(TEST_TIMEOUT):
        with pytest.raises(InvalidStatus):
            await connect(f"{csms.url}/{IDENTITY}", open_timeout=5)
        event = await csms.wait_for_event("rejected", identity=IDENTITY)
        assert event["status"] == 400
        (violation,) = csms.violations
        assert (violation["direction"], violation["source"]) == ("in", "handshake")


async def test_close_client_and_call_without_client(csms: StrictCsms) -> None:
    async with asyncio.timeout(TEST_TIMEOUT):
        ws = await _connect(csms)
        ack = await csms.close_client(code=1001, reason="bye")
        assert ack["closed"] is True
        event = await csms.wait_for_event("disconnected", identity=IDENTITY)
        assert event["code"] == 1001
        await ws.wait_closed()
        assert ws.close_code == 1001

        answer = await csms.call("GetConfiguration", {})
        assert (answer["event"], answer["source"]) == ("error_in", "not_connected")
        assert (await csms.close_client())["closed"] is False
    await csms.check_no_violations()


async def test_call_timeout_is_reported(csms: StrictCsms) -> None:
    async with asyncio.timeout(TEST_TIMEOUT), await _connect(csms) as ws:
        cp = MiniChargePoint(ws)
        answer = await csms.call("GetConfiguration", {}, timeout=0.5)
        assert (answer["event"], answer["source"]) == ("error_in", "timeout")
        await cp.expect_call("GetConfiguration")  # it was sent, just never answered


async def test_bad_commands_are_reported_and_ignored(csms: StrictCsms) -> None:
    async with asyncio.timeout(TEST_TIMEOUT):
        for line in ("not json", "[1, 2]", '{"cmd": "dance"}', '{"cmd": "call", "id": "x"}'):
            since = len(csms.events)
            await csms.send_raw_line(line)
            event = await csms.wait_for_event("bad_command", since=since)
            assert event["line"] == line
        assert csms.running
        await csms.set_response("Heartbeat", {"currentTime": "2025-01-01T00:00:00Z"})


async def test_wait_for_timeout_lists_recent_events(csms: StrictCsms) -> None:
    async with asyncio.timeout(TEST_TIMEOUT):
        with pytest.raises(TimeoutError, match="listening"):
            await csms.wait_for(lambda e: e["event"] == "never", timeout=0.2)


async def test_stop_ends_the_process(socket_enabled: None) -> None:
    async with asyncio.timeout(TEST_TIMEOUT):
        async with StrictCsms() as server:
            assert server.running
            url = server.url
        assert server.returncode == 0
        assert server.events[-1] == {"event": "stopped"}
        await server.stop()  # idempotent
        with pytest.raises(ConnectionRefusedError):
            await connect(f"{url}/{IDENTITY}", subprotocols=[Subprotocol("ocpp1.6")])


async def test_missing_node_modules_gives_clear_error(tmp_path: Path) -> None:
    (tmp_path / "server.js").write_text("")
    with pytest.raises(StrictCsmsError, match="npm ci"):
        await StrictCsms(csms_dir=tmp_path).start()
