"""Delivery of transaction messages from the journal: in order, at least once, same unique id.

OCPP 1.6 sections 3.7 and 4.x: only a CALLERROR (or an answer the charge point cannot use)
counts as a failed attempt toward TransactionMessageAttempts; a timeout or a lost link means
"not delivered yet" and the message is sent again, with the same unique id. The backlog is read
from SQLite a page at a time, so memory does not grow with its length.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from ..authorization import ACCEPTED, answered_status, parent_of
from ..connector import Transaction
from ..journal import INT64_MAX, INT64_MIN, JournalError, Outbound, StoredMessage
from ..ocpp16.frames import OcppCallError
from ..ocpp16.rpc import NotConnectedError
from .context import EngineContext

_LOGGER = logging.getLogger(__name__)

PAGE = 256
START = "StartTransaction"
STOP = "StopTransaction"
# libocpp's placeholder for a transaction the CSMS never numbered (see the engine README).
UNNUMBERED_TRANSACTION_ID = -1


class UnusableAnswer(Exception):
    """A CALLRESULT the charge point cannot use: counted like a CALLERROR."""


class TransactionDelivery:
    """Streams the journal's messages to the CSMS and settles each answer durably."""

    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx
        # Transactions that run or still have messages waiting, by journal id.
        self.transactions: dict[int, Transaction] = {}
        self._buffer: deque[StoredMessage] = deque()
        self._loaded_through = 0  # highest seq in, or already through, the buffer
        self._complete = False  # the buffer holds every stored message after its head
        self._wakeup = asyncio.Event()
        self.idle = asyncio.Event()
        self.thinned = 0
        # Set by the transaction service: what a settled StartTransaction changes.
        self.on_start_confirmed: Callable[[Transaction, dict[str, Any]], Awaitable[None]]
        self.on_start_discarded: Callable[[Transaction], Awaitable[None]]

    # -- what is waiting --------------------------------------------------------------------

    def _settled(self, message: StoredMessage, tx: Transaction | None) -> None:
        """Delivered (or given up): remove it; a StopTransaction ends its transaction's row."""
        if message.action == STOP and tx is not None:
            self.transactions.pop(tx.local_id, None)
            self.ctx.journal.acknowledge(message.seq, tx.local_id)
        else:
            self.ctx.journal.acknowledge(message.seq)

    def appended(self, seq: int, message: Outbound, local_id: int | None) -> None:
        """A commit added a message: hand it to the sender without reading it back."""
        self.idle.clear()
        if seq <= self._loaded_through:
            pass  # already read from disk
        elif self._complete and seq == self._loaded_through + 1 and len(self._buffer) < PAGE:
            self._buffer.append(
                StoredMessage(seq, message.unique_id, message.action, message.text, local_id, 0)
            )
            self._loaded_through = seq
        else:
            self._complete = False
        self._wakeup.set()

    def restored(self) -> None:
        """After start: whatever the journal holds is read from disk as needed."""
        self._buffer.clear()
        self._loaded_through = 0
        self._complete = False
        if self.ctx.journal.pending:
            self.idle.clear()
        else:
            self.idle.set()
        self._wakeup.set()

    async def make_room(self) -> None:
        """Full: drop every second MeterValues behind the head; never a Start or Stop."""
        if self.ctx.journal.pending < self.ctx.settings.queue_limit:
            return
        head = self._buffer[0].seq if self._buffer else self._loaded_through
        try:
            dropped = await self.ctx.journal.thin(head)
        except JournalError as err:
            self.ctx.storage_failed(err)
            return
        if self._buffer:
            self._buffer = deque([self._buffer[0]])
            self._loaded_through = self._buffer[0].seq
        self._complete = False
        self.thinned += dropped
        _LOGGER.warning("Transaction queue full: dropped %s intermediate MeterValues", dropped)
        self.ctx.emit("queue_thinned", dropped=dropped, total=self.thinned)

    async def _head(self) -> StoredMessage | None:
        while not self._buffer:
            if self._complete:
                return None
            messages, highest = await self.ctx.journal.page(self._loaded_through, PAGE)
            if messages:
                self._buffer.extend(messages)
                self._loaded_through = messages[-1].seq
            self._complete = len(messages) < PAGE and highest <= self._loaded_through
        return self._buffer[0]

    # -- the sender -------------------------------------------------------------------------

    async def run(self) -> None:
        """Deliver while connected; returns when the link is lost."""
        while True:
            try:
                message = await self._head()
            except JournalError as err:
                self.ctx.storage_failed(err)
                await asyncio.sleep(5)
                continue
            if message is None:
                self.idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            try:
                await self._deliver(message)
            except NotConnectedError:
                return

    async def _deliver(self, message: StoredMessage) -> None:
        tx = self.transactions.get(message.tx_local_id) if message.tx_local_id else None
        text = message.payload_text
        if message.action != START and tx is not None:
            if tx.transaction_id is not None:
                text = _with_transaction_id(text, tx.transaction_id)
            elif message.action == STOP:
                text = _with_transaction_id(text, UNNUMBERED_TRANSACTION_ID)
        on_answer = None
        if message.action == START and tx is not None:
            tx.start_on_wire.set()  # the call below takes the wire lock before any status
            on_answer = partial(_note_transaction_id, tx)

        try:
            result = await self.ctx.call_stored(message.action, message.unique_id, text, on_answer)
            if message.action == START and tx is not None:
                transaction_id = _transaction_id(result)
                await self.ctx.journal.confirm_start(
                    message.seq, tx.local_id, transaction_id, _confirmed(tx, transaction_id, result)
                )
                self._buffer.popleft()
                tx.transaction_id = transaction_id
                await self.on_start_confirmed(tx, result)
                return
        except TimeoutError:
            # Not an answer: the message is still due, with the same unique id.
            _LOGGER.info("No answer to %s yet; sending it again", message.action)
            return
        except (OcppCallError, UnusableAnswer, ValueError) as err:
            await self._failed_attempt(message, tx, err)
            return
        except JournalError as err:
            self.ctx.storage_failed(err)
            await asyncio.sleep(5)
            return
        self._buffer.popleft()
        self._settled(message, tx)

    async def _failed_attempt(
        self, message: StoredMessage, tx: Transaction | None, err: Exception
    ) -> None:
        if message.action == START and tx is not None:
            tx.confirming_id = None  # that answer did not count
        message.attempts += 1
        try:
            await self.ctx.journal.count_attempt(message.seq)
        except JournalError as journal_err:
            self.ctx.storage_failed(journal_err)
        delay = self.ctx.retry_delay(message.attempts)
        if delay is not None:
            _LOGGER.info(
                "%s failed (%s); attempt %s, the next in %s s",
                message.action,
                err,
                message.attempts,
                delay,
            )
            await asyncio.sleep(delay)
            return
        _LOGGER.error("Giving up %s after %s attempts: %s", message.action, message.attempts, err)
        if message.action == START and tx is not None:
            await self.ctx.journal.discard_start(message.seq, tx.local_id)
            self._buffer.popleft()
            tx.start_discarded = True
            await self.on_start_discarded(tx)
            return
        self._buffer.popleft()
        self._settled(message, tx)


