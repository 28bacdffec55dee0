"""Core profile messages from the CSMS."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ocpp.v16.enums import Action, Reason

from ...charging_profile import PURPOSE_TX, ProfileError
from ...hardware import ResetKind
from ...services.registry import Services
from ..rpc import Reply

type CoreHandler = Callable[[Services, dict[str, Any]], Awaitable[dict[str, Any] | Reply]]


async def get_configuration(services: Services, payload: dict[str, Any]) -> dict[str, Any]:
    return services.configuration.read(payload.get("key"))


async def change_configuration(services: Services, payload: dict[str, Any]) -> Reply:
    key = services.ctx.config.canonical(payload["key"]) or payload["key"]
    outcome = await services.configuration.change(key, payload["value"])
    then = None
    if outcome == "Accepted" and services.configuration.needs_reconnect(key):
        then = services.configuration.on_security_changed
    return Reply({"status": outcome}, then)


async def change_availability(services: Services, payload: dict[str, Any]) -> dict[str, Any]:
    operative = payload["type"] == "Operative"
    status = await services.connectors.change_availability(payload["connectorId"], operative)
    return {"status": status or "Rejected"}


async def remote_start_transaction(services: Services, payload: dict[str, Any]) -> Reply:
    if services.boot.pending:
        return Reply({"status": "Rejected"})
    id_tag: str = payload["idTag"]
    profile_data = payload.get("chargingProfile")
    if profile_data is not None and profile_data.get("chargingProfilePurpose") != PURPOSE_TX:
        return Reply({"status": "Rejected"})
    transactions = services.transactions
    parent = services.authorization.known_parent(id_tag)
    connector = transactions.pick_connector(payload.get("connectorId"), id_tag, parent)
    if connector is None:
        return Reply({"status": "Rejected"})
    try:
        services.limits.hold_profile(connector.connector_id, profile_data)
    except ProfileError:
        return Reply({"status": "Rejected"})
    transactions.hold_for(connector, id_tag, parent)  # hold it until the follow-up runs
    services.ctx.emit(
        "csms_request", kind="remote_start", connector_id=connector.connector_id, id_tag=id_tag
    )
    return Reply({"status": "Accepted"}, lambda: transactions.remote_start(connector, id_tag))


async def remote_stop_transaction(services: Services, payload: dict[str, Any]) -> Reply:
    if services.boot.pending:
        return Reply({"status": "Rejected"})
    wanted = payload["transactionId"]
    connector = services.transactions.running(wanted)
    if connector is None:
        return Reply({"status": "Rejected"})
    services.ctx.emit(
        "csms_request",
        kind="remote_stop",
        connector_id=connector.connector_id,
        transaction_id=wanted,
    )

    async def stop() -> None:
        services.transactions.end(connector, Reason.remote)

    return Reply({"status": "Accepted"}, stop)


async def reset(services: Services, payload: dict[str, Any]) -> Reply:
    kind = ResetKind(payload["type"])
    services.ctx.emit("csms_request", kind="reset", reset_type=kind.value)
    return Reply({"status": "Accepted"}, lambda: services.remote.reset(kind))


async def unlock_connector(services: Services, payload: dict[str, Any]) -> dict[str, Any]:
    connector_id = payload["connectorId"]
    if connector_id in services.ctx.connectors and connector_id != 0:
        services.ctx.emit("csms_request", kind="unlock", connector_id=connector_id)
    return {"status": await services.remote.unlock(connector_id)}


async def clear_cache(services: Services, payload: dict[str, Any]) -> dict[str, Any]:
    accepted = await services.authorization.clear_cache()
    return {"status": "Accepted" if accepted else "Rejected"}


async def data_transfer(services: Services, payload: dict[str, Any]) -> dict[str, Any]:
    services.ctx.emit("csms_request", kind="data_transfer", **payload)
    return await services.remote.data_transfer(payload)


HANDLERS: dict[str, CoreHandler] = {
    Action.get_configuration: get_configuration,
    Action.change_configuration: change_configuration,
    Action.change_availability: change_availability,
    Action.remote_start_transaction: remote_start_transaction,
    Action.remote_stop_transaction: remote_stop_transaction,
    Action.reset: reset,
    Action.unlock_connector: unlock_connector,
    Action.clear_cache: clear_cache,
    Action.data_transfer: data_transfer,
}
