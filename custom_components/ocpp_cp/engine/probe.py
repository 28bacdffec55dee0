"""Try a CSMS once (connect, BootNotification) so set-up forms can say what failed."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from enum import StrEnum

from .connection import ConnectError, ConnectErrorKind, build_ssl_context, open_connection
from .ocpp16.frames import OcppCallError
from .ocpp16.rpc import OcppRpc
from .ocpp16.validation import load_validators
from .settings import EngineSettings


class ProbeOutcome(StrEnum):
    ACCEPTED = "accepted"
    PENDING = "pending"
    REJECTED = "rejected"
    NO_ANSWER = "no_answer"
    CONNECT_FAILED = "connect_failed"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    outcome: ProbeOutcome
    message: str
    error_kind: ConnectErrorKind | None = None


async def probe_csms(settings: EngineSettings, *, answer_timeout: float = 10.0) -> ProbeResult:
    """Connect, send one BootNotification, close. Never raises for CSMS-side problems."""
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, load_validators)
    try:
        ssl_context = await loop.run_in_executor(None, build_ssl_context, settings)
    except (OSError, ValueError) as err:
        return ProbeResult(
            ProbeOutcome.CONNECT_FAILED, f"cannot load the TLS files: {err}", ConnectErrorKind.TLS
        )
    try:
        websocket = await open_connection(settings, ssl_context)
    except ConnectError as err:
        return ProbeResult(ProbeOutcome.CONNECT_FAILED, str(err), err.kind)

    def spawn(coro: object, name: str) -> None:
        close = getattr(coro, "close", None)
        if close is not None:
            close()  # nothing to follow up on during a probe

    rpc = OcppRpc(settings.charge_point_id, call_timeout=answer_timeout, spawn=spawn)
    rpc.attach(websocket)
    receiver = asyncio.create_task(rpc.receive_loop(websocket))
    payload = {"chargePointVendor": settings.vendor[:20], "chargePointModel": settings.model[:20]}
    if settings.serial_number:
        payload["chargePointSerialNumber"] = settings.serial_number[:25]
    if settings.firmware_version:
        payload["firmwareVersion"] = settings.firmware_version[:50]
    try:
        result = await rpc.call_action("BootNotification", payload)
    except TimeoutError:
        return ProbeResult(ProbeOutcome.NO_ANSWER, "the CSMS did not answer BootNotification")
    except OcppCallError as err:
        return ProbeResult(
            ProbeOutcome.NO_ANSWER, f"the CSMS answered BootNotification with {err.code}"
        )
    except ConnectionError:
        return ProbeResult(ProbeOutcome.NO_ANSWER, "the CSMS closed the connection")
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await receiver
        rpc.detach()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(websocket.close(), 2)
    status = result["status"]
    if status == "Accepted":
        return ProbeResult(ProbeOutcome.ACCEPTED, "BootNotification accepted")
    if status == "Pending":
        return ProbeResult(ProbeOutcome.PENDING, "the CSMS has the charge point pending approval")
    return ProbeResult(ProbeOutcome.REJECTED, "the CSMS rejected the BootNotification")
