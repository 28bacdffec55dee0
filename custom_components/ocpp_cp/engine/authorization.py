"""Who may charge: the local authorization list and the authorization cache (OCPP 1.6 3.5).

Both are small documents kept in the durable store, so they survive restarts. idTags compare
case-insensitively (CiString20).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ocpp.v16.enums import AuthorizationStatus

from .timestamps import parse_rfc3339

ACCEPTED: str = AuthorizationStatus.accepted.value
EXPIRED: str = AuthorizationStatus.expired.value


def answered_status(info: dict[str, Any]) -> str:
    """The status of an idTagInfo the CSMS has just sent: it speaks for now, whatever its
    expiryDate says (an expiryDate equal to now still starts the transaction, like libocpp);
    expiry governs the cached and listed entries (``effective_status``)."""
    return str(info.get("status", "Invalid"))


def parent_of(info: dict[str, Any] | None) -> str | None:
    """The group (parentIdTag) an idTagInfo puts its idTag in, if any."""
    parent = info.get("parentIdTag") if info else None
    return parent if isinstance(parent, str) and parent else None


def effective_status(info: dict[str, Any], now: datetime | None = None) -> str:
    """The idTagInfo's status, or Expired once its expiryDate has passed."""
    status = str(info.get("status", "Invalid"))
    expiry = info.get("expiryDate")
    if status == ACCEPTED and isinstance(expiry, str):
        moment = parse_rfc3339(expiry)
        if moment is not None and moment <= (now or datetime.now(UTC)):
            return EXPIRED
    return status


@dataclass(slots=True)
class LocalList:
    version: int = 0
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "entries": self.entries}

    @classmethod
    def from_dict(cls, data: Any) -> LocalList:
        if not isinstance(data, dict):
            return cls()
        return cls(int(data.get("version", 0)), dict(data.get("entries", {})))

    def lookup(self, id_tag: str) -> dict[str, Any] | None:
        return self.entries.get(id_tag.lower())

    def apply(
        self, version: int, update_type: str, items: list[dict[str, Any]], max_length: int
    ) -> str:
        """SendLocalList: the status to answer (Accepted, Failed, VersionMismatch)."""
        if update_type == "Full":
            if any("idTagInfo" not in item for item in items):
                return "Failed"
            entries = {item["idTag"].lower(): item["idTagInfo"] for item in items}
        else:
            if version <= self.version:
                return "VersionMismatch"
            entries = dict(self.entries)
            for item in items:
                if "idTagInfo" in item:
                    entries[item["idTag"].lower()] = item["idTagInfo"]
                else:
                    entries.pop(item["idTag"].lower(), None)
        if len(entries) > max_length:
            return "Failed"
        if update_type == "Full" and not entries:
            version = 0  # section 5.10: an emptied list has version 0
        self.version = version
        self.entries = entries
        return ACCEPTED


@dataclass(slots=True)
class AuthorizationCache:
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)

    def remember(self, id_tag: str, info: dict[str, Any]) -> None:
        self.entries[id_tag.lower()] = info

    def lookup(self, id_tag: str) -> dict[str, Any] | None:
        return self.entries.get(id_tag.lower())
