"""The charge point: a small composition root over the feature services and the 1.6 wire.

Inputs arrive through plain methods (``set_plugged``, ``set_reading``, ``swipe``...), outputs go
to a ``ChargerHardware``; every task belongs to this object, so ``stop()`` leaves nothing
behind. How a message flows is drawn in ``engine/README.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import os
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from ocpp.v16.enums import ChargePointErrorCode, ReadingContext, Reason

from .authorization import AuthorizationCache, LocalList
from .charging_limits import Electrical, LimitInForce, LimitSegment
from .charging_profile import LocalPeriod
from .clock import Clock
from .configuration import CORE_KEYS, ENGINE_MEASURANDS, Configuration
from .connection import ConnectErrorKind, ConnectionState
from .connector import Connector
from .hardware import ChargerHardware, EvState
from .journal import Journal, JournalError
from .meter import MeterReadings
from .ocpp16.frames import CP_TO_CSMS_ACTIONS, redact
from .ocpp16.handlers import build_handlers
from .ocpp16.rpc import OcppRpc
from .ocpp16.validation import load_validators
from .services.authorization import AuthorizationService
from .services.boot import BootService
from .services.certificates import CertificateService
from .services.configuration import ConfigurationService
from .services.connection import ConnectionService
from .services.connectors import DOCUMENT_AVAILABILITY, ConnectorService
from .services.context import EngineContext, EngineListener
from .services.delivery import TransactionDelivery
from .services.diagnostics import DiagnosticsService
from .services.firmware import FirmwareService
from .services.limits import LimitService
from .services.logs import LogService
from .services.metering import MeteringService, seconds_to_next_aligned
from .services.registry import Services
from .services.remote import RemoteService
from .services.reservations import ReservationService
from .services.security_events import SecurityEventService
from .services.security_profile import SecurityProfileService
from .services.transactions import TransactionService
from .settings import FEATURE_PROFILES, EngineSettings, SecurityProfile, SettingsError
from .smart_charging import ChargingProfiles
from .storage import EngineStorage

_LOGGER = logging.getLogger(__name__)

# What a charge point without a feature profile does not have: its configuration keys (hidden
# from the CSMS) and the CSMS messages it answers (NotSupported instead). A charge point
# without LocalAuthListManagement keeps SendLocalList/GetLocalListVersion, answered
# NotSupported / -1 as the profile's own messages say.
PROFILE_KEYS: dict[str, tuple[str, ...]] = {
    "LocalAuthListManagement": (
        "LocalAuthListEnabled",
        "LocalAuthListMaxLength",
        "SendLocalListMaxLength",
    ),
    "Reservation": ("ReserveConnectorZeroSupported",),
    "SmartCharging": (
        "ChargeProfileMaxStackLevel",
        "ChargingScheduleAllowedChargingRateUnit",
        "ChargingScheduleMaxPeriods",
        "ConnectorSwitch3to1PhaseSupported",
        "MaxChargingProfilesInstalled",
    ),
}
PROFILE_ACTIONS: dict[str, tuple[str, ...]] = {
    # SignedUpdateFirmware (security extension) goes with the profile: no firmware to update.
    "FirmwareManagement": ("GetDiagnostics", "UpdateFirmware", "SignedUpdateFirmware"),
    "RemoteTrigger": ("TriggerMessage",),
    "Reservation": ("ReserveNow", "CancelReservation"),
    "SmartCharging": ("SetChargingProfile", "ClearChargingProfile", "GetCompositeSchedule"),
}


__all__ = ["ChargePointEngine", "EngineListener", "local_time_zone"]


def files_directory(queue_path: str | None) -> Path:
    """Where downloaded firmware is kept: beside the journal (``<journal stem>.files``), so
    a restart finds it; a memory journal gets a per-process temporary folder."""
    if queue_path is None or queue_path == ":memory:":
        return Path(tempfile.gettempdir()) / f"ocpp_cp-files-{os.getpid()}-{next(_FILES_SEQ)}"
    journal = Path(queue_path)
    return journal.with_name(journal.stem + ".files")


_FILES_SEQ = itertools.count()


def local_time_zone() -> tzinfo:
    """The system's zone with its DST rules (a fixed offset would be wrong half the year)."""
    name = os.environ.get("TZ", "").lstrip(":")
    with contextlib.suppress(ValueError, OSError):
        if name:
            return ZoneInfo(name)
    with contextlib.suppress(ValueError, OSError), open("/etc/localtime", "rb") as source:
        return ZoneInfo.from_file(source, key="localtime")
    return datetime.now().astimezone().tzinfo or UTC


