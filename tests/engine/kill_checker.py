"""Billing-integrity invariants over every incarnation of one kill run (pure, no I/O).

The input is what the recording CSMS saw (``Frame``: every frame either side sent, numbered in
receive order across all incarnations) and what each simulator incarnation printed on stdout
(its JSON lines, each with ``_at``, the time the test read it). ``check`` returns the
violations as readable ``Violation``s; an empty list means the run kept billing intact.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

CALL, CALLRESULT, CALLERROR = 2, 3, 4
KIND_NAMES = {CALL: "CALL", CALLRESULT: "RESULT", CALLERROR: "ERROR"}
CP, CSMS = "cp", "csms"
# Set again by every BootNotification.conf (its interval): not expected to survive a restart.
BOOT_OWNED_KEYS = frozenset({"HeartbeatInterval"})
# Answers to ChangeAvailability that promise the change (Scheduled: when the transaction ends).
AVAILABILITY_PROMISES = frozenset({"Accepted", "Scheduled"})

type Event = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Frame:
    """One OCPP-J frame as the CSMS saw it (sent by the charge point) or sent it."""

    seq: int
    incarnation: int
    at: float
    sender: str  # CP or CSMS
    kind: int  # CALL, CALLRESULT or CALLERROR
    unique_id: str
    action: str  # for a CALLRESULT/CALLERROR: the action of the CALL it answers
    payload: dict[str, Any]
    delivered: bool = True  # CSMS frames: False when the socket was gone

    def describe(self) -> str:
        text = json.dumps(self.payload, separators=(",", ":"))
        if len(text) > 200:
            text = text[:200] + "..."
        return (
            f"#{self.seq} inc{self.incarnation} {self.sender}:{KIND_NAMES[self.kind]} "
            f"{self.action} id={self.unique_id} {text}"
        )


@dataclass(slots=True)
class RunLog:
    frames: list[Frame]
    incarnations: list[list[Event]]
    # The clean restart whose GetConfiguration/GetLocalListVersion/... answers verify changes.
    final_incarnation: int | None = None
    # Every session used its own idTag, so two StartTransactions with one idTag are a duplicate.
    unique_tags: bool = True
    # transactionIds legitimately still running at the end (none after a full drain).
    running_at_end: frozenset[int] = frozenset()
    # idTags swiped again (to stop a session): they may legitimately start a second one.
    reused_tags: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Violation:
    invariant: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.invariant}] {self.detail}"


def format_violations(violations: list[Violation], per_invariant: int = 12) -> str:
    """One line per violation, at most ``per_invariant`` of each kind."""
    by_kind: dict[str, list[Violation]] = defaultdict(list)
    for violation in violations:
        by_kind[violation.invariant].append(violation)
    head = ", ".join(f"{name}: {len(found)}" for name, found in sorted(by_kind.items()))
    lines = [f"{len(violations)} violation(s) ({head}):"]
    for found in by_kind.values():
        lines += [f"  {violation}" for violation in found[:per_invariant]]
        if len(found) > per_invariant:
            lines.append(f"  ... and {len(found) - per_invariant} more [{found[0].invariant}]")
    return "\n".join(lines)


def parse_time(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(slots=True)
class _Index:
    """The run's frames, deduplicated by unique id (first occurrence wins)."""

    cp_calls: list[Frame] = field(default_factory=list)
    first: dict[str, Frame] = field(default_factory=dict)
    # StartTransaction unique id -> the transactionId the CSMS last answered it with.
    tx_of_start: dict[str, int] = field(default_factory=dict)
    csms_calls: dict[str, Frame] = field(default_factory=dict)
    cp_answers: dict[str, Frame] = field(default_factory=dict)

    @classmethod
    def build(cls, frames: list[Frame]) -> _Index:
        index = cls()
        for frame in sorted(frames, key=lambda f: f.seq):
            if frame.sender == CP and frame.kind == CALL:
                if frame.unique_id not in index.first:
                    index.first[frame.unique_id] = frame
                    index.cp_calls.append(frame)
            elif frame.sender == CSMS and frame.kind == CALL:
                index.csms_calls[frame.unique_id] = frame
            elif frame.sender == CP:
                index.cp_answers[frame.unique_id] = frame
            elif frame.action == "StartTransaction" and frame.kind == CALLRESULT:
                tx_id = frame.payload.get("transactionId")
                if isinstance(tx_id, int):
                    index.tx_of_start[frame.unique_id] = tx_id
        return index

    def calls(self, action: str) -> list[Frame]:
        return [f for f in self.cp_calls if f.action == action]


