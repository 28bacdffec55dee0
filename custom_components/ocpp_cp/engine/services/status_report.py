"""Status notifications of long-running jobs (diagnostics upload, firmware update).

They are ordinary CALLs, sent in order. While the charge point is offline they wait in memory
(as libocpp queues them) and leave, oldest first, once the next connection is accepted; at most
``QUEUE_LIMIT`` are kept, the oldest dropped first. A CALLERROR from the CSMS drops that one
notification (sending it again would only be refused again).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Any

from ..ocpp16.frames import OcppCallError
from ..ocpp16.rpc import NotConnectedError
from .context import EngineContext

_LOGGER = logging.getLogger(__name__)

QUEUE_LIMIT = 16
RETRY_DELAY = 1.0


class StatusReporter:
    """Sends one kind of status notification (``action``), in order, online or later."""

    def __init__(self, ctx: EngineContext, action: str, event: str) -> None:
        self.ctx = ctx
        self.action = action
        self.event = event
        # Made on first use: most charge points never send one (memory per charge point).
        self._queue: collections.deque[dict[str, Any]] | None = None
        self._running = False

    def report(self, payload: dict[str, Any]) -> None:
        """Queue ``payload`` for sending and tell listeners at once."""
        self.ctx.emit(self.event, **payload)
        if self._queue is None:
            self._queue = collections.deque(maxlen=QUEUE_LIMIT)
        self._queue.append(payload)
        if not self._running:
            self._running = True
            self.ctx.spawn(self._run(), f"{self.action} sender")

    async def _run(self) -> None:
        queue = self._queue
        assert queue is not None
        try:
            while queue:
                await self.ctx.accepted.wait()
                payload = queue[0]
                try:
                    await self.ctx.call(self.action, payload)
                except OcppCallError as err:
                    _LOGGER.warning("The CSMS refused %s: %s", self.action, err)
                except (TimeoutError, NotConnectedError, ConnectionError):
                    await asyncio.sleep(RETRY_DELAY)
                    continue
                if queue and queue[0] is payload:
                    queue.popleft()
        finally:
            self._running = False