# What an options change may alter on a running charge point.
LIVE_SETTINGS = (
    "pinned_heartbeat_interval",
    "pinned_meter_interval",
    "freeze_current_offered",
    "nominal_voltage",
    "phases",
    "measurands",
    "time_zone",
    "hardware_max_current",
    "accept_measurand_lists",
)


def security_services(
    ctx: EngineContext,
    connection: ConnectionService,
    configuration: ConfigurationService,
    queue_path: str | None,
) -> SecurityProfileService:
    """The certificate store feeding the TLS context, and the SecurityProfile raises checked
    and tried with a fallback."""
    certificates = CertificateService(ctx, connection, queue_path or ":memory:")
    security_profile = SecurityProfileService(ctx, connection, certificates, configuration)
    connection.client_files = certificates.client_files
    connection.extra_roots = certificates.trust_pem
    connection.after_attempt = security_profile.after_attempt
    configuration.security_profile = security_profile
    return security_profile


class FileAndSecurityServices(NamedTuple):
    profile_switch: SecurityProfileService
    diagnostics: DiagnosticsService
    firmware: FirmwareService
    security: SecurityEventService
    logs: LogService


def file_and_security_services(
    ctx: EngineContext,
    connectors: ConnectorService,
    connection: ConnectionService,
    configuration: ConfigurationService,
    queue_path: str | None,
) -> FileAndSecurityServices:
    """The security extension and FirmwareManagement: certificates and profiles, uploads
    (one frame ring for GetDiagnostics and GetLog), firmware checked against the installed
    manufacturer roots, the security log."""
    profile_switch = security_services(ctx, connection, configuration, queue_path)
    certificates = profile_switch.certificates
    diagnostics = DiagnosticsService(ctx)
    firmware = FirmwareService(
        ctx,
        connectors,
        files_directory(queue_path),
        lambda: certificates.roots("ManufacturerRootCertificate"),
    )
    security = SecurityEventService(ctx)
    logs = LogService(ctx, security, diagnostics.frames)
    return FileAndSecurityServices(profile_switch, diagnostics, firmware, security, logs)


def engine_configuration(
    settings: EngineSettings, missing: list[str], supported_measurands: Callable[[], frozenset[str]]
) -> Configuration:
    """The keys as this charge point has them: its profiles' keys only, fixed values pinned."""
    overrides = {
        "NumberOfConnectors": str(settings.number_of_connectors),
        "SecurityProfile": str(int(settings.security_profile)),
        "AdditionalRootCertificateCheck": str(settings.additional_root_certificate_check).lower(),
        "SupportedFeatureProfiles": ",".join(
            p for p in FEATURE_PROFILES if p in settings.feature_profiles
        ),
    }
    if "LocalAuthListManagement" in missing:
        overrides["LocalAuthListEnabled"] = "false"
    return Configuration(
        CORE_KEYS,
        supported_measurands=supported_measurands,
        overrides=overrides,
        hidden=[key for profile in missing for key in PROFILE_KEYS.get(profile, ())],
        accept_measurand_lists=settings.accept_measurand_lists,
    )


