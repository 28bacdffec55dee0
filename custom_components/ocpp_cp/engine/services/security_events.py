"""Security events of the OCPP 1.6 security whitepaper: the security log and its notifications.

Every event is one row of a rolling security log (a table in the journal file, the newest
``LOG_LIMIT`` rows kept). A critical event (the whitepaper's table, as libocpp's
``is_critical``) is also queued as SecurityEventNotification in the SAME commit, in a small
outbox of its own beside the transaction outbox, so that a CSMS that does not implement the
security extension never holds up StartTransaction. The queue is delivered in order with the
same unique id on every resend (a timeout or a lost link is "not yet"), like transaction
messages; a CALLERROR counts toward TransactionMessageAttempts, except NotImplemented /
NotSupported, which mean the CSMS has no use for it: dropped at once. An answered event is
removed from the queue with an awaited commit before the next is sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
import time
import uuid
from dataclasses import dataclass
from typing import Any

from ..journal import JournalError
from ..ocpp16.frames import CallErrorCode, OcppCallError
from ..ocpp16.rpc import NotConnectedError
from ..ocpp16.validation import validate
from .context import EngineContext

_LOGGER = logging.getLogger(__name__)

ACTION = "SecurityEventNotification"
# The whitepaper's critical events (libocpp security_events.hpp marks the same ones).
CRITICAL = frozenset(
    {
        "FirmwareUpdated",
        "SettingSystemTime",
        "StartupOfTheDevice",
        "ResetOrReboot",
        "SecurityLogWasCleared",
        "MemoryExhaustion",
        "TamperDetectionActivated",
    }
)
# Rotation: beyond LOG_LIMIT rows the oldest ROTATE_DROP go at once (about 300 bytes a row:
# under 1 MB), and SecurityLogWasCleared says so (libocpp: "rotated with deletion").
LOG_LIMIT = 2000
ROTATE_DROP = 500
CLEARED = "SecurityLogWasCleared"
# Critical events waiting for the CSMS beyond this many: the oldest are dropped.
QUEUE_LIMIT = 1000
TYPE_MAX = 50
TECH_INFO_MAX = 255
# A CSMS sending garbage must not turn into a write per frame: one InvalidMessages a second.
FLOOD_INTERVAL = 1.0
TYPE_PATTERN = re.compile(rf"[A-Za-z0-9]{{1,{TYPE_MAX}}}", re.ASCII)
NOT_WANTED = frozenset({CallErrorCode.NOT_IMPLEMENTED, CallErrorCode.NOT_SUPPORTED})


@dataclass(frozen=True, slots=True)
class SecurityLogEntry:
    seq: int
    at: float  # epoch seconds, for filtering
    timestamp: str
    type: str
    tech_info: str | None
    critical: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "timestamp": self.timestamp,
            "type": self.type,
            "tech_info": self.tech_info,
            "critical": self.critical,
        }

    def line(self) -> str:
        """One line of an uploaded security log."""
        flag = "critical" if self.critical else "-"
        return f"{self.timestamp} {self.type} {flag} {self.tech_info or ''}".rstrip()


@dataclass(slots=True)
class _Queued:
    seq: int
    unique_id: str
    payload_text: str
    attempts: int


@dataclass(frozen=True, slots=True)
class _Row:
    """An event on its way into the log (and, if critical, the outbox)."""

    at: float
    timestamp: str
    type: str
    tech_info: str | None

    def insert(self, db: sqlite3.Connection) -> SecurityLogEntry:
        critical = self.type in CRITICAL
        cursor = db.execute(
            "INSERT INTO security_log (at, timestamp, type, tech_info, critical) "
            "VALUES (?,?,?,?,?)",
            (self.at, self.timestamp, self.type, self.tech_info, int(critical)),
        )
        if critical:
            payload: dict[str, Any] = {"type": self.type, "timestamp": self.timestamp}
            if self.tech_info:
                payload["techInfo"] = self.tech_info
            validate(ACTION, payload, response=False, inbound=False)
            # The text is what goes on the wire, spliced as it is into the frame.
            text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
            queued = db.execute(
                "INSERT INTO security_outbox (unique_id, payload) VALUES (?,?)",
                (str(uuid.uuid4()), text),
            ).lastrowid
            # A CSMS that never accepts us must not grow the queue without end.
            db.execute("DELETE FROM security_outbox WHERE seq <= ?", ((queued or 0) - QUEUE_LIMIT,))
        seq = int(cursor.lastrowid or 0)
        return SecurityLogEntry(seq, self.at, self.timestamp, self.type, self.tech_info, critical)


def checked_event(kind: str, tech_info: str | None) -> tuple[str, str | None]:
    """A type and tech info from outside (simulator, HA): ValueError when unusable."""
    if not TYPE_PATTERN.fullmatch(kind):
        raise ValueError(f"a security event type is 1 to {TYPE_MAX} letters or digits")
    if tech_info is not None and len(tech_info) > TECH_INFO_MAX:
        raise ValueError(f"techInfo is at most {TECH_INFO_MAX} characters")
    return kind, tech_info or None


class SecurityEventService:
    """The sink of ``EngineContext.security_event`` and the sender of its notifications."""

    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx
        ctx.security_sink = self.raise_event
        self._wakeup = asyncio.Event()
        # Set while the sender waits on an empty queue (like the transaction delivery's idle).
        self.idle = asyncio.Event()
        self.sender: asyncio.Task[None] | None = None
        self._last_flood = 0.0
        self._suppressed = 0

    # -- raising ----------------------------------------------------------------------------

    def raise_event(self, kind: str, tech_info: str | None = None) -> None:
        """Log ``kind`` (and queue it if critical); the commit runs as a tracked write."""
        kind = kind.strip()[:TYPE_MAX]
        if not kind:
            raise ValueError("a security event needs a type")
        if kind == "InvalidMessages":
            now = time.monotonic()
            if now - self._last_flood < FLOOD_INTERVAL:
                self._suppressed += 1
                return
            self._last_flood = now
            if self._suppressed:
                tech_info = f"{tech_info or ''} (+{self._suppressed} more since)".strip()
                self._suppressed = 0
        self._enqueue(kind, None if tech_info is None else tech_info[:TECH_INFO_MAX])

    async def record(self, kind: str, tech_info: str | None = None) -> SecurityLogEntry | None:
        """An event from outside (simulator, HA), durable in the log (and queued if critical)
        when this returns it; None when storage failed; ValueError for an unusable type."""
        return await self._enqueue(*checked_event(kind, tech_info))

    def _enqueue(self, kind: str, tech_info: str | None) -> asyncio.Task[SecurityLogEntry | None]:
        """Stamped now, written after every event raised before it (a write stop() awaits:
        ctx.persist starts writes in order and the journal's one worker runs them in order).
        A second stamp is kept for the SecurityLogWasCleared a rotation may add after it."""
        at = self.ctx.clock.time()
        stamps = (self.ctx.now_stamp(), self.ctx.now_stamp())
        return self.ctx.persist(self._write(at, stamps, kind, tech_info), "security")

    async def _write(
        self, at: float, stamps: tuple[str, str], kind: str, tech_info: str | None
    ) -> SecurityLogEntry | None:
        """One commit: the log row, the rotation, and for a critical event its message.
        The ``security_event`` events go out after the commit. Nothing may be awaited before
        the journal call: that is what keeps the writes in the order they were raised."""
        entry = _Row(at, stamps[0], kind, tech_info)
        cleared = _Row(
            at, stamps[1], CLEARED, f"Security log rotated: {ROTATE_DROP} oldest dropped"
        )

        def work(db: sqlite3.Connection) -> list[SecurityLogEntry]:
            written = [entry.insert(db)]
            count = db.execute("SELECT COUNT(*) FROM security_log").fetchone()[0]
            if count > LOG_LIMIT:  # rotated with deletion: libocpp reports that as cleared
                db.execute(
                    "DELETE FROM security_log WHERE seq IN "
                    "(SELECT seq FROM security_log ORDER BY seq LIMIT ?)",
                    (ROTATE_DROP,),
                )
                written.append(cleared.insert(db))
            return written

        try:
            written = await self.ctx.journal.execute(work)
        except JournalError as err:
            self.ctx.storage_failed(err)
            return None
        for row in written:
            _LOGGER.info("Security event %s%s", row.type, " (critical)" if row.critical else "")
            self.ctx.emit("security_event", **row.to_dict())
            if row.critical:
                self.idle.clear()
                self._wakeup.set()
        return written[0]

    # -- reading ----------------------------------------------------------------------------

    async def entries(
        self,
        limit: int | None = None,
        oldest: float | None = None,
        latest: float | None = None,
    ) -> list[SecurityLogEntry]:
        """The log, oldest first: the newest ``limit`` rows within [oldest, latest]."""

        def work(db: sqlite3.Connection) -> list[SecurityLogEntry]:
            rows = db.execute(
                "SELECT seq, at, timestamp, type, tech_info, critical FROM security_log "
                "WHERE at >= ? AND at <= ? ORDER BY seq DESC LIMIT ?",
                (
                    float("-inf") if oldest is None else oldest,
                    float("inf") if latest is None else latest,
                    -1 if limit is None else limit,
                ),
            ).fetchall()
            return [
                SecurityLogEntry(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in reversed(rows)
            ]

        return await self.ctx.journal.execute(work, atomic=False)

    async def queued(self) -> list[str]:
        """Unique ids of the notifications not yet answered, oldest first."""

        def work(db: sqlite3.Connection) -> list[str]:
            return [
                row[0] for row in db.execute("SELECT unique_id FROM security_outbox ORDER BY seq")
            ]

        return await self.ctx.journal.execute(work, atomic=False)

    # -- delivery ---------------------------------------------------------------------------

    def start(self) -> None:
        """After the journal is open: StartupOfTheDevice, and the sender for this run."""
        self.raise_event("StartupOfTheDevice", "The charge point has started")
        self.sender = self.ctx.spawn(self.run(), "security events")

    async def _head(self) -> _Queued | None:
        def work(db: sqlite3.Connection) -> _Queued | None:
            row = db.execute(
                "SELECT seq, unique_id, payload, attempts FROM security_outbox ORDER BY seq LIMIT 1"
            ).fetchone()
            return None if row is None else _Queued(*row)

        return await self.ctx.journal.execute(work, atomic=False)

    async def _settle(self, seq: int) -> None:
        await self.ctx.journal.execute(
            lambda db: db.execute("DELETE FROM security_outbox WHERE seq = ?", (seq,))
        )

    async def _count_attempt(self, seq: int) -> None:
        await self.ctx.journal.execute(
            lambda db: db.execute(
                "UPDATE security_outbox SET attempts = attempts + 1 WHERE seq = ?", (seq,)
            )
        )

    async def run(self) -> None:
        """Deliver queued notifications whenever the CSMS has accepted us; never returns."""
        while True:
            await self.ctx.accepted.wait()
            self._wakeup.clear()
            try:
                head = await self._head()
            except JournalError as err:
                self.ctx.storage_failed(err)
                await asyncio.sleep(5)
                continue
            if head is None:
                self.idle.set()
                await self._wakeup.wait()
                continue
            self.idle.clear()
            try:
                await self._deliver(head)
            except JournalError as err:
                self.ctx.storage_failed(err)
                await asyncio.sleep(5)

    async def _deliver(self, head: _Queued) -> None:
        try:
            await self.ctx.call_stored(ACTION, head.unique_id, head.payload_text)
        except TimeoutError:
            _LOGGER.info("No answer to %s yet; sending it again", ACTION)
            return
        except (NotConnectedError, ConnectionError):
            await asyncio.sleep(0.5)  # until the supervisor has noticed and cleared accepted
            return
        except OcppCallError as err:
            if err.code not in NOT_WANTED:
                head.attempts += 1
                await self._count_attempt(head.seq)
                if (delay := self.ctx.retry_delay(head.attempts)) is not None:
                    await asyncio.sleep(delay)
                    return
            _LOGGER.warning("%s %s given up: %s", ACTION, head.unique_id, err)
            await self._settle(head.seq)
            self.ctx.emit("security_event_dropped", unique_id=head.unique_id, error=str(err))
            return
        await self._settle(head.seq)
        self.ctx.emit("security_event_delivered", unique_id=head.unique_id)
