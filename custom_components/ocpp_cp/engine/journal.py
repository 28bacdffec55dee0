"""The transactional journal: transaction state, its outbound messages and settings, in one file.

Billing lives on StartTransaction, MeterValues and StopTransaction. Each change of a
transaction's state is ONE SQLite commit (WAL, ``synchronous=FULL``: fsynced) holding the new
state AND the messages it produces (the outbox pattern), so a crash at any instant leaves
either the old state with none of its messages or the new state with all of them. The
operations guard themselves in SQL: a stopped transaction is never written to again, its
StopTransaction is produced once, and nothing of it is produced after that.

Settings the CSMS changes (configuration, availability, local list, charging profiles) are
documents in the same file; a handler awaits ``save_document`` before it answers Accepted.

Acknowledged messages are removed in groups (``DELETE_BATCH`` or ``DELETE_DELAY`` s apart): a
crash in between only means a message is sent again with the same unique id (at-least-once).
All SQLite work runs on one worker thread shared by the journals of the process.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    unique_id TEXT NOT NULL,
    action TEXT NOT NULL,
    payload TEXT NOT NULL,
    tx_local_id INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS transactions (
    local_id INTEGER PRIMARY KEY AUTOINCREMENT,
    connector_id INTEGER NOT NULL,
    transaction_id INTEGER,
    document TEXT NOT NULL,
    ended INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS messages_by_transaction ON messages (tx_local_id);
CREATE TABLE IF NOT EXISTS documents (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS security_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    timestamp TEXT NOT NULL,
    type TEXT NOT NULL,
    tech_info TEXT,
    critical INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS security_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    unique_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
"""
# Every open runs SCHEMA (IF NOT EXISTS): a file from a release without a table gets it.
# security_log and security_outbox belong to services/security_events.py.
# Added after the first release: files written by it get the column on open.
START_DISCARDED_COLUMN = "start_discarded"
DELETE_BATCH = 64
DELETE_DELAY = 0.1
# Close the file after this long without work: an idle charge point holds no SQLite
# connection (about 135 KB each); the next write opens it again in well under a millisecond.
IDLE_CLOSE = 2.0
# SQLite integers are signed 64-bit: a transactionId outside this range cannot be stored.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


