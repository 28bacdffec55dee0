"""Repair issues for certificates of the charge point that expire within 30 days: the client
certificate of security profile 3 and the CSMS roots installed by the central system."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .engine import ChargePointEngine

EXPIRY_WARNING = timedelta(days=30)
CHECK_INTERVAL = timedelta(hours=6)


def issue_prefix(entry_id: str) -> str:
    return f"certificate_expiring_{entry_id}_"


async def async_check_certificates(
    hass: HomeAssistant, entry_id: str, charge_point_id: str, engine: ChargePointEngine
) -> None:
    """Raise an issue per certificate that expires within 30 days; remove the ones renewed."""
    expiring = await hass.async_add_executor_job(
        engine.services.certificates.expiring, dt_util.utcnow(), EXPIRY_WARNING
    )
    prefix = issue_prefix(entry_id)
    wanted: set[str] = set()
    for item in expiring:
        digest = hashlib.sha256(f"{item.kind}|{item.subject}".encode()).hexdigest()[:12]
        issue_id = f"{prefix}{digest}"
        wanted.add(issue_id)
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="certificate_expiring",
            translation_placeholders={
                "charge_point_id": charge_point_id,
                "kind": item.kind,
                "subject": item.subject,
                "expires": item.not_after.strftime("%Y-%m-%d %H:%M UTC"),
            },
        )
    registry = ir.async_get(hass)
    for domain, issue_id in list(registry.issues):
        if domain == DOMAIN and issue_id.startswith(prefix) and issue_id not in wanted:
            ir.async_delete_issue(hass, DOMAIN, issue_id)
