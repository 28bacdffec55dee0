"""OCPP 1.6J charge-point engine: no Home Assistant imports, usable on its own."""

from .chargepoint import ChargePointEngine
from .connection import ConnectErrorKind, ConnectionState
from .hardware import (
    ChargerHardware,
    ChargingLimit,
    DataTransferReply,
    EvState,
    NullHardware,
    ResetKind,
    UnlockOutcome,
)
from .settings import EngineSettings, SecurityProfile, SettingsError
from .storage import EngineStorage, JsonDirectoryStorage, MemoryStorage

__all__ = [
    "ChargePointEngine",
    "ChargerHardware",
    "ChargingLimit",
    "ConnectErrorKind",
    "ConnectionState",
    "DataTransferReply",
    "EngineSettings",
    "EngineStorage",
    "EvState",
    "JsonDirectoryStorage",
    "MemoryStorage",
    "NullHardware",
    "ResetKind",
    "SecurityProfile",
    "SettingsError",
    "UnlockOutcome",
]
