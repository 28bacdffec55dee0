"""Security events in the simulator process: the command, and the queue across SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from custom_components.ocpp_cp.engine.services.certificates import DOCUMENT_CERTIFICATES

from .firmware_pki import make_root, make_signer
from .kill_checker import CALL, CALLRESULT, CP, CSMS, Frame
from .kill_harness import KillRun, SimProcess
from .tls import PEM, root_ca, sign_csr

SEN = "SecurityEventNotification"


@pytest.fixture
async def run(tmp_path: Path) -> AsyncIterator[KillRun]:
    harness = await KillRun.open(tmp_path, call_timeout=2.0)
    try:
        yield harness
    finally:
        await harness.close()


def security_calls(run: KillRun, kind: str | None = None) -> list[Frame]:
    return [f for f in run.csms.cp_calls(SEN) if kind is None or f.payload["type"] == kind]


def delivered_answers(run: KillRun, uid: str) -> list[Frame]:
    return [f for f in run.csms.answers_to(uid) if f.kind == CALLRESULT and f.delivered]


async def delivered(run: KillRun, kind: str, incarnation: int) -> Frame:
    """The CSMS's answer to ``kind`` on ``incarnation``, and the charge point's own word
    that it has settled it."""
    call = await run.csms.wait_for(
        lambda f: f.sender == CP
        and f.kind == CALL
        and f.action == SEN
        and f.payload["type"] == kind
        and f.incarnation == incarnation,
        timeout=15,
    )
    await run.sim.wait_for(
        lambda e: e.get("event") == "security_event_delivered"
        and e.get("unique_id") == call.unique_id,
        timeout=15,
    )
    return call


async def test_security_event_command(run: KillRun) -> None:
    sim = await run.launch()
    await run.wait_accepted()
    for bad in ("security-event", "security-event Not-A-Type!", "security-event " + "X" * 51):
        answer = await sim.command(bad)
        assert answer["ok"] is False, bad
        assert answer["error"]
    answer = await sim.command("security-event TamperDetectionActivated lid opened at 03:00")
    assert answer == {**answer, "ok": True, "result": "critical"}
    answer = await sim.command("security-event InvalidTLSVersion TLS 1.0 offered")
    assert answer == {**answer, "ok": True, "result": "logged"}
    call = await delivered(run, "TamperDetectionActivated", 0)
    assert call.payload["techInfo"] == "lid opened at 03:00"
    logged = [e for e in sim.events if e.get("event") == "security_event"]
    assert [(e["type"], e["critical"]) for e in logged] == [
        ("StartupOfTheDevice", True),
        ("TamperDetectionActivated", True),
        ("InvalidTLSVersion", False),
    ]
    await asyncio.sleep(0.3)
    assert [f.payload["type"] for f in security_calls(run)] == [
        "StartupOfTheDevice",
        "TamperDetectionActivated",
    ]
    await run.quit()


async def test_a_queued_event_survives_sigkill_and_is_delivered_once(run: KillRun) -> None:
    sim = await run.launch()
    await run.wait_accepted()
    await delivered(run, "StartupOfTheDevice", 0)

    def kill_before_answer(frame: Frame) -> bool:
        if frame.action == SEN and frame.payload["type"] == "TamperDetectionActivated":
            run.csms.silence(5)  # this CALL is never answered
            sim.kill()
            return True
        return False

    run.csms.on_cp_call.append(kill_before_answer)
    await sim.send("security-event TamperDetectionActivated enclosure opened")
    assert await run.died(10), "the hook did not kill the simulator"
    logged = [e for e in sim.events if e.get("event") == "security_event"]
    assert logged[-1]["type"] == "TamperDetectionActivated"  # durable before it was sent
    (lost,) = security_calls(run, "TamperDetectionActivated")
    assert run.csms.answers_to(lost.unique_id) == []

    run.csms.reset_behaviour()
    await run.launch()
    await run.wait_accepted()
    again = await delivered(run, "TamperDetectionActivated", 1)
    assert again.unique_id == lost.unique_id  # the same message, not a new one
    assert again.payload == lost.payload

    await delivered(run, "StartupOfTheDevice", 1)

    # Killed right after the answer was settled: never sent again.
    def firmware_updated_settled(event: dict[str, object]) -> bool:
        uids = {f.unique_id for f in security_calls(run, "FirmwareUpdated")}
        return event.get("event") == "security_event_delivered" and event["unique_id"] in uids

    run.sim.kill_on(firmware_updated_settled, 0.0)
    await run.sim.send("security-event FirmwareUpdated to 2.1")
    assert await run.died(10)
    await run.launch()
    await run.wait_accepted()
    await delivered(run, "StartupOfTheDevice", 2)
    await asyncio.sleep(0.5)

    calls = security_calls(run)
    by_uid: dict[str, list[Frame]] = {}
    for frame in calls:
        by_uid.setdefault(frame.unique_id, []).append(frame)
    for uid, frames in by_uid.items():
        assert len(delivered_answers(run, uid)) == 1, frames[0].describe()
        assert all(f.payload == frames[0].payload for f in frames)
    assert [f.payload["type"] for f in calls] == [
        "StartupOfTheDevice",  # incarnation 0
        "TamperDetectionActivated",  # never answered: SIGKILL
        "TamperDetectionActivated",  # incarnation 1: the same message again
        "StartupOfTheDevice",
        "FirmwareUpdated",  # SIGKILL right after it was settled
        "StartupOfTheDevice",  # incarnation 2: FirmwareUpdated was settled, not resent
    ]
    assert [f.incarnation for f in calls] == [0, 0, 1, 1, 1, 2]
    assert all(f.sender == CSMS for uid in by_uid for f in run.csms.answers_to(uid))
    await run.quit()


async def test_accepted_certificate_and_firmware_requests_survive_sigkill(run: KillRun) -> None:
    """SIGKILL the instant the Accepted (or UpdateFirmware's empty answer) arrives: after the
    restart the installed root is listed and both scheduled updates are still under way."""
    root = make_root()
    signer = make_signer(root)
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    requests: list[tuple[str, dict[str, Any]]] = [
        (
            "InstallCertificate",
            {"certificateType": "ManufacturerRootCertificate", "certificate": root.pem},
        ),
        (
            "SignedUpdateFirmware",
            {
                "requestId": 77,
                "firmware": {
                    "location": "http://127.0.0.1:9/fw.bin",
                    "retrieveDateTime": later,
                    "signingCertificate": signer.pem,
                    "signature": signer.sign(b"checked after the download"),
                },
            },
        ),
    ]
    await run.launch()
    await run.wait_accepted()
    for action, payload in requests:
        sim = run.sim

        def kill_on_answer(frame: Frame, sim: SimProcess = sim) -> None:
            sim.kill()

        answer = await run.call(action, payload, on_answer=kill_on_answer)
        assert answer.get("status") == "Accepted", (action, answer)
        assert await run.died(5), action
        await run.launch()
        await run.wait_accepted()

    listed = await run.call(
        "GetInstalledCertificateIds", {"certificateType": "ManufacturerRootCertificate"}
    )
    assert listed["status"] == "Accepted"
    assert len(listed["certificateHashData"]) == 1

    mark = len(run.csms.frames)
    trigger = await run.call(
        "ExtendedTriggerMessage", {"requestedMessage": "FirmwareStatusNotification"}
    )
    assert trigger["status"] == "Accepted"
    status = await run.csms.wait_for(
        lambda f: f.sender == CP
        and f.kind == CALL
        and f.action == "SignedFirmwareStatusNotification"
        and f.payload.get("requestId") == 77,
        after=mark,
        timeout=10,
    )
    assert status.payload["status"] == "DownloadScheduled"
    # The plain notification has no scheduled stage: a TriggerMessage answers Idle, valid
    # under its schema.
    mark = len(run.csms.frames)
    assert (await run.call("TriggerMessage", {"requestedMessage": "FirmwareStatusNotification"}))[
        "status"
    ] == "Accepted"
    plain = await run.csms.wait_for(
        lambda f: f.sender == CP and f.kind == CALL and f.action == "FirmwareStatusNotification",
        after=mark,
        timeout=10,
    )
    assert plain.payload == {"status": "Idle"}
    await run.quit()


async def test_accepted_certificate_signed_survives_sigkill(run: KillRun) -> None:
    """SIGKILL the instant CertificateSigned's Accepted arrives: the journal already names
    the signed pair and no pending request, and after the restart the same chain sent again
    is Rejected."""
    root = root_ca("Kill CSMS root")
    await run.launch()
    await run.wait_accepted()
    installed = await run.call(
        "InstallCertificate",
        {"certificateType": "CentralSystemRootCertificate", "certificate": root.pem},
    )
    assert installed["status"] == "Accepted"
    mark = len(run.csms.frames)
    trigger = await run.call(
        "ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"}
    )
    assert trigger["status"] == "Accepted"
    request = await run.csms.wait_for(
        lambda f: f.sender == CP and f.kind == CALL and f.action == "SignCertificate",
        after=mark,
        timeout=10,
    )
    leaf = sign_csr(request.payload["csr"], root)
    chain = leaf.public_bytes(PEM).decode()
    sim = run.sim

    def kill_on_answer(frame: Frame, sim: SimProcess = sim) -> None:
        sim.kill()

    answer = await run.call(
        "CertificateSigned", {"certificateChain": chain}, on_answer=kill_on_answer
    )
    assert answer["status"] == "Accepted"
    assert await run.died(5)
    # What the killed charge point left on disk: the journal names the signed pair, the files
    # hold the chain and a key, and no request is pending.
    with contextlib.closing(sqlite3.connect(run.state_dir / "queue.sqlite3")) as db:
        (stored,) = db.execute(
            "SELECT value FROM documents WHERE key = ?", (DOCUMENT_CERTIFICATES,)
        ).fetchone()
    document = json.loads(stored)
    assert document["pending_key"] is None
    cert_file, key_file = document["client"]
    assert Path(cert_file).read_text() == chain
    assert Path(key_file).is_file()
    assert list(run.directory.rglob("*.csr-key.pem")) == []
    await run.launch()
    await run.wait_accepted()
    again = await run.call("CertificateSigned", {"certificateChain": chain})
    assert again["status"] == "Rejected"  # nothing pending: the request was answered once
    await run.quit()