def apply_live_settings(s: Services, old: EngineSettings, new: EngineSettings) -> None:
    if dataclasses.replace(new, **{f: getattr(old, f) for f in LIVE_SETTINGS}) != old:
        raise ValueError("the connection or the charge point itself changed")
    s.ctx.settings = new
    config = s.ctx.config
    if new.pinned_heartbeat_interval is not None:
        config.set_internal("HeartbeatInterval", str(new.pinned_heartbeat_interval))
        s.boot.heartbeat_changed.set()
    if new.pinned_meter_interval is not None:
        config.set_internal("MeterValueSampleInterval", str(new.pinned_meter_interval))
        s.metering.restart_samplers()
    profiles = s.limits.profiles
    profiles.electrical = Electrical(voltage=new.nominal_voltage, phases=new.phases)
    profiles.tz = new.time_zone or local_time_zone()
    s.limits.changed()


class ChargePointEngine:
    """One OCPP 1.6J charge point with ``number_of_connectors`` connectors."""

    def __init__(
        self,
        settings: EngineSettings,
        hardware: ChargerHardware,
        storage: EngineStorage,
        *,
        listener: EngineListener | None = None,
        queue_path: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.hardware = hardware
        self._extra_measurands: frozenset[str] = frozenset()
        missing = [p for p in FEATURE_PROFILES if p not in settings.feature_profiles]
        config = engine_configuration(settings, missing, self.supported_measurands)
        ctx = EngineContext(
            settings,
            hardware,
            config,
            Journal(queue_path or ":memory:"),
            clock or Clock(),
            listener,
        )
        self.ctx = ctx
        self.wire = OcppRpc(
            settings.charge_point_id,
            call_timeout=settings.call_timeout,
            spawn=ctx.spawn,
            frame_listener=self._on_frame,
        )
        ctx.wire = self.wire
        profiles = ChargingProfiles(
            ctx.connectors,
            limits=LimitService.profile_limits(config),
            electrical=Electrical(voltage=settings.nominal_voltage, phases=settings.phases),
            tz=settings.time_zone or local_time_zone(),
        )
        connectors = ConnectorService(ctx)
        delivery = TransactionDelivery(ctx)
        authorization = AuthorizationService(ctx)
        limits = LimitService(ctx, profiles)
        transactions = TransactionService(ctx, connectors, delivery, authorization)
        metering = MeteringService(ctx, limits, transactions)
        reservations = ReservationService(ctx, connectors)
        transactions.limits, transactions.metering = limits, metering
        transactions.reservations = reservations
        connectors.on_changed = limits.update_outputs
        limits.refresh = connectors.refresh
        boot = BootService(ctx, self._set_state)
        connection = ConnectionService(ctx, self.wire, self._session, lambda: boot.booted)
        boot.on_accepted = connection.log_available
        connection.on_disconnected = connectors.disconnected
        configuration = ConfigurationService(ctx, storage)
        configuration.on_security_changed = self._security_changed
        remote = RemoteService(ctx, connection, boot, connectors, transactions, delivery, metering)
        extra = file_and_security_services(ctx, connectors, connection, configuration, queue_path)
        self.profile_switch, self.diagnostics = extra.profile_switch, extra.diagnostics
        self.wire.on_invalid = lambda why: ctx.security_event("InvalidMessages", why)
        self.services = Services(
            ctx,
            connection,
            boot,
            connectors,
            configuration,
            authorization,
            transactions,
            delivery,
            metering,
            limits,
            remote,
            reservations,
            extra.profile_switch.certificates,
            *extra[1:],
        )
        self.wire.handlers = {
            action: handler
            for action, handler in build_handlers(self.services).items()
            if not any(action in PROFILE_ACTIONS.get(profile, ()) for profile in missing)
        }
        config.add_hook(self._on_config_changed)
        self._supervisor: asyncio.Task[None] | None = None
        self._limit_task: asyncio.Task[None] | None = None
        self._stopped = False

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Restore persisted state from the journal and start connecting; returns at once.

        SettingsError when the configuration cannot work (TLS files); then nothing is left
        open or running.
        """
        s = self.services
        await asyncio.get_running_loop().run_in_executor(
            None, load_validators, CP_TO_CSMS_ACTIONS
        )  # what we send; a CSMS's messages are compiled when first received
        await self._open_journal()
        try:
            await s.configuration.restore()  # the SecurityProfile the CSMS may have raised
            await self.profile_switch.restore()  # certificates, a SecurityProfile on trial
            await s.connection.load_tls()
        except SettingsError:
            await self.ctx.journal.close()  # a broken configuration leaves nothing running
            self._stopped = True
            raise
        s.connectors.restore_availability(await s.configuration.load(DOCUMENT_AVAILABILITY))
        await s.authorization.restore()
        await s.transactions.restore()
        for connector in self.ctx.connectors.values():
            if connector.transaction is None:  # what it waited for ended while we were down
                s.connectors.apply_scheduled(connector)
        await s.reservations.restore()
        await s.limits.restore()
        await s.firmware.restore()
        s.security.start()  # StartupOfTheDevice, and the sender of the queued ones
        self._supervisor = asyncio.create_task(s.connection.supervise(), name="ocpp_cp supervisor")
        self._limit_task = asyncio.create_task(s.limits.loop(), name="ocpp_cp limits")

    async def _open_journal(self) -> None:
        try:
            await self.ctx.journal.open()
        except JournalError as err:
            # Keep running on a memory journal; the HA layer raises a repair issue.
            self.ctx.storage_failed(err)
            await self.ctx.journal.close()
            self.ctx.journal = Journal(":memory:")
            await self.ctx.journal.open()

    async def stop(self) -> None:
        """Close the connection, finish every write, and cancel every task."""
        s = self.services
        s.connection.online.clear()  # a deliberate stop is not an outage: nothing to warn about
        if self._stopped:
            return
        self._stopped = True
        for task in (self._supervisor, self._limit_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._supervisor = self._limit_task = None
        if self.ctx.persisting:  # never lose a state change on its way to disk
            await asyncio.wait(list(self.ctx.persisting), timeout=10)
        await s.metering.stop()
        s.reservations.stop()
        tasks = list(self.ctx.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(JournalError):
            await s.transactions.mark_clean_shutdown()
        with contextlib.suppress(JournalError):
            await self.ctx.journal.close()

    async def _session(self) -> None:
        """One accepted connection: boot if needed, then statuses, transactions, heartbeats."""
        s = self.services
        if not s.boot.booted:
            await s.boot.boot()
        else:
            self._set_state(ConnectionState.ACCEPTED)
            s.connection.log_available()
        self.ctx.accepted.set()
        s.connectors.connected()
        await asyncio.gather(
            s.boot.heartbeat_loop(),
            s.connectors.sender(),
            s.delivery.run(),
            s.metering.clock_aligned_loop(),
        )

    def update_settings(self, settings: EngineSettings) -> None:
        """Apply settings that can change without a new connection (see ``LIVE_SETTINGS``):
        the OCPP session goes on. ValueError when anything that defines the connection or the
        charge point differs: that needs a new engine."""
        apply_live_settings(self.services, self.settings, settings)
        self.settings = settings

    def _set_state(self, state: ConnectionState, error: str | None = None, **kw: Any) -> None:
        self.services.connection.set_state(state, error, **kw)

    def _on_frame(self, direction: str, text: str) -> None:
        self.diagnostics.record_frame(direction, text)
        if self.ctx.listener is not None:
            self.ctx.emit("frame", direction=direction, frame=redact(text))

    def go_offline(self) -> None:
        """Drop the connection and stay away until ``go_online``."""
        self.services.connection.go_offline()

    def go_online(self) -> None:
        self.services.connection.go_online()

    def reconnect(self) -> None:
        """Drop the link now; the supervisor dials again straight away."""
        self.services.connection.drop()

    async def _security_changed(self) -> None:
        await self.services.connection.load_tls()
        self.ctx.emit("security_changed", security_profile=self.config.get_int("SecurityProfile"))
        self.reconnect()

    def _on_config_changed(self, key: str, value: str) -> None:
        s = self.services
        if key == "HeartbeatInterval":
            s.boot.heartbeat_changed.set()
        elif key == "WebSocketPingInterval":
            s.connection.ping_changed.set()
        elif key == "ClockAlignedDataInterval":
            s.metering.aligned_changed.set()
        elif key == "MeterValueSampleInterval":
            s.metering.restart_samplers()
        self.ctx.emit("configuration", key=key, value="***" if key == "AuthorizationKey" else value)

    # -- state, as the HA layer and the simulator read it -----------------------------------

    @property
    def config(self) -> Configuration:
        return self.ctx.config

    @property
    def connectors(self) -> dict[int, Connector]:
        return self.ctx.connectors

    @property
    def readings(self) -> dict[int, MeterReadings]:
        return self.ctx.readings

    @property
    def clock(self) -> Clock:
        return self.ctx.clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        """Tests swap in a clock that jumps forward."""
        self.ctx.clock = clock

    @property
    def journal(self) -> Journal:
        return self.ctx.journal

    @property
    def profiles(self) -> ChargingProfiles:
        return self.services.limits.profiles

    @property
    def auth_cache(self) -> AuthorizationCache:
        return self.services.authorization.cache

    @property
    def local_list(self) -> LocalList:
        return self.services.authorization.local_list

    @property
    def state(self) -> ConnectionState:
        return self.services.connection.state

    @property
    def last_error(self) -> str | None:
        return self.services.connection.last_error

    @property
    def last_error_kind(self) -> ConnectErrorKind | None:
        return self.services.connection.last_error_kind

    @property
    def last_heartbeat(self) -> float | None:
        return self.services.boot.last_heartbeat

    @property
    def csms_time_offset(self) -> float | None:
        return self.services.boot.csms_time_offset

    @property
    def storage_error(self) -> str | None:
        return self.ctx.storage_error

    @property
    def messages_thinned(self) -> int:
        return self.services.delivery.thinned

    @property
    def effective_settings(self) -> EngineSettings:
        """Settings with the security keys the CSMS may have changed since."""
        return self.services.connection.settings

    @property
    def security_profile(self) -> SecurityProfile:
        return self.effective_settings.security_profile

    def now_stamp(self) -> str:
        return self.ctx.now_stamp()

    # -- inputs -----------------------------------------------------------------------------

    def set_plugged(self, connector_id: int, plugged: bool) -> None:
        self.services.connectors.set_plugged(connector_id, plugged)

    def set_ev_state(self, connector_id: int, state: EvState) -> None:
        self.services.connectors.set_ev_state(connector_id, state)

    def set_fault(
        self,
        connector_id: int,
        error_code: ChargePointErrorCode | str,
        info: str | None = None,
        *,
        blocking: bool = True,
        vendor_error_code: str | None = None,
    ) -> None:
        self.services.connectors.set_fault(
            connector_id, error_code, info, blocking=blocking, vendor_error_code=vendor_error_code
        )

    def clear_fault(self, connector_id: int) -> None:
        self.set_fault(connector_id, ChargePointErrorCode.no_error)

    def set_reading(
        self, connector_id: int, measurand: str, value: float | None, phase: str | None = None
    ) -> None:
        """A meter reading in the measurand's canonical unit; None = unavailable right now."""
        self.readings[self.ctx.connector(connector_id).connector_id].set(measurand, value, phase)

    def set_available_measurands(self, measurands: frozenset[str]) -> None:
        """Measurands the charger can supply besides ``settings.measurands`` (HA mapping)."""
        self._extra_measurands = measurands

    def supported_measurands(self) -> frozenset[str]:
        return self.settings.measurands | self._extra_measurands | ENGINE_MEASURANDS

    # -- transactions -----------------------------------------------------------------------

    async def swipe(self, id_tag: str, connector_id: int | None = None) -> str:
        """An RFID card at the reader (of one connector, or of the charge point): stop the
        session it or its group started, or start one."""
        return await self.services.transactions.swipe(id_tag, connector_id)

    async def authorize(self, id_tag: str) -> bool:
        return await self.services.authorization.authorize(id_tag)

    async def start_transaction(self, connector_id: int, id_tag: str) -> str:
        """A local start (HA service, button): authorise, then start or wait for the plug."""
        return await self.services.transactions.start_local(connector_id, id_tag)

    def stop_transaction(self, connector_id: int, reason: Reason | str = Reason.local) -> bool:
        return self.services.transactions.stop_local(connector_id, reason)

    async def send_meter_values(
        self, connector_id: int, context: str = ReadingContext.trigger
    ) -> bool:
        """Send MeterValuesSampledData for a connector now and wait for the answer."""
        return await self.services.metering.send_now(connector_id, context)

    async def data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {"vendorId": vendor_id}
        if message_id is not None:
            payload["messageId"] = message_id
        if data is not None:
            payload["data"] = data
        return await self.wire.call_action("DataTransfer", payload)

    @staticmethod
    def seconds_to_next_aligned(now: float, interval: int) -> float:
        return seconds_to_next_aligned(now, interval)

    # -- limits -----------------------------------------------------------------------------

    def limit_in_force(self, connector_id: int) -> LimitInForce:
        return self.services.limits.limit_in_force(connector_id)

    def limit_schedule(self, connector_id: int, duration: int) -> list[LimitSegment]:
        return self.services.limits.schedule(connector_id, duration)

    def limit_amps(self, connector: Connector) -> float:
        return self.services.limits.limit_amps(connector)

    def offered(self, connector: Connector) -> dict[str, float]:
        return self.services.limits.offered(connector)

    def set_hardware_max(self, connector_id: int, amps: float | None) -> None:
        self.services.limits.set_hardware_max(connector_id, amps)

    def set_hardware_min(self, connector_id: int, amps: float | None) -> None:
        self.services.limits.set_hardware_min(connector_id, amps)

    def set_local_limit(
        self,
        connector_id: int,
        amps: float | None = None,
        watts: float | None = None,
        *,
        duration: float | None = None,
    ) -> None:
        """A local limit (None = none), for ``duration`` seconds or until replaced; 0 pauses
        the session as SuspendedEVSE with the transaction kept open."""
        self.services.limits.set_local_limit(connector_id, amps, watts, duration=duration)

    def set_local_schedule(self, connector_id: int, periods: list[LocalPeriod]) -> None:
        """A local schedule (an optimiser's plan): each period's limit holds until the next."""
        self.services.limits.set_local_schedule(connector_id, periods)

    def clear_local_limit(self, connector_id: int) -> None:
        self.set_local_schedule(connector_id, [])

    async def set_availability(self, connector_id: int, operative: bool) -> str:
        """Operative or Inoperative, as ChangeAvailability would set it (0 = the whole charge
        point): "Accepted", or "Scheduled" while a session runs or is being prepared on it.
        Durable before it returns; ValueError for no such connector."""
        status = await self.services.connectors.change_availability(connector_id, operative)
        if status is None:
            raise ValueError(f"no connector {connector_id}")
        return status

    def set_site_guard_limits(self, limits: dict[int, float | None]) -> None:
        """The site fuse guard's limit per connector (None = none): one more limit, the lowest
        wins, 0 pauses (SuspendedEVSE); lowered ones are told first. Not journalled: the guard
        sets them again after a restart. ValueError for a bad one."""
        self.services.limits.set_site_guard(limits)

    def local_limit_amps(self, connector_id: int) -> float | None:
        """The local limit set with ``set_local_limit`` in force now (None = none)."""
        now = self.ctx.now()
        in_force = [p for p in self.services.limits.profiles.local(connector_id) if p.start <= now]
        return in_force[-1].amps if in_force else None

    def recheck_limits(self) -> None:
        """Evaluate the limits again now (the wall clock jumped, e.g. after NTP sync)."""
        self.services.limits.changed()

    def reassert_outputs(self, connector_id: int) -> None:
        self.services.limits.reassert_outputs(connector_id)

    def composite_schedule(
        self, connector_id: int, duration: int, unit: str | None = None
    ) -> dict[str, Any]:
        """What GetCompositeSchedule would answer now (for the HA service)."""
        _, schedule = self.services.limits.composite(connector_id, duration, unit)
        return schedule
