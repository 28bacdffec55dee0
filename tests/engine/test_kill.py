"""SIGKILL tests: billing stays intact whenever the charge point process dies.

The simulator runs as a real process on one state directory and is SIGKILLed at chosen points
of the transaction lifecycle (and at random); after the last kill it restarts cleanly, every
car leaves, its queue drains, and ``kill_checker`` looks at everything the CSMS received and
every incarnation printed. The first tests check the checker itself on hand-made logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from .kill_checker import CALL, CALLRESULT, CP, CSMS, Frame, LogBuilder, check
from .kill_harness import (
    KillRun,
    ProcessGone,
    SimProcess,
    is_permit,
    is_tx,
    tx_default_profile,
)
from .kill_random import Chaos

type RunFactory = Callable[..., Awaitable[KillRun]]

BIG_ID = 9223372036854775808  # 2**63: no signed 64-bit column holds it


@pytest.fixture
async def kill_run(tmp_path: Path) -> AsyncIterator[RunFactory]:
    """Runs whose simulator processes and CSMS are always cleaned up, even on failure."""
    runs: list[KillRun] = []

    async def factory(connectors: int = 1, call_timeout: float = 5.0) -> KillRun:
        run = await KillRun.open(
            tmp_path / f"run{len(runs)}", connectors=connectors, call_timeout=call_timeout
        )
        runs.append(run)
        return run

    yield factory
    for run in runs:
        await run.close()
        if not run.reported:
            print(run.report())  # shown if the test failed some other way


def verdict(run: KillRun, problems: list[str]) -> None:
    """Fail with the test's own findings and every checker violation, readably."""
    run.reported = True
    if problems or run.violations():
        pytest.fail("\n".join([*problems, run.report()]), pytrace=False)


async def finish(run: KillRun, *, restart: bool = True) -> None:
    """The final clean restart and drain; if the charge point cannot even do that, say why."""
    try:
        await run.finish(restart=restart)
    except (ProcessGone, TimeoutError) as err:
        pytest.fail(f"the final clean run failed: {err!r}\n{run.report()}", pytrace=False)


def answered(action: str) -> Callable[[Frame], bool]:
    """Predicate: the CSMS answered (CALLRESULT) a CALL of this action."""
    return lambda f: f.sender == CSMS and f.kind == CALLRESULT and f.action == action


def cp_call(action: str) -> Callable[[Frame], bool]:
    return lambda f: f.sender == CP and f.kind == CALL and f.action == action


def stops_of(run: KillRun, tx_id: int) -> set[str]:
    """Distinct unique ids of the StopTransactions for a transaction."""
    return {
        f.unique_id
        for f in run.csms.cp_calls("StopTransaction")
        if f.payload.get("transactionId") == tx_id
    }


# -- the checker on hand-made logs --------------------------------------------------------


def session(log: LogBuilder, tx_id: int, start: int, stop: int, connector: int = 1) -> None:
    tag = f"T{tx_id}"
    log.event("transaction", connector_id=connector, change="started", id_tag=tag)
    log.event("hardware", action="charging_permitted", connector_id=connector, permitted=True)
    log.exchange(
        "StartTransaction",
        {"connectorId": connector, "idTag": tag, "meterStart": start, "timestamp": f"t{tx_id}"},
        {"transactionId": tx_id, "idTagInfo": {"status": "Accepted"}},
    )
    log.exchange("MeterValues", {"connectorId": connector, "transactionId": tx_id}, {})
    log.event("transaction", connector_id=connector, change="stopped", transaction_id=tx_id)
    log.exchange("StopTransaction", {"transactionId": tx_id, "meterStop": stop}, {})


def invariants(log: LogBuilder) -> list[str]:
    return sorted(v.invariant for v in check(log.build()))