def _note_transaction_id(tx: Transaction, payload: dict[str, Any]) -> None:
    """Known the moment the answer arrives: the CSMS may name it in its very next message."""
    with contextlib.suppress(UnusableAnswer):
        tx.confirming_id = _transaction_id(payload)


def _with_transaction_id(text: str, transaction_id: int) -> str:
    """Add ``transactionId`` to a stored JSON object without parsing it again."""
    body = text.rstrip()[:-1].rstrip()  # without the closing brace
    separator = "" if body == "{" else ","
    return f'{body}{separator}"transactionId":{int(transaction_id)}}}'


def _transaction_id(result: dict[str, Any]) -> int:
    value = result.get("transactionId")
    if not isinstance(value, int) or isinstance(value, bool):
        raise UnusableAnswer(f"transactionId {value!r} is not an integer")
    if not INT64_MIN <= value <= INT64_MAX:
        raise UnusableAnswer(f"transactionId {value} does not fit in 64 bits")
    return value


def _confirmed(tx: Transaction, transaction_id: int, result: dict[str, Any]) -> dict[str, Any]:
    """The transaction as the answer leaves it: an idTag not accepted never charges again,
    even if we crash before the transaction service has acted on it."""
    document = tx.to_dict()
    document["transaction_id"] = transaction_id
    info = result["idTagInfo"]
    document["parent_id_tag"] = parent_of(info) or tx.parent_id_tag
    if answered_status(info) != ACCEPTED:
        document["deauthorized"] = True
    return document
