"""Static settings of one charge point: where it connects, how, and who it says it is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from enum import IntEnum
from urllib.parse import quote, urlsplit

from ocpp.v16.enums import Measurand


class SecurityProfile(IntEnum):
    """OCPP 1.6 security whitepaper profiles."""

    UNSECURED = 0
    BASIC_AUTH = 1
    TLS_BASIC_AUTH = 2
    TLS_CLIENT_CERT = 3


class SettingsError(ValueError):
    """A setting that cannot work; ``key`` names it for forms and messages."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


# The OCPP 1.6 feature profiles this charge point can have, in SupportedFeatureProfiles order.
FEATURE_PROFILES: tuple[str, ...] = (
    "Core",
    "FirmwareManagement",
    "LocalAuthListManagement",
    "RemoteTrigger",
    "Reservation",
    "SmartCharging",
)

DEFAULT_MEASURANDS: frozenset[str] = frozenset(
    {Measurand.energy_active_import_register, Measurand.power_active_import}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineSettings:
    csms_url: str
    charge_point_id: str
    security_profile: SecurityProfile = SecurityProfile.UNSECURED
    authorization_key: str | None = None
    ca_file: str | None = None
    client_cert_file: str | None = None
    client_key_file: str | None = None
    # TLS with real-world PKIs: accept a pinned CA (the CA file) that is an X.509 v1
    # certificate without basicConstraints (clears VERIFY_X509_STRICT; hostnames still
    # checked), and the name the CSMS certificate must carry when it differs from the host
    # dialled (libocpp's VerifyCsmsCommonName case); None = the host of the URL.
    tls_allow_v1_ca: bool = False
    tls_server_name: str | None = None
    # AdditionalRootCertificateCheck (read-only to the CSMS): a new CSMS root must be signed by
    # the one it replaces.
    additional_root_certificate_check: bool = False
    vendor: str = "ocpp_cp"
    model: str = "ocpp_cp"
    serial_number: str | None = None
    firmware_version: str | None = None
    number_of_connectors: int = 1
    # Measurands the charger can supply on every connector (besides the offered current and
    # power, which the engine always knows). MeterValuesSampledData & co. accept only these.
    measurands: frozenset[str] = DEFAULT_MEASURANDS
    # Heartbeat interval the user pinned; the CSMS's BootNotification value is then ignored.
    pinned_heartbeat_interval: int | None = None
    # MeterValueSampleInterval the user pinned; a CSMS write of it is then Rejected.
    pinned_meter_interval: int | None = None
    # Report the Current.Offered of the transaction start for its whole duration, for
    # hardware that cannot follow mid-session changes.
    freeze_current_offered: bool = False
    # Transaction messages kept while the CSMS is away; beyond it MeterValues are thinned.
    # 20,000 is about 55 h of 10 s sampling; restored messages stay as text (~2 KB each).
    queue_limit: int = 20_000
    hardware_max_current: float = 32.0
    nominal_voltage: float = 230.0
    phases: int = 1
    # Where daily/weekly charging profiles recur at the same wall-clock time; None = the
    # system's local zone.
    time_zone: tzinfo | None = None
    call_timeout: float = 30.0
    connect_timeout: float = 10.0
    pong_timeout: float = 10.0
    reconnect_initial_delay: float = 1.0
    reconnect_max_delay: float = 300.0
    # The feature profiles offered (Core always): a charger without some behaves as one.
    feature_profiles: frozenset[str] = frozenset(FEATURE_PROFILES)
    # Connectors with a fixed cable: UnlockConnector answers NotSupported there.
    connectors_without_lock: frozenset[int] = frozenset()
    # Accept a MeterValuesSampledData/AlignedData list of several valid measurands even when
    # the charger cannot supply them all, and sample those it can (lbbrhzn/ocpp writes all 22
    # at once and falls back to energy and power only when refused). A single unsupported
    # measurand is still Rejected: evcc probes them one at a time and relies on that.
    accept_measurand_lists: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        parts = urlsplit(self.csms_url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise SettingsError(
                "csms_url", "the CSMS URL must start with ws:// or wss:// and name a host"
            )
        if not self.charge_point_id or len(self.charge_point_id) > 48:
            raise SettingsError("charge_point_id", "the charge point id must be 1 to 48 characters")
        if not 1 <= self.number_of_connectors <= 16:
            raise SettingsError("number_of_connectors", "between 1 and 16 connectors")
        profile = self.security_profile
        if profile >= SecurityProfile.TLS_BASIC_AUTH and parts.scheme != "wss":
            raise SettingsError("csms_url", f"security profile {int(profile)} needs a wss:// URL")
        needs_key = profile in (SecurityProfile.BASIC_AUTH, SecurityProfile.TLS_BASIC_AUTH)
        if needs_key and not self.authorization_key:
            raise SettingsError(
                "authorization_key", f"security profile {int(profile)} needs an AuthorizationKey"
            )
        if profile == SecurityProfile.TLS_CLIENT_CERT and not self.client_cert_file:
            raise SettingsError("client_cert_file", "security profile 3 needs a client certificate")
        if self.tls_allow_v1_ca and not self.ca_file:
            raise SettingsError("ca_file", "a v1 CA is accepted only as a pinned CA file")
        unknown = set(self.measurands) - {m.value for m in Measurand}
        if unknown:
            raise SettingsError("measurands", f"unknown measurands: {', '.join(sorted(unknown))}")
        if self.phases not in (1, 2, 3):
            raise SettingsError("phases", "phases must be 1, 2 or 3")
        unknown_profiles = set(self.feature_profiles) - set(FEATURE_PROFILES)
        if unknown_profiles or "Core" not in self.feature_profiles:
            raise SettingsError(
                "feature_profiles",
                f"feature profiles are Core plus any of {', '.join(FEATURE_PROFILES[1:])}",
            )

    @property
    def connection_url(self) -> str:
        """CSMS base URL + "/" + the percent-encoded charge point id (OCPP-J 1.6 section 3.1)."""
        return self.csms_url.rstrip("/") + "/" + quote(self.charge_point_id, safe="")
