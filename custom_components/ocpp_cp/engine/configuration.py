"""The charge point's configuration keys (OCPP 1.6 chapter 9) with types, ranges and persistence."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ocpp.v16.enums import Measurand


class KeyType(StrEnum):
    BOOL = "bool"
    INT = "int"
    MEASURANDS = "measurands"  # comma separated list of Measurand values
    CSL = "csl"  # comma separated list, free text
    STRING = "string"


class ChangeOutcome(StrEnum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    REBOOT_REQUIRED = "RebootRequired"
    NOT_SUPPORTED = "NotSupported"


@dataclass(frozen=True, slots=True, kw_only=True)
class KeySpec:
    name: str
    type: KeyType
    default: str
    readonly: bool = False
    minimum: int | None = None
    maximum: int | None = None
    max_items: int | None = None
    # Write-only keys (AuthorizationKey) are never read back to the CSMS.
    secret: bool = False


MAX_MEASURANDS = len(Measurand)  # every 1.6 measurand at once (lbbrhzn/ocpp writes all 22)

CORE_KEYS: tuple[KeySpec, ...] = (
    KeySpec(name="AllowOfflineTxForUnknownId", type=KeyType.BOOL, default="false"),
    KeySpec(name="AuthorizationCacheEnabled", type=KeyType.BOOL, default="false"),
    KeySpec(name="AuthorizeRemoteTxRequests", type=KeyType.BOOL, default="false"),
    KeySpec(
        name="ClockAlignedDataInterval", type=KeyType.INT, default="0", minimum=0, maximum=86400
    ),
    KeySpec(name="ConnectionTimeOut", type=KeyType.INT, default="60", minimum=0, maximum=3600),
    KeySpec(name="ConnectorPhaseRotation", type=KeyType.CSL, default="Unknown"),
    KeySpec(name="ConnectorPhaseRotationMaxLength", type=KeyType.INT, default="17", readonly=True),
    KeySpec(name="GetConfigurationMaxKeys", type=KeyType.INT, default="64", readonly=True),
    KeySpec(name="HeartbeatInterval", type=KeyType.INT, default="300", minimum=0, maximum=86400),
    KeySpec(name="LocalAuthorizeOffline", type=KeyType.BOOL, default="false"),
    KeySpec(name="LocalPreAuthorize", type=KeyType.BOOL, default="false"),
    KeySpec(
        name="MeterValuesAlignedData",
        type=KeyType.MEASURANDS,
        default="Energy.Active.Import.Register",
        max_items=MAX_MEASURANDS,
    ),
    KeySpec(
        name="MeterValuesAlignedDataMaxLength",
        type=KeyType.INT,
        default=str(MAX_MEASURANDS),
        readonly=True,
    ),
    KeySpec(
        name="MeterValuesSampledData",
        type=KeyType.MEASURANDS,
        default="Energy.Active.Import.Register,Power.Active.Import",
        max_items=MAX_MEASURANDS,
    ),
    KeySpec(
        name="MeterValuesSampledDataMaxLength",
        type=KeyType.INT,
        default=str(MAX_MEASURANDS),
        readonly=True,
    ),
    KeySpec(
        name="MeterValueSampleInterval", type=KeyType.INT, default="60", minimum=0, maximum=86400
    ),
    KeySpec(name="NumberOfConnectors", type=KeyType.INT, default="1", readonly=True),
    KeySpec(name="ResetRetries", type=KeyType.INT, default="1", minimum=0, maximum=10),
    KeySpec(name="StopTransactionOnEVSideDisconnect", type=KeyType.BOOL, default="true"),
    KeySpec(name="StopTransactionOnInvalidId", type=KeyType.BOOL, default="true"),
    KeySpec(
        name="StopTxnAlignedData", type=KeyType.MEASURANDS, default="", max_items=MAX_MEASURANDS
    ),
    KeySpec(
        name="StopTxnAlignedDataMaxLength",
        type=KeyType.INT,
        default=str(MAX_MEASURANDS),
        readonly=True,
    ),
    KeySpec(
        name="StopTxnSampledData", type=KeyType.MEASURANDS, default="", max_items=MAX_MEASURANDS
    ),
    KeySpec(
        name="StopTxnSampledDataMaxLength",
        type=KeyType.INT,
        default=str(MAX_MEASURANDS),
        readonly=True,
    ),
    KeySpec(
        name="SupportedFeatureProfiles",
        type=KeyType.CSL,
        default="Core,FirmwareManagement,LocalAuthListManagement,RemoteTrigger,Reservation,SmartCharging",
        readonly=True,
    ),
    # Local authorization list management profile.
    KeySpec(name="LocalAuthListEnabled", type=KeyType.BOOL, default="true"),
    KeySpec(name="ReserveConnectorZeroSupported", type=KeyType.BOOL, default="true", readonly=True),
    KeySpec(name="LocalAuthListMaxLength", type=KeyType.INT, default="1000", readonly=True),
    KeySpec(name="SendLocalListMaxLength", type=KeyType.INT, default="500", readonly=True),
    KeySpec(name="SupportedFeatureProfilesMaxLength", type=KeyType.INT, default="6", readonly=True),
    KeySpec(
        name="TransactionMessageAttempts", type=KeyType.INT, default="3", minimum=0, maximum=100
    ),
    KeySpec(
        name="TransactionMessageRetryInterval",
        type=KeyType.INT,
        default="60",
        minimum=0,
        maximum=3600,
    ),
    KeySpec(name="UnlockConnectorOnEVSideDisconnect", type=KeyType.BOOL, default="true"),
    KeySpec(name="WebSocketPingInterval", type=KeyType.INT, default="60", minimum=0, maximum=3600),
    # Smart charging profile (limits of the profile store; evcc reads them).
    KeySpec(name="ChargeProfileMaxStackLevel", type=KeyType.INT, default="8", readonly=True),
    KeySpec(
        name="ChargingScheduleAllowedChargingRateUnit",
        type=KeyType.CSL,
        default="Current,Power",
        readonly=True,
    ),
    KeySpec(name="ChargingScheduleMaxPeriods", type=KeyType.INT, default="24", readonly=True),
    KeySpec(
        name="ConnectorSwitch3to1PhaseSupported", type=KeyType.BOOL, default="false", readonly=True
    ),
    KeySpec(name="MaxChargingProfilesInstalled", type=KeyType.INT, default="16", readonly=True),
    # Security whitepaper (profiles 1-3).
    KeySpec(name="AuthorizationKey", type=KeyType.STRING, default="", secret=True),
    KeySpec(name="SecurityProfile", type=KeyType.INT, default="0", minimum=0, maximum=3),
    KeySpec(
        name="AdditionalRootCertificateCheck", type=KeyType.BOOL, default="false", readonly=True
    ),
    KeySpec(name="CertificateSignedMaxChainSize", type=KeyType.INT, default="10000", readonly=True),
    KeySpec(name="CertificateStoreMaxLength", type=KeyType.INT, default="10", readonly=True),
    KeySpec(name="CpoName", type=KeyType.STRING, default=""),
)

ALL_MEASURANDS: frozenset[str] = frozenset(m.value for m in Measurand)
# The engine always knows these itself: they follow the limit in force.
ENGINE_MEASURANDS: frozenset[str] = frozenset({Measurand.current_offered, Measurand.power_offered})

type ChangeHook = Callable[[str, str], None]


class Configuration:
    """Current values of every key; validates writes and reports them to a change hook."""

    def __init__(
        self,
        specs: Iterable[KeySpec],
        *,
        supported_measurands: Callable[[], frozenset[str]],
        overrides: Mapping[str, str] | None = None,
        hidden: Iterable[str] = (),
        accept_measurand_lists: bool = False,
    ) -> None:
        self._specs = {spec.name: spec for spec in specs}
        # Keys are CiString (OCPP 1.6 sections 6.9, 7.17, 7.29): matched case-insensitively.
        # Hidden keys belong to feature profiles this charge point does not offer: the engine
        # still reads their defaults, the CSMS does not see them.
        self._hidden = frozenset(hidden)
        self._canonical = {name.lower(): name for name in self._specs if name not in self._hidden}
        self._accept_measurand_lists = accept_measurand_lists
        self._values = {name: spec.default for name, spec in self._specs.items()}
        self._values.update(overrides or {})
        self._supported_measurands = supported_measurands
        self._hooks: list[ChangeHook] = []

    def add_hook(self, hook: ChangeHook) -> None:
        self._hooks.append(hook)

    def canonical(self, key: str) -> str | None:
        """Our spelling of a key the CSMS may have spelled in any case; None if unknown."""
        return self._canonical.get(key.lower())

    def spec(self, key: str) -> KeySpec | None:
        name = self.canonical(key)
        return None if name is None else self._specs[name]

    def restore(self, saved: Mapping[str, Any]) -> None:
        """Load persisted values; anything that no longer validates keeps its default."""
        for key, value in saved.items():
            spec = self._specs.get(key)
            hidden = key in self._hidden
            if spec is None or spec.readonly or hidden or not isinstance(value, str):
                continue
            if self._check(spec, value, check_support=False) is None:
                self._values[key] = value

    def set_internal(self, key: str, value: str) -> None:
        """Set a key the charge point itself owns (readonly ones too), without validation."""
        self._values[key] = value

    def persistent_values(self) -> dict[str, str]:
        return {k: v for k, v in self._values.items() if not self._specs[k].readonly}

    def get(self, key: str) -> str:
        return self._values[key]

    def get_int(self, key: str) -> int:
        return int(self._values[key])

    def get_bool(self, key: str) -> bool:
        return self._values[key].lower() == "true"

    def get_list(self, key: str) -> list[str]:
        return [item.strip() for item in self._values[key].split(",") if item.strip()]

    def read(self, keys: list[str] | None) -> tuple[list[dict[str, Any]], list[str]]:
        """GetConfiguration: (configurationKey entries, unknownKey list)."""
        names = keys if keys else [name for name in self._specs if name not in self._hidden]
        known: list[dict[str, Any]] = []
        unknown: list[str] = []
        for asked in names:
            name = self.canonical(asked)
            if name is None:
                unknown.append(asked)
                continue
            spec = self._specs[name]
            entry: dict[str, Any] = {"key": name, "readonly": spec.readonly}
            if not spec.secret:
                entry["value"] = self._values[name][:500]
            known.append(entry)
        return known, unknown

    def change(self, key: str, value: str) -> tuple[ChangeOutcome, str | None]:
        """ChangeConfiguration in memory: the outcome, and why when it is not Accepted."""
        outcome, why, normalised = self.check(key, value)
        if outcome == ChangeOutcome.ACCEPTED:
            self.commit(self.canonical(key) or key, normalised)
        return outcome, why

    def check(self, key: str, value: str) -> tuple[ChangeOutcome, str | None, str]:
        """Whether ``value`` may be written, why not, and the form it is stored in."""
        spec = self.spec(key)
        if spec is None:
            return ChangeOutcome.NOT_SUPPORTED, f"unknown key {key}", value
        key = spec.name
        if spec.readonly:
            return ChangeOutcome.REJECTED, f"{key} is read-only", value
        problem = self._check(spec, value, check_support=True)
        if problem is not None:
            return ChangeOutcome.REJECTED, problem, value
        return ChangeOutcome.ACCEPTED, None, self._normalise(spec, value)

    def commit(self, key: str, normalised: str) -> None:
        """Apply a checked value and tell the hooks (once it is durable)."""
        spec = self._specs[key]
        old = self._values[key]
        self._values[key] = normalised
        if old != normalised or spec.secret:
            for hook in self._hooks:
                hook(key, normalised)

    def _normalise(self, spec: KeySpec, value: str) -> str:
        if spec.type == KeyType.BOOL:
            return value.strip().lower()
        if spec.type == KeyType.INT:
            return str(int(value.strip()))
        if spec.type in (KeyType.MEASURANDS, KeyType.CSL):
            return ",".join(item.strip() for item in value.split(",") if item.strip())
        return value

    def _check(self, spec: KeySpec, value: str, *, check_support: bool) -> str | None:
        if spec.type == KeyType.BOOL:
            if value.strip().lower() not in ("true", "false"):
                return f"{spec.name} takes true or false"
            return None
        if spec.type == KeyType.INT:
            try:
                number = int(value.strip())
            except ValueError:
                return f"{spec.name} takes a whole number"
            if spec.minimum is not None and number < spec.minimum:
                return f"{spec.name} must be at least {spec.minimum}"
            if spec.maximum is not None and number > spec.maximum:
                return f"{spec.name} must be at most {spec.maximum}"
            return None
        if spec.type == KeyType.MEASURANDS:
            items = [item.strip() for item in value.split(",") if item.strip()]
            if spec.max_items is not None and len(items) > spec.max_items:
                return f"{spec.name} takes at most {spec.max_items} measurands"
            invalid = [item for item in items if item not in ALL_MEASURANDS]
            if invalid:
                return f"not a measurand: {', '.join(invalid)}"
            if check_support:
                supported = self._supported_measurands()
                missing = [item for item in items if item not in supported]
                if missing and not (self._accept_measurand_lists and len(items) > 1):
                    return f"this charge point cannot supply {', '.join(missing)}"
            return None
        if spec.name == "AuthorizationKey" and not 16 <= len(value) <= 40:
            return "AuthorizationKey must be 16 to 40 characters"
        if spec.name == "CpoName" and len(value) > 64:  # X.509 ub-organization-name
            return "CpoName takes at most 64 characters"
        return None
