"""Durable store for transaction messages and transaction state (SQLite, write-ahead, fsync).

Billing lives on StartTransaction, MeterValues and StopTransaction, so each is committed to disk
(WAL + ``synchronous=FULL``: fsynced) before it is sent, and removed only once its CALLRESULT
is in. Removals are grouped (at most ``DELETE_BATCH`` or ``DELETE_DELAY`` s apart): a crash in
between only means a message is sent again with the same unique id, which is at-least-once.

All SQLite work runs on one worker thread shared by the stores of the process, never on the
event loop.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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
CREATE TABLE IF NOT EXISTS documents (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
DELETE_BATCH = 64
DELETE_DELAY = 0.1
# Close the file after this long without work: an idle charge point holds no SQLite
# connection (about 135 KB each); the next write opens it again in well under a millisecond.
IDLE_CLOSE = 2.0


class _SharedWorker:
    """One SQLite thread for every store of the process, alive while any store is open."""

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


class QueueStorageError(Exception):
    """The queue file cannot be used (corrupt, unwritable); the text says which and why."""


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


class MessageStore:
    """The queue file of one charge point. ``path`` may be ":memory:" for tests."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._executor = _WORKER.acquire()
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._pending_deletes: list[int] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._idle_handle: asyncio.TimerHandle | None = None
        self._closed = False
        self._opened = False

    # -- thread side ------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, cached_statements=16
        )
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        return db

    def _open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            db = self._connect()
            db.executescript(SCHEMA)
            check = db.execute("PRAGMA quick_check").fetchone()
        except sqlite3.DatabaseError as err:
            raise QueueStorageError(f"queue file {self.path} is unusable: {err}") from err
        except OSError as err:
            raise QueueStorageError(f"queue file {self.path} cannot be opened: {err}") from err
        if check is None or check[0] != "ok":
            db.close()
            raise QueueStorageError(f"queue file {self.path} is unusable: integrity {check}")
        self._db = db
        self._opened = True

    def _run[T](self, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            with self._lock:
                if self._db is None:
                    self._db = self._connect()
                return work(self._db)
        except sqlite3.DatabaseError as err:
            raise QueueStorageError(f"queue file {self.path}: {err}") from err

    def _disconnect(self) -> None:
        with self._lock:
            db, self._db = self._db, None
        if db is not None:
            db.close()

    # -- async API --------------------------------------------------------------------------

    async def _call[T](self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed or not self._opened:
            raise QueueStorageError("queue is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, self._run, work)
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
        await asyncio.get_running_loop().run_in_executor(self._executor, self._open)

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

    async def append(
        self, unique_id: str, action: str, payload: dict[str, Any], tx_local_id: int | None
    ) -> int:
        """Commit a message (fsynced) and return its sequence number."""
        text = json.dumps(payload, separators=(",", ":"))

        def work(db: sqlite3.Connection) -> int:
            cursor = db.execute(
                "INSERT INTO messages (unique_id, action, payload, tx_local_id) VALUES (?,?,?,?)",
                (unique_id, action, text, tx_local_id),
            )
            return int(cursor.lastrowid or 0)

        return await self._call(work)

    async def messages(self) -> list[StoredMessage]:
        """Every message not yet acknowledged, oldest first."""
        deleted = set(self._pending_deletes)

        def work(db: sqlite3.Connection) -> list[StoredMessage]:
            rows = db.execute(
                "SELECT seq, unique_id, action, payload, tx_local_id, attempts "
                "FROM messages ORDER BY seq"
            ).fetchall()
            return [
                StoredMessage(row[0], row[1], row[2], row[3], row[4], row[5])
                for row in rows
                if row[0] not in deleted
            ]

        return await self._call(work)

    def acknowledge(self, seq: int) -> None:
        """The CSMS answered: remove the message (grouped with others, see module docstring)."""
        self._pending_deletes.append(seq)
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
        if not batch or self._closed or not self._opened:
            return

        def work(db: sqlite3.Connection) -> None:
            # One statement: executemany would hand the GIL back and forth once per row.
            marks = ",".join("?" * len(batch))
            db.execute(f"DELETE FROM messages WHERE seq IN ({marks})", batch)

        await self._call(work)

    async def confirm_start(
        self, seq: int, local_id: int, transaction_id: int, document: dict[str, Any]
    ) -> None:
        """StartTransaction answered: forget the message and keep the real id, atomically."""
        text = json.dumps(document)

        def work(db: sqlite3.Connection) -> None:
            db.execute("BEGIN")
            db.execute("DELETE FROM messages WHERE seq = ?", (seq,))
            db.execute(
                "UPDATE transactions SET transaction_id = ?, document = ? WHERE local_id = ?",
                (transaction_id, text, local_id),
            )
            db.execute("COMMIT")

        await self._call(work)

    async def remove(self, seq: int) -> None:
        """Drop a message now (given up, or thinned out)."""
        await self._call(lambda db: db.execute("DELETE FROM messages WHERE seq = ?", (seq,)))

    async def count_attempt(self, seq: int) -> None:
        await self._call(
            lambda db: db.execute(
                "UPDATE messages SET attempts = attempts + 1 WHERE seq = ?", (seq,)
            )
        )

    async def count(self) -> int:
        row = await self._call(lambda db: db.execute("SELECT COUNT(*) FROM messages").fetchone())
        return int(row[0]) - len(self._pending_deletes)

    # -- transactions -----------------------------------------------------------------------

    async def begin_transaction(self, connector_id: int, document: dict[str, Any]) -> int:
        """Commit a new transaction; its local id names it until the CSMS gives a real one."""
        text = json.dumps(document)

        def work(db: sqlite3.Connection) -> int:
            cursor = db.execute(
                "INSERT INTO transactions (connector_id, document) VALUES (?, ?)",
                (connector_id, text),
            )
            return int(cursor.lastrowid or 0)

        return await self._call(work)

    async def update_transaction(
        self,
        local_id: int,
        document: dict[str, Any],
        *,
        transaction_id: int | None = None,
        ended: bool = False,
    ) -> None:
        text = json.dumps(document)
        await self._call(
            lambda db: db.execute(
                "UPDATE transactions SET document = ?, "
                "transaction_id = COALESCE(?, transaction_id), ended = ? WHERE local_id = ?",
                (text, transaction_id, int(ended), local_id),
            )
        )

    async def transactions(self) -> list[StoredTransaction]:
        """Transactions that are still open or still have messages waiting."""

        def work(db: sqlite3.Connection) -> list[StoredTransaction]:
            rows = db.execute(
                "SELECT local_id, connector_id, transaction_id, document, ended FROM transactions "
                "WHERE ended = 0 OR local_id IN (SELECT tx_local_id FROM messages "
                "WHERE tx_local_id IS NOT NULL) ORDER BY local_id"
            ).fetchall()
            return [
                StoredTransaction(row[0], row[1], row[2], json.loads(row[3]), bool(row[4]))
                for row in rows
            ]

        return await self._call(work)

    async def prune_transactions(self) -> None:
        """Forget ended transactions whose messages have all been delivered."""
        await self.flush()
        await self._call(
            lambda db: db.execute(
                "DELETE FROM transactions WHERE ended = 1 AND local_id NOT IN "
                "(SELECT tx_local_id FROM messages WHERE tx_local_id IS NOT NULL)"
            )
        )

    # -- small documents (configuration, authorization cache, local list) -------------------

    async def load_document(self, key: str) -> Any | None:
        row = await self._call(
            lambda db: db.execute("SELECT value FROM documents WHERE key = ?", (key,)).fetchone()
        )
        return None if row is None else json.loads(row[0])

    async def save_document(self, key: str, value: Any) -> None:
        text = json.dumps(value)
        await self._call(
            lambda db: db.execute(
                "INSERT INTO documents (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, text),
            )
        )