def test_checker_accepts_a_clean_log() -> None:
    log = LogBuilder()
    session(log, 1, 100, 200)
    stop_uid = log.frames[-2].unique_id
    log.restart()
    log.cp_call("StopTransaction", {"transactionId": 1, "meterStop": 200}, stop_uid)  # a resend
    log.csms_answer(stop_uid, "StopTransaction", {})
    session(log, 2, 200, 300)
    log.csms_exchange(
        "ChangeConfiguration", {"key": "ConnectionTimeOut", "value": "90"}, {"status": "Accepted"}
    )
    log.restart()
    log.csms_exchange(
        "GetConfiguration",
        {"key": ["ConnectionTimeOut"]},
        {"configurationKey": [{"key": "ConnectionTimeOut", "readonly": False, "value": "90"}]},
    )
    assert invariants(log) == []


def test_checker_reports_a_duplicate_stop() -> None:
    log = LogBuilder()
    session(log, 1, 100, 200)
    log.restart()
    log.exchange(
        "StopTransaction", {"transactionId": 1, "meterStop": 250, "reason": "PowerLoss"}, {}
    )
    assert invariants(log) == ["duplicate-stop"]


def test_checker_reports_meter_values_after_the_stop() -> None:
    log = LogBuilder()
    session(log, 1, 100, 200)
    log.exchange("MeterValues", {"connectorId": 1, "transactionId": 1}, {})
    assert invariants(log) == ["meter-after-stop"]


def test_checker_reports_overlapping_meter_ranges() -> None:
    log = LogBuilder()
    session(log, 1, 100, 300)
    session(log, 2, 250, 400)
    session(log, 3, 100, 100, connector=2)  # another connector: no overlap with connector 1
    assert invariants(log) == ["meter-overlap"]


def test_checker_reports_a_permit_without_a_start() -> None:
    log = LogBuilder()
    session(log, 1, 100, 200)
    log.restart()
    log.event("hardware", action="charging_permitted", connector_id=1, permitted=True)
    assert invariants(log) == ["permit-without-start"]


def test_checker_reports_a_lost_change_and_a_resumed_stopped_transaction() -> None:
    log = LogBuilder()
    log.event("transaction", connector_id=1, change="started", id_tag="T1")
    log.exchange(
        "StartTransaction",
        {"connectorId": 1, "idTag": "T1", "meterStart": 0, "timestamp": "t1"},
        {"transactionId": 1, "idTagInfo": {"status": "Accepted"}},
    )
    log.event("transaction", connector_id=1, change="stopped", transaction_id=1)
    log.csms_exchange(
        "SendLocalList", {"listVersion": 7, "updateType": "Full"}, {"status": "Accepted"}
    )
    log.restart()
    log.event("transaction", connector_id=1, change="resumed")
    log.event("hardware", action="charging_permitted", connector_id=1, permitted=True)
    log.exchange("StopTransaction", {"transactionId": 1, "meterStop": 5}, {})
    log.csms_exchange("GetLocalListVersion", {}, {"listVersion": 6})
    assert invariants(log) == ["change-lost", "permit-without-start", "resumed-after-stop"]


# -- regressions ----------------------------------------------------------------------------


async def assert_gone_after_restart(run: KillRun, problems: list[str], tx_id: int) -> None:
    """After a clean restart: the ended transaction stays ended, a new car gets no charge."""
    await run.launch()
    await run.wait_accepted()
    inc = run.sim.incarnation
    try:
        status = await run.csms.wait_for(
            lambda f: cp_call("StatusNotification")(f)
            and f.incarnation == inc
            and f.payload["connectorId"] == 1
        )
        if status.payload["status"] != "Available":
            problems.append(f"connector 1 after the restart: {status.describe()}")
    except TimeoutError:
        problems.append("no StatusNotification for connector 1 after the restart")
    await run.cmd("plug 1")  # a new car, no idTag
    await asyncio.sleep(1.5)
    for event in run.sim.events:
        if is_permit(1)(event) or is_tx("resumed")(event):
            problems.append(f"after the restart, without a new StartTransaction: {event}")
    await run.cmd("unplug 1")
    await asyncio.sleep(1.0)  # time for a second StopTransaction to show, if one were sent
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(15):  # the one queued before the restart is delivered
            while not stops_of(run, tx_id):
                await asyncio.sleep(0.05)
    if len(stops_of(run, tx_id)) != 1:
        problems.append(f"transaction {tx_id}: StopTransactions {sorted(stops_of(run, tx_id))}")
    late = [
        f.describe()
        for f in run.csms.cp_calls("MeterValues")
        if f.incarnation >= inc and f.payload.get("transactionId") == tx_id
    ]
    problems.extend(f"MeterValues after the restart: {text}" for text in late)