class _SharedWorker:
    """One SQLite thread for every journal of the process, alive while any is open."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._users = 0
        self._lock = threading.Lock()

    def acquire(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="ocpp_cp_queue"
                )
            self._users += 1
            return self._executor

    def release(self) -> ThreadPoolExecutor | None:
        """The executor to shut down when the last user has gone, else None."""
        with self._lock:
            self._users -= 1
            if self._users > 0:
                return None
            executor, self._executor = self._executor, None
            return executor


_WORKER = _SharedWorker()


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class JournalError(Exception):
    """The journal file cannot be used (corrupt, unwritable); the text says which and why."""


@dataclass(slots=True)
class Outbound:
    """A transaction message to commit with a state change."""

    unique_id: str
    action: str
    payload: dict[str, Any]
    text: str = field(init=False)

    def __post_init__(self) -> None:
        self.text = _dumps(self.payload)


@dataclass(slots=True)
class StoredMessage:
    seq: int
    unique_id: str
    action: str
    payload_text: str  # parsed only when sent: a large backlog stays small in memory
    tx_local_id: int | None
    attempts: int

    @property
    def payload(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.payload_text)
        return value


@dataclass(slots=True)
class StoredTransaction:
    local_id: int
    connector_id: int
    transaction_id: int | None
    document: dict[str, Any]
    ended: bool
    start_discarded: bool


class Journal:
    """The journal file of one charge point. ``path`` may be ":memory:" for tests."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._executor = _WORKER.acquire()
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._pending_deletes: list[int] = []
        # Ended transactions whose StopTransaction was acknowledged: pruned at the next flush.
        self._finished: list[int] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._idle_handle: asyncio.TimerHandle | None = None
        self._closed = False
        self._opened = False
        # Messages committed and not yet removed; kept here so a full check costs nothing.
        self.pending = 0

    # -- thread side ------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, cached_statements=32
        )
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        # A small page cache: the backlog is read once, in order; 256 KiB is plenty.
        db.execute("PRAGMA cache_size=-256")
        return db

    def _open(self) -> int:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            db = self._connect()
            db.executescript(SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(transactions)")}
            if START_DISCARDED_COLUMN not in columns:
                db.execute(
                    f"ALTER TABLE transactions ADD COLUMN {START_DISCARDED_COLUMN} "
                    "INTEGER NOT NULL DEFAULT 0"
                )
            check = db.execute("PRAGMA quick_check").fetchone()
            count = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        except sqlite3.DatabaseError as err:
            raise JournalError(f"journal file {self.path} is unusable: {err}") from err
        except OSError as err:
            raise JournalError(f"journal file {self.path} cannot be opened: {err}") from err
        if check is None or check[0] != "ok":
            db.close()
            raise JournalError(f"journal file {self.path} is unusable: integrity {check}")
        self._db = db
        self._opened = True
        return int(count)

    def _run[T](self, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            with self._lock:
                if self._db is None:
                    self._db = self._connect()
                return work(self._db)
        except sqlite3.DatabaseError as err:
            raise JournalError(f"journal file {self.path}: {err}") from err

    def _atomic[T](self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` as one commit; any error rolls all of it back."""

        def transaction(db: sqlite3.Connection) -> T:
            db.execute("BEGIN IMMEDIATE")
            try:
                result = work(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result

        return self._run(transaction)

    def _disconnect(self) -> None:
        with self._lock:
            db, self._db = self._db, None
        if db is not None:
            db.close()

    # -- async plumbing ---------------------------------------------------------------------

    async def _call[T](self, work: Callable[[sqlite3.Connection], T], *, atomic: bool = False) -> T:
        if self._closed or not self._opened:
            raise JournalError("journal is closed")
        loop = asyncio.get_running_loop()
        runner = self._atomic if atomic else self._run
        try:
            return await loop.run_in_executor(self._executor, runner, work)
        finally:
            self._arm_idle_close(loop)

    def _arm_idle_close(self, loop: asyncio.AbstractEventLoop) -> None:
        """An in-memory database lives only as long as its connection: never close that."""
        if self.path == ":memory:" or self._closed:
            return
        if self._idle_handle is not None:
            self._idle_handle.cancel()
        self._idle_handle = loop.call_later(IDLE_CLOSE, self._close_when_idle, loop)

    def _close_when_idle(self, loop: asyncio.AbstractEventLoop) -> None:
        self._idle_handle = None
        if self._pending_deletes or self._closed:
            return  # the flush re-arms the timer
        loop.run_in_executor(self._executor, self._disconnect)

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self.pending = await loop.run_in_executor(self._executor, self._open)

    async def close(self) -> None:
        """Write pending removals, close the file, end the worker thread. Idempotent."""
        if self._closed:
            return
        await self.flush()
        self._closed = True
        if self._idle_handle is not None:
            self._idle_handle.cancel()
            self._idle_handle = None
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._disconnect)
        last = _WORKER.release()
        if last is not None:
            await loop.run_in_executor(None, last.shutdown, True)

    @staticmethod
    def _insert(db: sqlite3.Connection, message: Outbound, local_id: int | None) -> int:
        cursor = db.execute(
            "INSERT INTO messages (unique_id, action, payload, tx_local_id) VALUES (?,?,?,?)",
            (message.unique_id, message.action, message.text, local_id),
        )
        return int(cursor.lastrowid or 0)

    # -- transaction state changes: each is one commit --------------------------------------

    async def start_transaction(
        self, connector_id: int, document: dict[str, Any], start: Outbound
    ) -> tuple[int, int]:
        """A new transaction and its StartTransaction; returns (local id, message seq)."""
        text = _dumps(document)

        def work(db: sqlite3.Connection) -> tuple[int, int]:
            cursor = db.execute(
                "INSERT INTO transactions (connector_id, document) VALUES (?, ?)",
                (connector_id, text),
            )
            local_id = int(cursor.lastrowid or 0)
            return local_id, self._insert(db, start, local_id)

        result = await self._call(work, atomic=True)
        self.pending += 1
        return result

    async def record(
        self, local_id: int, document: dict[str, Any] | None, message: Outbound | None
    ) -> int | None:
        """A running transaction's new state and/or a message of it (MeterValues).

        Returns the message's seq (0 without one), or None when the transaction has already
        ended: then nothing was written.
        """
        text = None if document is None else _dumps(document)

        def work(db: sqlite3.Connection) -> int | None:
            if text is not None:
                cursor = db.execute(
                    "UPDATE transactions SET document = ? WHERE local_id = ? AND ended = 0",
                    (text, local_id),
                )
                running = cursor.rowcount == 1
            else:
                row = db.execute(
                    "SELECT 1 FROM transactions WHERE local_id = ? AND ended = 0", (local_id,)
                ).fetchone()
                running = row is not None
            if not running:
                return None
            return 0 if message is None else self._insert(db, message, local_id)

        seq = await self._call(work, atomic=True)
        if seq:
            self.pending += 1
        return seq

    async def stop_transaction(
        self, local_id: int, document: dict[str, Any], stop: Outbound
    ) -> int | None:
        """End a transaction with its StopTransaction; None if it had already ended."""
        text = _dumps(document)

        def work(db: sqlite3.Connection) -> int | None:
            cursor = db.execute(
                "UPDATE transactions SET ended = 1, document = ? WHERE local_id = ? AND ended = 0",
                (text, local_id),
            )
            if cursor.rowcount != 1:
                return None
            return self._insert(db, stop, local_id)

        seq = await self._call(work, atomic=True)
        if seq:
            self.pending += 1
        return seq

    async def confirm_start(
        self, seq: int, local_id: int, transaction_id: int, document: dict[str, Any]
    ) -> None:
        """StartTransaction answered: forget the message and keep the CSMS's id, at once.

        The document is written only while the transaction runs; ``ended`` is never touched.
        """
        if not INT64_MIN <= transaction_id <= INT64_MAX:
            raise ValueError(f"transactionId {transaction_id} is outside the signed 64-bit range")
        text = _dumps(document)

        def work(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM messages WHERE seq = ?", (seq,))
            db.execute(
                "UPDATE transactions SET transaction_id = ?, "
                "document = CASE WHEN ended = 0 THEN ? ELSE document END WHERE local_id = ?",
                (transaction_id, text, local_id),
            )

        await self._call(work, atomic=True)
        self.pending -= 1

    async def discard_start(self, seq: int, local_id: int) -> None:
        """The CSMS refused StartTransaction every time: drop it, remember that it did."""

        def work(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM messages WHERE seq = ?", (seq,))
            db.execute(
                f"UPDATE transactions SET {START_DISCARDED_COLUMN} = 1 WHERE local_id = ?",
                (local_id,),
            )

        await self._call(work, atomic=True)
        self.pending -= 1

    # -- delivery ---------------------------------------------------------------------------

    async def page(self, after_seq: int, limit: int) -> tuple[list[StoredMessage], int]:
        """Up to ``limit`` messages after ``after_seq`` in order, and the highest seq stored."""
        deleted = set(self._pending_deletes)

        def work(db: sqlite3.Connection) -> tuple[list[StoredMessage], int]:
            rows = db.execute(
                "SELECT seq, unique_id, action, payload, tx_local_id, attempts FROM messages "
                "WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
            highest = db.execute("SELECT COALESCE(MAX(seq), 0) FROM messages").fetchone()[0]
            messages = [StoredMessage(*row) for row in rows if row[0] not in deleted]
            return messages, int(highest)

        return await self._call(work)

    async def messages(self) -> list[StoredMessage]:
        """Every message not yet acknowledged, oldest first (tests and diagnostics)."""
        found, _ = await self.page(0, -1)
        return found

    def acknowledge(self, seq: int, finished_local_id: int | None = None) -> None:
        """The CSMS answered: remove the message (grouped with others, see module docstring).

        ``finished_local_id``: the message was its transaction's last (StopTransaction).
        """
        self._pending_deletes.append(seq)
        if finished_local_id is not None:
            self._finished.append(finished_local_id)
        self.pending -= 1
        if len(self._pending_deletes) >= DELETE_BATCH:
            asyncio.get_running_loop().create_task(self.flush())
        elif self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(
                DELETE_DELAY, lambda: loop.create_task(self.flush())
            )

    async def flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        batch, self._pending_deletes = self._pending_deletes, []
        finished, self._finished = self._finished, []
        if not batch or self._closed or not self._opened:
            return

        def work(db: sqlite3.Connection) -> None:
            # One statement: executemany would hand the GIL back and forth once per row.
            marks = ",".join("?" * len(batch))
            db.execute(f"DELETE FROM messages WHERE seq IN ({marks})", batch)
            if finished:
                marks = ",".join("?" * len(finished))
                db.execute(
                    f"DELETE FROM transactions WHERE ended = 1 AND local_id IN ({marks}) "
                    "AND NOT EXISTS (SELECT 1 FROM messages WHERE tx_local_id = local_id)",
                    finished,
                )

        await self._call(work, atomic=True)

    async def count_attempt(self, seq: int) -> None:
        await self._call(
            lambda db: db.execute(
                "UPDATE messages SET attempts = attempts + 1 WHERE seq = ?", (seq,)
            )
        )

    async def thin(self, after_seq: int) -> int:
        """Full: drop every second MeterValues after ``after_seq``; never a Start or Stop."""

        def work(db: sqlite3.Connection) -> int:
            cursor = db.execute(
                "DELETE FROM messages WHERE seq IN (SELECT seq FROM (SELECT seq, "
                "ROW_NUMBER() OVER (ORDER BY seq) AS n FROM messages "
                "WHERE action = 'MeterValues' AND seq > ?) WHERE n % 2 = 1)",
                (after_seq,),
            )
            return int(cursor.rowcount)

        dropped = await self._call(work, atomic=True)
        self.pending -= dropped
        return dropped

    async def count(self) -> int:
        row = await self._call(lambda db: db.execute("SELECT COUNT(*) FROM messages").fetchone())
        return int(row[0]) - len(self._pending_deletes)

    # -- restart recovery -------------------------------------------------------------------

    async def transactions(self) -> list[StoredTransaction]:
        """Transactions still running or with messages waiting, oldest first."""

        def work(db: sqlite3.Connection) -> list[StoredTransaction]:
            rows = db.execute(
                "SELECT local_id, connector_id, transaction_id, document, ended, "
                f"{START_DISCARDED_COLUMN} FROM transactions "
                "WHERE ended = 0 OR local_id IN (SELECT tx_local_id FROM messages "
                "WHERE tx_local_id IS NOT NULL) ORDER BY local_id"
            ).fetchall()
            return [
                StoredTransaction(
                    row[0], row[1], row[2], json.loads(row[3]), bool(row[4]), bool(row[5])
                )
                for row in rows
            ]

        return await self._call(work)

    # -- tables other services keep in this file (the security log) ------------------------

    async def execute[T](
        self, work: Callable[[sqlite3.Connection], T], *, atomic: bool = True
    ) -> T:
        """Run ``work`` on the journal's worker (one commit when ``atomic``): for a service
        that keeps a table of its own here. ``work`` must not commit itself (no
        ``executescript``); JournalError when the file cannot be used."""
        return await self._call(work, atomic=atomic)

    # -- documents (configuration, availability, authorization, charging profiles) ----------

    async def load_document(self, key: str) -> Any | None:
        row = await self._call(
            lambda db: db.execute("SELECT value FROM documents WHERE key = ?", (key,)).fetchone()
        )
        return None if row is None else json.loads(row[0])

    async def save_document(self, key: str, value: Any) -> None:
        """Returns once the document is durable."""
        text = json.dumps(value)
        await self._call(
            lambda db: db.execute(
                "INSERT INTO documents (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, text),
            )
        )