def check(log: RunLog) -> list[Violation]:
    index = _Index.build(log.frames)
    violations: list[Violation] = []
    violations += _check_starts(log, index)
    stops = _check_stops(log, index)
    violations += stops[0]
    violations += _check_meter_values(index, stops[1])
    violations += _check_meter_ranges(index, stops[1])
    violations += _check_outputs(log, index)
    violations += _check_changes(log, index)
    return violations


def _check_starts(log: RunLog, index: _Index) -> list[Violation]:
    found: list[Violation] = []
    by_moment: dict[tuple[Any, Any], list[Frame]] = defaultdict(list)
    by_tag: dict[Any, list[Frame]] = defaultdict(list)
    for start in index.calls("StartTransaction"):
        by_moment[(start.payload.get("connectorId"), start.payload.get("timestamp"))].append(start)
        by_tag[start.payload.get("idTag")].append(start)
        if start.unique_id not in index.tx_of_start:
            found.append(
                Violation(
                    "start-unconfirmed",
                    f"StartTransaction never got a transactionId: {start.describe()}",
                )
            )
    groups = list(by_moment.values())
    if log.unique_tags:
        groups += [g for tag, g in by_tag.items() if tag not in log.reused_tags and g not in groups]
    for group in groups:
        if len(group) > 1:
            found.append(
                Violation(
                    "duplicate-start",
                    "one session started under several unique ids: "
                    + " | ".join(f.describe() for f in group),
                )
            )
    return found


def _check_stops(log: RunLog, index: _Index) -> tuple[list[Violation], dict[int, list[Frame]]]:
    found: list[Violation] = []
    known = set(index.tx_of_start.values())
    stops: dict[int, list[Frame]] = defaultdict(list)
    for stop in index.calls("StopTransaction"):
        tx_id = stop.payload.get("transactionId")
        if not isinstance(tx_id, int) or tx_id not in known:
            found.append(
                Violation(
                    "unknown-transaction",
                    f"StopTransaction for a transactionId the CSMS never gave: {stop.describe()}",
                )
            )
            continue
        stops[tx_id].append(stop)
    for start in index.calls("StartTransaction"):
        tx_id = index.tx_of_start.get(start.unique_id)
        if tx_id is None:
            continue
        mine = stops.get(tx_id, [])
        if not mine and tx_id not in log.running_at_end:
            found.append(
                Violation(
                    "missing-stop",
                    f"transaction {tx_id} never got a StopTransaction: {start.describe()}",
                )
            )
        elif len(mine) > 1:
            found.append(
                Violation(
                    "duplicate-stop",
                    f"transaction {tx_id} stopped {len(mine)} times: "
                    + " | ".join(f.describe() for f in mine),
                )
            )
    return found, stops


def _check_meter_values(index: _Index, stops: dict[int, list[Frame]]) -> list[Violation]:
    found: list[Violation] = []
    known = set(index.tx_of_start.values())
    for values in index.calls("MeterValues"):
        tx_id = values.payload.get("transactionId")
        if tx_id is None:
            continue  # clock-aligned values of an idle connector
        if tx_id not in known:
            found.append(
                Violation(
                    "unknown-transaction",
                    f"MeterValues for a transactionId the CSMS never gave: {values.describe()}",
                )
            )
            continue
        first_stop = stops.get(tx_id, [])
        if first_stop and values.seq > first_stop[0].seq:
            found.append(
                Violation(
                    "meter-after-stop",
                    f"MeterValues for transaction {tx_id} after its StopTransaction "
                    f"{first_stop[0].describe()}: {values.describe()}",
                )
            )
    return found