async def test_offline_stop_then_clean_restart(kill_run: RunFactory) -> None:
    run = await kill_run()
    await run.launch()
    await run.wait_accepted()
    await run.configure(AllowOfflineTxForUnknownId="true")
    await run.sim.command("offline")
    await run.sim.wait_for(lambda e: e.get("event") == "state" and e["state"] == "disconnected")
    await run.cmd("meter 1 1000")
    await run.cmd("plug 1")
    assert (await run.cmd("swipe OFFLINE1"))["result"] == "started"
    await run.cmd("meter 1 1400")
    await run.cmd("unplug 1")
    await run.sim.wait_for(is_tx("stopped", 1))
    await run.sim.command("online")
    await run.csms.wait_for(answered("StopTransaction"), timeout=20)
    await run.drain()
    await run.quit()
    problems: list[str] = []
    await assert_gone_after_restart(run, problems, tx_id=1)
    await finish(run, restart=False)
    verdict(run, problems)


async def test_late_start_answer_stop_then_clean_restart(kill_run: RunFactory) -> None:
    run = await kill_run()
    await run.launch()
    await run.wait_accepted()
    run.csms.delays["StartTransaction"] = 3.0
    await run.cmd("meter 1 2000")
    await run.cmd("plug 1")
    assert (await run.cmd("swipe LATE1"))["result"] == "started"
    await run.csms.wait_for(cp_call("StartTransaction"))
    await run.cmd("meter 1 2100")
    await run.cmd("unplug 1")  # before the StartTransaction answer
    await run.sim.wait_for(is_tx("stopped", 1))
    await run.csms.wait_for(answered("StopTransaction"), timeout=20)
    run.csms.delays.clear()
    await run.drain()
    await run.quit()
    problems: list[str] = []
    await assert_gone_after_restart(run, problems, tx_id=1)
    await finish(run, restart=False)
    verdict(run, problems)


async def test_start_answer_with_transaction_id_beyond_int64(kill_run: RunFactory) -> None:
    run = await kill_run()
    await run.launch()
    await run.wait_accepted()
    await run.configure(TransactionMessageRetryInterval="1")
    run.csms.start_ids.append(BIG_ID)
    await run.cmd("meter 1 500")
    await run.cmd("plug 1")
    await run.cmd("swipe BIG1")
    first = await run.csms.wait_for(cp_call("StartTransaction"))
    problems: list[str] = []
    try:
        await run.csms.wait_for(
            lambda f: cp_call("StartTransaction")(f) and f.unique_id == first.unique_id,
            after=first.seq + 1,
            timeout=20,
        )
    except TimeoutError:
        problems.append("the StartTransaction answered with 2**63 was never sent again")
    if not run.sim.alive:
        problems.append(f"the simulator died: exit {run.sim.process.returncode}")
    with contextlib.suppress(TimeoutError):
        await run.csms.wait_for(
            lambda f: answered("StartTransaction")(f)
            and f.unique_id == first.unique_id
            and f.payload["transactionId"] != BIG_ID
        )
    good = [
        f.payload["transactionId"]
        for f in run.csms.answers_to(first.unique_id)
        if f.payload.get("transactionId") != BIG_ID
    ]
    with contextlib.suppress(ProcessGone, TimeoutError):
        await run.cmd("ev-charging 1")
        await run.cmd("meter 1 900")
        await run.cmd("unplug 1")
    with contextlib.suppress(TimeoutError):
        await run.csms.wait_for(cp_call("StopTransaction"), timeout=15)
    carried = [f.payload.get("transactionId") for f in run.csms.cp_calls("StopTransaction")]
    if not good or set(carried) != {good[0]}:
        problems.append(f"StopTransaction carries {carried}, the good id is {good}")
    if run.sim.alive:
        await run.quit()
    await finish(run)
    verdict(run, problems)


