"""The typed boundary between the engine and the charger it speaks for.

The engine never touches hardware (or Home Assistant) directly: it is told what the charger
sees through ``ChargePointEngine`` input methods and asks the charger to act through
``ChargerHardware``. The HA bridge and the tests are the two implementations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class EvState(StrEnum):
    """What the car is doing while plugged in (IEC 61851 B vs C, roughly)."""

    IDLE = "idle"
    CHARGING = "charging"
    SUSPENDED = "suspended"


class ResetKind(StrEnum):
    SOFT = "Soft"
    HARD = "Hard"


class UnlockOutcome(StrEnum):
    UNLOCKED = "Unlocked"
    UNLOCK_FAILED = "UnlockFailed"
    NOT_SUPPORTED = "NotSupported"


@dataclass(frozen=True, slots=True)
class ChargingLimit:
    """The limit the charger must hold. ``None`` means no limit beyond the hardware's own."""

    amps: float | None = None
    watts: float | None = None


@dataclass(frozen=True, slots=True)
class DataTransferReply:
    status: str = "UnknownVendorId"
    data: str | None = None


@dataclass(frozen=True, slots=True)
class HardwareEvent:
    """A CSMS request that concerns the hardware, for listeners such as HA automations."""

    kind: str
    connector_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


class ChargerHardware(Protocol):
    """What the engine asks of the charger. Every method must return quickly."""

    async def set_charging_permitted(self, connector_id: int, permitted: bool) -> None:
        """Energy may flow on this connector (transaction authorised, limit above 0)."""

    async def set_charging_limit(self, connector_id: int, limit: ChargingLimit) -> None:
        """Hold this limit on the connector."""

    async def unlock_connector(self, connector_id: int) -> UnlockOutcome:
        """Release the cable."""

    async def reset(self, kind: ResetKind) -> None:
        """Restart the charger; called after running transactions were stopped."""

    async def data_transfer(
        self, vendor_id: str, message_id: str | None, data: str | None
    ) -> DataTransferReply:
        """A vendor-specific DataTransfer from the CSMS."""

    async def diagnostics_files(self) -> dict[str, bytes]:
        """Files the charger adds to a GetDiagnostics archive (name -> content)."""

    async def install_firmware(self, path: str, sha256: str) -> bool:
        """Install the downloaded firmware at ``path`` (its sha256 hex digest given); True
        only when it was really installed. May take long (an OTA update)."""


class NullHardware:
    """A charger that accepts everything and does nothing; a base class for simple ones."""

    async def set_charging_permitted(self, connector_id: int, permitted: bool) -> None:
        return None

    async def set_charging_limit(self, connector_id: int, limit: ChargingLimit) -> None:
        return None

    async def unlock_connector(self, connector_id: int) -> UnlockOutcome:
        return UnlockOutcome.NOT_SUPPORTED

    async def reset(self, kind: ResetKind) -> None:
        return None

    async def data_transfer(
        self, vendor_id: str, message_id: str | None, data: str | None
    ) -> DataTransferReply:
        return DataTransferReply()

    async def diagnostics_files(self) -> dict[str, bytes]:
        return {}

    async def install_firmware(self, path: str, sha256: str) -> bool:
        return False  # nothing to install onto: InstallationFailed, nothing pretends
