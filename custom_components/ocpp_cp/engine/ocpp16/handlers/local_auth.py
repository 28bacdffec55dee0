"""LocalAuthListManagement profile messages from the CSMS."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ocpp.v16.enums import Action

from ...services.registry import Services


async def get_local_list_version(services: Services, payload: dict[str, Any]) -> dict[str, Any]:
    return {"listVersion": services.authorization.list_version()}


async def send_local_list(services: Services, payload: dict[str, Any]) -> dict[str, Any]:
    status = await services.authorization.send_local_list(
        payload["listVersion"], payload["updateType"], payload.get("localAuthorizationList") or []
    )
    return {"status": status}


HANDLERS: dict[str, Callable[[Services, dict[str, Any]], Awaitable[dict[str, Any]]]] = {
    Action.get_local_list_version: get_local_list_version,
    Action.send_local_list: send_local_list,
}