@pytest.mark.timeout(180)
async def test_silent_csms_never_gives_up_the_stop(kill_run: RunFactory) -> None:
    run = await kill_run(call_timeout=5.0)
    await run.launch()
    await run.wait_accepted()
    await run.configure(TransactionMessageRetryInterval="1")
    await run.cmd("meter 1 3000")
    await run.cmd("plug 1")
    await run.cmd("swipe SILENT1")
    await run.cmd("ev-charging 1")
    await run.sim.wait_for(is_tx("confirmed", 1))
    await run.cmd("meter 1 3300")
    run.csms.silence(35)
    speaking_again = time.time() + 35
    await run.cmd("unplug 1")
    problems: list[str] = []
    first = await run.csms.wait_for(cp_call("StopTransaction"), timeout=20)
    try:
        await run.csms.wait_for(
            lambda f: answered("StopTransaction")(f) and f.delivered, timeout=35 + 45
        )
    except TimeoutError:
        sent = [f.at - speaking_again for f in run.csms.cp_calls("StopTransaction")]
        problems.append(
            "the StopTransaction was never delivered: sent at "
            + ", ".join(f"{at:+.1f}s" for at in sent)
            + " from the moment the CSMS answered again, then given up"
        )
    uids = {f.unique_id for f in run.csms.cp_calls("StopTransaction")}
    if uids != {first.unique_id}:
        problems.append(f"StopTransaction resent under other unique ids: {sorted(uids)}")
    await finish(run)
    verdict(run, problems)


async def test_start_transaction_before_charging_status(kill_run: RunFactory) -> None:
    run = await kill_run()
    await run.launch()
    await run.wait_accepted()
    run.csms.delays["StartTransaction"] = 1.0
    await run.cmd("plug 1")
    await run.cmd("swipe ORDER1")
    await run.cmd("ev-charging 1")
    await run.csms.wait_for(answered("StartTransaction"), timeout=15)
    with contextlib.suppress(TimeoutError):
        await run.csms.wait_for(
            lambda f: cp_call("StatusNotification")(f) and f.payload["status"] == "Charging"
        )
    start = run.csms.cp_calls("StartTransaction")[0]
    problems = [
        f"StatusNotification before StartTransaction {start.describe()}: {f.describe()}"
        for f in run.csms.cp_calls("StatusNotification")
        if f.seq < start.seq
        and f.payload["connectorId"] == 1
        and f.payload["status"] in ("Charging", "SuspendedEV", "SuspendedEVSE")
    ]
    await finish(run)
    verdict(run, problems)


async def per_tag_once(run: KillRun, tags: list[str], problems: list[str]) -> None:
    """Each tag's StartTransaction reached the CSMS once, and its transaction stopped once."""
    for tag in tags:
        starts = [f for f in run.csms.cp_calls("StartTransaction") if f.payload["idTag"] == tag]
        uids = {f.unique_id for f in starts}
        if len(uids) != 1:
            problems.append(f"{tag}: {len(uids)} distinct StartTransactions")
            continue
        answers = [a for a in run.csms.answers_to(starts[0].unique_id) if a.kind == CALLRESULT]
        if answers and len(stops_of(run, answers[-1].payload["transactionId"])) != 1:
            tx_id = answers[-1].payload["transactionId"]
            problems.append(f"{tag}: transaction {tx_id} stopped {sorted(stops_of(run, tx_id))}")


@pytest.mark.timeout(240)
async def test_kill_right_after_transaction_started(kill_run: RunFactory) -> None:
    run = await kill_run()
    await run.launch()
    await run.wait_accepted()
    problems: list[str] = []
    tags: list[str] = []
    for rep in range(15):
        tag = run.world.new_tag()
        await run.cmd("plug 1")
        run.sim.kill_on(is_tx("started", 1), (rep % 4) / 1000)
        with contextlib.suppress(ProcessGone, TimeoutError):
            await run.cmd(f"swipe {tag}", timeout=5)
        if not await run.died(5):
            problems.append(f"rep {rep}: no 'started' event for {tag}")
            await run.kill()
        if any(is_tx("started", 1)(e) for e in run.sim.events):
            tags.append(tag)
        await run.restart()  # the car is still plugged in
        await run.wait_accepted()
        await run.cmd("unplug 1")
        await run.drain(quiet=0.5, idle=2.0)
    await finish(run)
    await per_tag_once(run, tags, problems)
    verdict(run, problems)