def _check_meter_ranges(index: _Index, stops: dict[int, list[Frame]]) -> list[Violation]:
    found: list[Violation] = []
    ranges: dict[Any, list[tuple[int, int, int]]] = defaultdict(list)
    for start in index.calls("StartTransaction"):
        tx_id = index.tx_of_start.get(start.unique_id)
        if tx_id is None or not stops.get(tx_id):
            continue
        meter_start = int(start.payload.get("meterStart", 0))
        meter_stop = int(stops[tx_id][0].payload.get("meterStop", 0))
        ranges[start.payload.get("connectorId")].append((meter_start, meter_stop, tx_id))
    for connector_id, spans in ranges.items():
        spans.sort()
        for previous, current in itertools.pairwise(spans):
            if current[0] < previous[1]:
                found.append(
                    Violation(
                        "meter-overlap",
                        f"connector {connector_id}: transaction {current[2]} "
                        f"[{current[0]}, {current[1]}] Wh starts before transaction "
                        f"{previous[2]} [{previous[0]}, {previous[1]}] Wh ended",
                    )
                )
    return found


# -- the charge point's own account: permits and restored transactions ----------------------


def _tx_events(events: list[Event], connector_id: Any, before: int) -> list[tuple[int, Event]]:
    return [
        (pos, e)
        for pos, e in enumerate(events[:before])
        if e.get("event") == "transaction"
        and e.get("connector_id") == connector_id
        and e.get("change") in ("started", "resumed", "stopped")
    ]


def _origin(log: RunLog, index: _Index, inc: int, pos: int) -> tuple[str, Frame | None, str]:
    """Where the started/resumed event at (inc, pos) comes from.

    ("start", frame, how) when its StartTransaction reached the CSMS; ("lost", None, how) when
    it never did; ("stopped", None, how) for a resumed transaction that had already stopped.
    """
    event = log.incarnations[inc][pos]
    connector_id = event.get("connector_id")
    starts = [
        s for s in index.calls("StartTransaction") if s.payload.get("connectorId") == connector_id
    ]
    started_at = event.get("started_at")
    if isinstance(started_at, str):
        how = f"started_at {started_at}"
        earlier = [
            e
            for number, events in enumerate(log.incarnations[: inc + 1])
            for _, e in _tx_events(events, connector_id, pos if number == inc else len(events))
        ]
        if event.get("change") == "resumed" and any(
            e.get("change") == "stopped" and e.get("started_at") == started_at for e in earlier
        ):
            return "stopped", None, how
        match = [s for s in starts if s.payload.get("timestamp") == started_at]
        return ("start", match[0], how) if match else ("lost", None, how)
    if event.get("change") == "resumed":
        for number in range(inc - 1, -1, -1):
            events = log.incarnations[number]
            previous = _tx_events(events, connector_id, len(events))
            if previous:
                last_pos, last = previous[-1]
                if last.get("change") == "stopped":
                    return "stopped", None, f"last seen stopped in incarnation {number}"
                return _origin(log, index, number, last_pos)
        return "lost", None, "no earlier transaction on this connector"
    at = float(event.get("_at", 0.0))

    def distance(start: Frame) -> float:
        return abs(at - (parse_time(start.payload.get("timestamp")) or 0.0))

    tag = event.get("id_tag")
    if tag is not None and log.unique_tags:
        match = sorted((s for s in starts if s.payload.get("idTag") == tag), key=distance)
        return ("start", match[0], f"idTag {tag}") if match else ("lost", None, f"idTag {tag}")
    # No started_at and no idTag: the connector's StartTransaction stamped closest to it.
    match = sorted((s for s in starts if distance(s) <= 10), key=distance)
    return ("start", match[0], "by time") if match else ("lost", None, "by time")


def _where(inc: int, event: Event) -> str:
    data = {k: v for k, v in event.items() if k != "_at"}
    return f"incarnation {inc} stdout {json.dumps(data, separators=(',', ':'))}"


