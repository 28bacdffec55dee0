"""FirmwareManagement profile (GetDiagnostics, UpdateFirmware) and the security extension's
SignedUpdateFirmware."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ocpp.v16.enums import Action

from ...services.registry import Services
from ..frames import CallErrorCode, OcppCallError
from ..rpc import Reply


async def get_diagnostics(services: Services, payload: dict[str, Any]) -> Reply:
    """The file name is answered first; the upload starts once the answer is on the wire."""
    file_name, upload = services.diagnostics.request(payload)
    return Reply({"fileName": file_name}, upload)


async def update_firmware(services: Services, payload: dict[str, Any]) -> Reply:
    """The (empty) answer only once the pending update is durable."""
    begin = await services.firmware.update(payload)
    if begin is None:
        raise OcppCallError(CallErrorCode.INTERNAL_ERROR, "storage unavailable")
    return Reply({}, begin)


async def signed_update_firmware(services: Services, payload: dict[str, Any]) -> Reply:
    status, begin = await services.firmware.signed_update(payload)
    return Reply({"status": status}, begin)


HANDLERS: dict[str, Callable[[Services, dict[str, Any]], Awaitable[Reply]]] = {
    Action.get_diagnostics: get_diagnostics,
    Action.update_firmware: update_firmware,
    Action.signed_update_firmware: signed_update_firmware,
}
