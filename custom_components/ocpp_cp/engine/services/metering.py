"""Meter values: sampled during transactions, clock-aligned, triggered, and for StopTransaction."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ocpp.v16.enums import ReadingContext

from ..connector import Connector
from ..meter import sampled_values
from ..ocpp16.frames import OcppCallError
from ..ocpp16.rpc import NotConnectedError
from .context import EngineContext
from .transactions import message as transaction_message

if TYPE_CHECKING:
    from .limits import LimitService
    from .transactions import TransactionService

_LOGGER = logging.getLogger(__name__)


def seconds_to_next_aligned(now: float, interval: int) -> float:
    """Seconds until the next boundary of ``interval`` counted from local midnight."""
    local = datetime.fromtimestamp(now).astimezone()
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = (local - midnight).total_seconds()
    next_boundary = midnight + timedelta(seconds=math.floor(elapsed / interval + 1) * interval)
    return max(0.0, next_boundary.timestamp() - now)


class MeteringService:
    def __init__(
        self, ctx: EngineContext, limits: LimitService, transactions: TransactionService
    ) -> None:
        self.ctx = ctx
        self.limits = limits
        self.transactions = transactions
        self._samplers: dict[int, asyncio.Task[None]] = {}
        self.aligned_changed = asyncio.Event()

    def _values(self, connector: Connector, key: str, context: str) -> list[dict[str, Any]]:
        return sampled_values(
            self.ctx.readings[connector.connector_id],
            self.ctx.config.get_list(key),
            context,
            self.limits.offered(connector),
        )

    def stop_txn_values(self, connector: Connector, context: str) -> list[dict[str, Any]]:
        if not self.ctx.config.get_list("StopTxnSampledData"):
            return []
        return self._values(connector, "StopTxnSampledData", context)

    # -- sampled, during a transaction ------------------------------------------------------

    def start_sampler(self, connector: Connector) -> None:
        self.stop_sampler(connector)
        self._samplers[connector.connector_id] = asyncio.create_task(
            self._sample_loop(connector), name=f"ocpp_cp sampler {connector.connector_id}"
        )

    def stop_sampler(self, connector: Connector) -> None:
        old = self._samplers.pop(connector.connector_id, None)
        if old is not None:
            old.cancel()

    def restart_samplers(self) -> None:
        """MeterValueSampleInterval changed: every running transaction samples anew."""
        for connector in self.ctx.connectors.values():
            if connector.transaction is not None:
                self.start_sampler(connector)

    async def stop(self) -> None:
        tasks = list(self._samplers.values())
        self._samplers.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _sample_loop(self, connector: Connector) -> None:
        clock = self.ctx.clock
        next_at = clock.monotonic()
        while connector.transaction is not None:
            interval = self.ctx.config.get_int("MeterValueSampleInterval")
            if interval <= 0:
                await asyncio.sleep(1)
                next_at = clock.monotonic()
                continue
            next_at += interval
            await clock.sleep(max(0.0, next_at - clock.monotonic()))
            tx = connector.transaction
            if tx is None:
                return
            stamp = self.ctx.now_stamp()
            values = self._values(
                connector, "MeterValuesSampledData", ReadingContext.sample_periodic
            )
            message = None
            if values:
                message = transaction_message(
                    "MeterValues",
                    {
                        "connectorId": connector.connector_id,
                        "meterValue": [{"timestamp": stamp, "sampledValue": values}],
                    },
                )
            stop_values = self.stop_txn_values(connector, ReadingContext.sample_periodic)
            if stop_values:
                tx.transaction_data.append({"timestamp": stamp, "sampledValue": stop_values})
            energy = self.ctx.readings[connector.connector_id].energy_wh()
            if energy is not None:
                tx.last_energy = energy
            tx.last_seen = stamp
            await self.transactions.record(tx, message)

    # -- clock-aligned ----------------------------------------------------------------------

    async def clock_aligned_loop(self) -> None:
        await self.ctx.every(
            "ClockAlignedDataInterval",
            self.aligned_changed,
            self._send_clock_aligned,
            lambda interval: seconds_to_next_aligned(time.time(), interval),
        )

    async def _send_clock_aligned(self) -> None:
        stamp = self.ctx.now_stamp()
        for connector in self.ctx.connectors.values():
            tx = connector.transaction
            if tx is not None and self.ctx.config.get_list("StopTxnAlignedData"):
                stop_values = self._values(
                    connector, "StopTxnAlignedData", ReadingContext.sample_clock
                )
                if stop_values:
                    tx.transaction_data.append({"timestamp": stamp, "sampledValue": stop_values})
            values = self._values(connector, "MeterValuesAlignedData", ReadingContext.sample_clock)
            if not values:
                continue
            payload = {
                "connectorId": connector.connector_id,
                "meterValue": [{"timestamp": stamp, "sampledValue": values}],
            }
            if tx is not None:
                await self.transactions.record(tx, transaction_message("MeterValues", payload))
            else:
                with contextlib.suppress(TimeoutError, OcppCallError, NotConnectedError):
                    await self.ctx.call("MeterValues", payload)

    # -- triggered --------------------------------------------------------------------------

    async def send_now(self, connector_id: int, context: str = ReadingContext.trigger) -> bool:
        """Send MeterValuesSampledData for a connector now and wait for the answer."""
        connector = self.ctx.connector(connector_id)
        values = self._values(connector, "MeterValuesSampledData", context)
        if not values:
            return False
        payload: dict[str, Any] = {
            "connectorId": connector_id,
            "meterValue": [{"timestamp": self.ctx.now_stamp(), "sampledValue": values}],
        }
        tx = connector.transaction
        if tx is not None and tx.transaction_id is not None:
            payload["transactionId"] = tx.transaction_id
        try:
            await self.ctx.call("MeterValues", payload, checked=True)
        except (TimeoutError, OcppCallError, NotConnectedError) as err:
            _LOGGER.info("MeterValues failed: %s", err)
            return False
        return True
