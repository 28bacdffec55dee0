"""Security whitepaper certificate messages: the CSMS manages the roots and signs our key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ...services.registry import Services
from ..rpc import Reply


async def install_certificate(services: Services, payload: dict[str, Any]) -> dict[str, Any]:
    status = await services.certificates.install(payload["certificateType"], payload["certificate"])
    return {"status": status}


async def delete_certificate(services: Services, payload: dict[str, Any]) -> dict[str, Any]:
    return {"status": await services.certificates.delete(payload["certificateHashData"])}


async def get_installed_certificate_ids(
    services: Services, payload: dict[str, Any]
) -> dict[str, Any]:
    ids = services.certificates.installed_ids(payload["certificateType"])
    if not ids:
        return {"status": "NotFound"}
    return {"status": "Accepted", "certificateHashData": ids}


async def certificate_signed(services: Services, payload: dict[str, Any]) -> Reply:
    certificates = services.certificates
    status = await certificates.signed(payload["certificateChain"])
    then = certificates.use_new_client_certificate if status == "Accepted" else None
    return Reply({"status": status}, then)


HANDLERS: dict[str, Callable[[Services, dict[str, Any]], Awaitable[dict[str, Any] | Reply]]] = {
    "InstallCertificate": install_certificate,
    "DeleteCertificate": delete_certificate,
    "GetInstalledCertificateIds": get_installed_certificate_ids,
    "CertificateSigned": certificate_signed,
}