def _check_outputs(log: RunLog, index: _Index) -> list[Violation]:
    found: list[Violation] = []
    for inc, events in enumerate(log.incarnations):
        for pos, event in enumerate(events):
            kind = event.get("event")
            if kind == "transaction" and event.get("change") == "resumed":
                origin, _, how = _origin(log, index, inc, pos)
                if origin == "stopped":
                    found.append(
                        Violation(
                            "resumed-after-stop",
                            f"a transaction that had stopped was restored as running ({how}): "
                            + _where(inc, event),
                        )
                    )
            if not (
                kind == "hardware"
                and event.get("action") == "charging_permitted"
                and event.get("permitted") is True
            ):
                continue
            previous = _tx_events(events, event.get("connector_id"), pos)
            if not previous or previous[-1][1].get("change") == "stopped":
                found.append(
                    Violation(
                        "permit-without-start",
                        "charging permitted with no started/resumed transaction before it: "
                        + _where(inc, event),
                    )
                )
                continue
            origin, _, how = _origin(log, index, inc, previous[-1][0])
            if origin == "stopped":
                found.append(
                    Violation(
                        "permit-without-start",
                        f"charging permitted for a transaction that had stopped ({how}): "
                        + _where(inc, event),
                    )
                )
            elif origin == "lost":
                found.append(
                    Violation(
                        "permit-start-lost",
                        f"charging permitted but the StartTransaction ({how}) never reached "
                        f"the CSMS: {_where(inc, event)} after {_where(inc, previous[-1][1])}",
                    )
                )
    return found


# -- changes the CSMS was told were Accepted -------------------------------------------------


@dataclass(slots=True)
class Expected:
    """What must still be in force, with the frame that promised it."""

    configuration: dict[str, tuple[str, Frame]] = field(default_factory=dict)
    availability: dict[int, tuple[bool, Frame]] = field(default_factory=dict)
    local_list_version: tuple[int, Frame] | None = None
    # connectorId of the profile -> (stackLevel -> (limit, frame)), TxDefaultProfile only
    tx_default: dict[int, dict[int, tuple[float, Frame]]] = field(default_factory=dict)

    def profile_limit(self, connector_id: int) -> tuple[float, Frame] | None:
        """The TxDefaultProfile limit for a connector: its own profile, else connector 0's."""
        for owner in (connector_id, 0):
            levels = self.tx_default.get(owner)
            if levels:
                return levels[max(levels)]
        return None


def expected_state(log: RunLog, index: _Index | None = None) -> Expected:
    index = index or _Index.build(log.frames)
    expected = Expected()
    connectors: set[int] = {0}
    for frame in index.cp_calls:
        if frame.action == "StatusNotification":
            connectors.add(int(frame.payload.get("connectorId", 0)))
    for uid, call in sorted(index.csms_calls.items(), key=lambda item: item[1].seq):
        answer = index.cp_answers.get(uid)
        if answer is None or answer.kind != CALLRESULT:
            continue
        status = answer.payload.get("status")
        payload = call.payload
        if call.action == "ChangeConfiguration" and status == "Accepted":
            if payload["key"] not in BOOT_OWNED_KEYS:
                expected.configuration[payload["key"]] = (str(payload["value"]), call)
        elif call.action == "ChangeAvailability" and status in AVAILABILITY_PROMISES:
            targets = connectors if payload["connectorId"] == 0 else {payload["connectorId"]}
            for connector_id in targets:
                expected.availability[connector_id] = (payload["type"] == "Operative", call)
        elif call.action == "SendLocalList" and status == "Accepted":
            expected.local_list_version = (int(payload["listVersion"]), call)
        elif call.action == "SetChargingProfile" and status == "Accepted":
            profile = payload["csChargingProfiles"]
            if profile["chargingProfilePurpose"] == "TxDefaultProfile":
                limit = float(profile["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"])
                levels = expected.tx_default.setdefault(int(payload["connectorId"]), {})
                levels[int(profile["stackLevel"])] = (limit, call)
    return expected


def _normal(value: Any) -> str:
    return ",".join(part.strip() for part in str(value).split(",")).lower()