@pytest.mark.timeout(240)
async def test_kill_right_after_transaction_stopped(kill_run: RunFactory) -> None:
    run = await kill_run()
    await run.launch()
    await run.wait_accepted()
    problems: list[str] = []
    tags: list[str] = []
    for rep in range(30):
        tag = run.world.new_tag()
        await run.cmd("plug 1")
        mark = len(run.sim.events)
        ack = await run.cmd(f"swipe {tag}")
        try:
            await run.sim.wait_for(is_tx("confirmed", 1), after=mark)
        except TimeoutError:
            problems.append(f"rep {rep}: no session for {tag} (swipe: {ack.get('result')})")
            await run.cmd("unplug 1")
            continue
        tags.append(tag)
        run.sim.kill_on(is_tx("stopped", 1), (rep % 4) / 1000)
        with contextlib.suppress(ProcessGone, TimeoutError):
            await run.cmd("unplug 1", timeout=5)
        if not await run.died(5):
            problems.append(f"rep {rep}: no 'stopped' event for {tag}")
            await run.kill()
        await run.restart(reassert=False)
        await run.cmd(f"meter 1 {run.world.energy[1]}")
        # The first word from the hardware: a new car (odd reps) or still no car (even).
        await run.cmd("plug 1" if rep % 2 else "unplug 1")
        await run.wait_accepted()
        await asyncio.sleep(0.3)
        for event in run.sim.events:
            if is_tx("resumed")(event) or is_permit()(event):
                problems.append(f"rep {rep}: the stopped {tag} came back: {event}")
        await run.cmd("unplug 1")  # whatever came back ends here
    await finish(run)
    await per_tag_once(run, tags, problems)
    verdict(run, problems)


async def test_accepted_changes_survive_a_kill(kill_run: RunFactory) -> None:
    run = await kill_run(connectors=2)
    await run.launch()
    await run.wait_accepted()
    changes: list[tuple[str, dict[str, Any]]] = [
        ("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "17"}),
        ("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}),
        (
            "SendLocalList",
            {
                "listVersion": 7,
                "updateType": "Full",
                "localAuthorizationList": [{"idTag": "LIST7", "idTagInfo": {"status": "Accepted"}}],
            },
        ),
        ("SetChargingProfile", tx_default_profile(10.0, profile_id=5)),
    ]
    problems: list[str] = []
    for action, payload in changes:
        sim = run.sim

        def kill_if_accepted(frame: Frame, sim: SimProcess = sim) -> None:
            if frame.payload.get("status") == "Accepted":
                sim.kill()

        answer = await run.call(action, payload, on_answer=kill_if_accepted)
        if answer.get("status") != "Accepted" or not await run.died(5):
            problems.append(f"{action}: {answer}")
            await run.kill()
        await run.restart()
        await run.wait_accepted()
    await finish(run)
    verdict(run, problems)


# -- random kills -----------------------------------------------------------------------------


@pytest.mark.timeout(420)
async def test_random_kills(kill_run: RunFactory) -> None:
    seed = int(os.environ.get("OCPP_CP_KILL_SEED") or random.randrange(1 << 32))
    print(f"OCPP_CP_KILL_SEED={seed}")
    run = await kill_run(connectors=2)
    chaos = Chaos(run, random.Random(seed))
    await chaos.setup()
    await chaos.play(kills=int(os.environ.get("OCPP_CP_KILL_COUNT") or 64), budget=200.0)
    await finish(run)
    print(chaos.summary())
    verdict(run, [f"OCPP_CP_KILL_SEED={seed}", chaos.summary()] if run.violations() else [])
