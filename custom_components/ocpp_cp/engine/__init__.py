"""OCPP 1.6J charge-point engine: no Home Assistant imports, usable on its own."""

# The engine ships inside the integration and is released with it: the same version as
# manifest.json (tests/test_manifest.py holds them equal), kept here so the engine reads
# nothing of the Home Assistant layer.
__version__ = "0.1.0"


from .chargepoint import ChargePointEngine
from .charging_limits import LimitInForce, LimitSegment
from .charging_profile import LocalPeriod
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
from .probe import ProbeOutcome, ProbeResult, probe_csms
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
    "LimitInForce",
    "LimitSegment",
    "LocalPeriod",
    "MemoryStorage",
    "NullHardware",
    "ProbeOutcome",
    "ProbeResult",
    "ResetKind",
    "SecurityProfile",
    "SettingsError",
    "UnlockOutcome",
    "probe_csms",
]
