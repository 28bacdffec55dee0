"""A reservation of a connector (or of the charge point, connector 0) for one idTag or group."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


def _same(a: str | None, b: str | None) -> bool:
    """idTags are CiString20: compared without regard to case."""
    return a is not None and b is not None and a.lower() == b.lower()


@dataclass(frozen=True, slots=True)
class Reservation:
    reservation_id: int
    connector_id: int
    id_tag: str
    expiry: datetime
    parent_id_tag: str | None = None

    def admits(self, id_tag: str, parent_id_tag: str | None) -> bool:
        """The reserved idTag, or one of its group (sections 3.12, 5.13)."""
        return _same(id_tag, self.id_tag) or _same(parent_id_tag, self.parent_id_tag)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reservation_id": self.reservation_id,
            "connector_id": self.connector_id,
            "id_tag": self.id_tag,
            "expiry": self.expiry.isoformat(),
            "parent_id_tag": self.parent_id_tag,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reservation:
        return cls(
            reservation_id=int(data["reservation_id"]),
            connector_id=int(data["connector_id"]),
            id_tag=str(data["id_tag"]),
            expiry=datetime.fromisoformat(str(data["expiry"])),
            parent_id_tag=data.get("parent_id_tag"),
        )
