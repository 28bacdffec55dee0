"""What every service shares: settings, configuration, connectors, readings, journal, wire."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, Protocol

from ..clock import Clock
from ..configuration import Configuration
from ..connector import Connector
from ..hardware import ChargerHardware
from ..journal import Journal, JournalError
from ..meter import MeterReadings
from ..settings import EngineSettings

_LOGGER = logging.getLogger(__name__)

type EngineListener = Callable[[str, dict[str, Any]], None]


class Wire(Protocol):
    """The part of the protocol layer services use: send a CALL, get its answer."""

    @property
    def connected(self) -> bool: ...

    async def call_action(
        self,
        action: str,
        payload: dict[str, Any],
        *,
        unique_id: str | None = None,
        checked: bool = False,
    ) -> dict[str, Any]: ...

    async def call_encoded(
        self,
        action: str,
        unique_id: str,
        payload_text: str,
        on_answer: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]: ...


_SECOND_PREFIX: list[tuple[int, str]] = [(-1, "")]


def iso(ts: float) -> str:
    """RFC 3339 UTC with milliseconds, the form every CSMS parses."""
    second = int(ts // 1)
    cached_second, prefix = _SECOND_PREFIX[0]
    if second != cached_second:  # one strftime a second, not one a message
        prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        _SECOND_PREFIX[0] = (second, prefix)
    return f"{prefix}{int((ts - second) * 1000):03d}Z"


class EngineContext:
    """Shared state and the small helpers every service needs (events, tasks, time)."""

    def __init__(
        self,
        settings: EngineSettings,
        hardware: ChargerHardware,
        config: Configuration,
        journal: Journal,
        clock: Clock,
        listener: EngineListener | None,
    ) -> None:
        self.settings = settings
        self.hardware = hardware
        self.config = config
        self.journal = journal
        self.clock = clock
        self.listener = listener
        self.wire: Wire | None = None
        self.connectors: dict[int, Connector] = {
            c: Connector(c) for c in range(settings.number_of_connectors + 1)
        }
        self.readings: dict[int, MeterReadings] = {c: MeterReadings() for c in self.connectors}
        # Set while BootNotification is Accepted on the current connection.
        self.accepted = asyncio.Event()
        self.storage_error: str | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self.persisting: set[asyncio.Task[Any]] = set()
        self._last_stamp = 0.0
        # Where security events go (the security-event service replaces it; see security_event).
        self.security_sink: Callable[[str, str | None], None] | None = None

    # -- events and tasks -------------------------------------------------------------------

    def emit(self, event: str, /, **data: Any) -> None:
        if self.listener is not None:
            self.listener(event, data)

    def security_event(self, kind: str, tech_info: str | None = None) -> None:
        """A security event of the 1.6 security whitepaper (``kind`` is its type name, e.g.
        ``InvalidFirmwareSignature``): logged in the security log and, for critical ones, sent
        as SecurityEventNotification by the service installed as ``security_sink``.
        ``tech_info`` must never hold a secret."""
        sink = self.security_sink
        if sink is None:
            _LOGGER.info("Security event %s", kind)
            return
        sink(kind, tech_info)

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[None]:
        """A task this engine owns: cancelled by stop(), its failure logged."""

        async def runner() -> None:
            await coro

        task = asyncio.create_task(runner(), name=f"ocpp_cp {name}")
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _LOGGER.error("Task %s failed", task.get_name(), exc_info=task.exception())

    def persist[T](self, coro: Coroutine[Any, Any, T], name: str = "persist") -> asyncio.Task[T]:
        """A write stop() waits for instead of cancelling (a state change on its way to disk).

        Writes start in order and the journal has one worker, so they land in order.
        """
        task = asyncio.create_task(coro, name=f"ocpp_cp {name}")
        self.persisting.add(task)
        task.add_done_callback(self._persist_done)
        return task

    def _persist_done(self, task: asyncio.Task[Any]) -> None:
        self.persisting.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _LOGGER.error("Write %s failed", task.get_name(), exc_info=task.exception())

    def storage_failed(self, err: JournalError) -> None:
        self.storage_error = str(err)
        _LOGGER.error("Transaction journal unavailable: %s", err)
        self.emit("storage_error", message=str(err))

    async def save_document(self, key: str, value: Any) -> bool:
        """Durable before it returns True; False (reported) when the journal failed."""
        try:
            await self.journal.save_document(key, value)
        except JournalError as err:
            self.storage_failed(err)
            return False
        return True

    def retry_delay(self, attempt: int) -> float | None:
        """After failed attempt number ``attempt`` of a message delivered like transaction
        messages: the wait before the next (attempt x TransactionMessageRetryInterval), or
        None once TransactionMessageAttempts are used up (give it up)."""
        if attempt >= max(1, self.config.get_int("TransactionMessageAttempts")):
            return None
        return float(self.config.get_int("TransactionMessageRetryInterval") * attempt)

    # -- time and lookup --------------------------------------------------------------------

    def now_stamp(self) -> str:
        """Strictly increasing timestamps: evcc drops messages older than the last it saw."""
        now = max(self.clock.time(), self._last_stamp + 0.001)
        self._last_stamp = now
        return iso(now)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.time(), UTC)

    def connector(self, connector_id: int) -> Connector:
        try:
            return self.connectors[connector_id]
        except KeyError:
            raise ValueError(f"no connector {connector_id}") from None

    async def call(
        self, action: str, payload: dict[str, Any], *, checked: bool = False
    ) -> dict[str, Any]:
        """A non-transaction CALL; raises NotConnectedError-like errors of the wire."""
        wire = self.wire
        if wire is None:
            raise ConnectionError("no wire")
        return await wire.call_action(action, payload, checked=checked)

    async def call_stored(
        self,
        action: str,
        unique_id: str,
        payload_text: str,
        on_answer: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """A transaction message from the journal, validated when it was stored: resent with
        the same unique id until it is settled."""
        wire = self.wire
        if wire is None:
            raise ConnectionError("no wire")
        return await wire.call_encoded(action, unique_id, payload_text, on_answer)

    async def every(
        self,
        key: str,
        changed: asyncio.Event,
        action: Callable[[], Awaitable[bool | None]],
        delay: Callable[[int], float] | None = None,
    ) -> None:
        """Run ``action`` every ``key`` seconds (0 = off), re-armed at once when the key changes.

        ``delay`` maps the interval to the wait before the next run (clock alignment); an
        action returning False ends the loop.
        """
        while True:
            interval = self.config.get_int(key)
            changed.clear()
            if interval <= 0:
                await changed.wait()
                continue
            wait = delay(interval) if delay is not None else interval
            try:
                await asyncio.wait_for(changed.wait(), wait)
                continue
            except TimeoutError:
                pass
            if await action() is False:
                return