def _check_changes(log: RunLog, index: _Index) -> list[Violation]:
    final = log.final_incarnation
    expected = expected_state(log, index)
    if final is None:
        return []
    found: list[Violation] = []

    def lost(what: str, promise: Frame, seen: str) -> None:
        found.append(
            Violation(
                "change-lost",
                f"{what} was accepted ({promise.describe()}) but after the restarts {seen}",
            )
        )

    answers = [
        (call, index.cp_answers[uid])
        for uid, call in index.csms_calls.items()
        if call.incarnation == final and uid in index.cp_answers
    ]
    configuration: dict[str, Any] = {}
    versions: list[Any] = []
    composite: dict[int, Any] = {}
    for call, answer in sorted(answers, key=lambda pair: pair[1].seq):
        if call.action == "GetConfiguration":
            for entry in answer.payload.get("configurationKey", []):
                configuration[entry["key"]] = entry.get("value")
        elif call.action == "GetLocalListVersion":
            versions.append(answer.payload.get("listVersion"))
        elif call.action == "GetCompositeSchedule" and answer.payload.get("status") == "Accepted":
            periods = answer.payload["chargingSchedule"]["chargingSchedulePeriod"]
            composite[int(call.payload["connectorId"])] = periods[0]["limit"] if periods else None
    for key, (value, promise) in expected.configuration.items():
        if key not in configuration:
            lost(f"{key}={value}", promise, "GetConfiguration did not report it")
        elif _normal(configuration[key]) != _normal(value):
            lost(f"{key}={value}", promise, f"GetConfiguration says {configuration[key]!r}")
    if expected.local_list_version is not None:
        version, promise = expected.local_list_version
        if not versions or versions[-1] != version:
            lost(f"local list version {version}", promise, f"GetLocalListVersion says {versions}")
    statuses: dict[int, str] = {}
    for frame in log.frames:
        if (frame.incarnation, frame.sender, frame.kind) == (final, CP, CALL) and (
            frame.action == "StatusNotification"
        ):
            statuses[int(frame.payload["connectorId"])] = frame.payload["status"]
    for connector_id in sorted(set(statuses) | set(composite)):
        limit = expected.profile_limit(connector_id)
        if connector_id and limit is not None and composite.get(connector_id) != limit[0]:
            lost(
                f"TxDefaultProfile {limit[0]} A on connector {connector_id}",
                limit[1],
                f"GetCompositeSchedule gives {composite.get(connector_id)}",
            )
    for connector_id, (operative, promise) in sorted(expected.availability.items()):
        status = statuses.get(connector_id)
        if status is None:
            continue  # a connector this charge point does not have (ChangeAvailability on 0)
        if operative == (status == "Unavailable"):
            wanted = "Operative" if operative else "Inoperative"
            lost(f"connector {connector_id} {wanted}", promise, f"its status is {status}")
    return found


# -- hand-made logs for the checker's own tests ------------------------------------------------


class LogBuilder:
    """Builds a RunLog frame by frame, in order (for unit tests of the checker)."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.incarnations: list[list[Event]] = [[]]
        self.incarnation = 0
        self.clock = 1_700_000_000.0

    def restart(self) -> None:
        self.incarnation += 1
        self.incarnations.append([])

    def _add(self, sender: str, kind: int, uid: str, action: str, payload: dict[str, Any]) -> str:
        self.clock += 0.1
        self.frames.append(
            Frame(
                len(self.frames), self.incarnation, self.clock, sender, kind, uid, action, payload
            )
        )
        return uid

    def cp_call(self, action: str, payload: dict[str, Any], uid: str | None = None) -> str:
        return self._add(CP, CALL, uid or str(uuid.uuid4()), action, payload)

    def csms_answer(self, uid: str, action: str, payload: dict[str, Any]) -> None:
        self._add(CSMS, CALLRESULT, uid, action, payload)

    def exchange(
        self, action: str, payload: dict[str, Any], answer: dict[str, Any], uid: str | None = None
    ) -> str:
        uid = self.cp_call(action, payload, uid)
        self.csms_answer(uid, action, answer)
        return uid

    def csms_exchange(self, action: str, payload: dict[str, Any], answer: dict[str, Any]) -> None:
        uid = self._add(CSMS, CALL, str(uuid.uuid4()), action, payload)
        self._add(CP, CALLRESULT, uid, action, answer)

    def event(self, event: str, **data: Any) -> None:
        self.clock += 0.1
        self.incarnations[self.incarnation].append({"event": event, **data, "_at": self.clock})

    def build(self, final: bool = True) -> RunLog:
        return RunLog(
            list(self.frames),
            [list(e) for e in self.incarnations],
            self.incarnation if final else None,
        )
