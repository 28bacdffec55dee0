"""The charge point: OCPP 1.6J Core and RemoteTrigger behaviour on top of the wire layer.

Inputs arrive through plain methods (``set_plugged``, ``set_reading``, ``swipe``...), outputs go
to a ``ChargerHardware``; everything that talks to the CSMS runs in tasks this object owns, so
``stop()`` leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import os
import random
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from ocpp.v16.enums import (
    Action,
    ChargePointErrorCode,
    ChargePointStatus,
    Measurand,
    MessageTrigger,
    ReadingContext,
    Reason,
    RegistrationStatus,
)

from .authorization import ACCEPTED, AuthorizationCache, LocalList, effective_status
from .clock import Clock
from .configuration import CORE_KEYS, ENGINE_MEASURANDS, ChangeOutcome, Configuration
from .connection import (
    ConnectError,
    ConnectErrorKind,
    ConnectionState,
    build_ssl_context,
    open_connection,
)
from .connector import Connector, Fault, Transaction
from .frames import OcppCallError, load_validators
from .hardware import ChargerHardware, ChargingLimit, EvState, ResetKind, UnlockOutcome
from .meter import MeterReadings, sampled_values
from .queue import MessageStore, QueueStorageError
from .rpc import NotConnectedError, OcppRpc, Reply, on
from .settings import EngineSettings, SecurityProfile
from .smart_charging import (
    PURPOSE_TX,
    ChargingProfile,
    ChargingProfiles,
    Electrical,
    LimitInForce,
    LimitSegment,
    LocalPeriod,
    ProfileError,
    ProfileLimits,
    TransactionContext,
)
from .storage import EngineStorage

_LOGGER = logging.getLogger(__name__)

type EngineListener = Callable[[str, dict[str, Any]], None]

BOOT_RETRY_DEFAULT = 30
# The idTag the charge point uses for itself when the user starts a session locally.
STORAGE_CONFIGURATION = "configuration"
DOCUMENT_SHUTDOWN = "shutdown"
DOCUMENT_AUTH_CACHE = "authorization_cache"
DOCUMENT_LOCAL_LIST = "local_list"
DOCUMENT_PROFILES = "charging_profiles"
# The limit timer never sleeps longer than this, so a wall-clock jump is caught within it.
LIMIT_RECHECK_SECONDS = 300.0
STORAGE_AVAILABILITY = "availability"


def local_time_zone() -> tzinfo:
    """The system's zone with its DST rules (a fixed offset would be wrong half the year)."""
    name = os.environ.get("TZ", "").lstrip(":")
    with contextlib.suppress(ValueError, OSError):
        if name:
            return ZoneInfo(name)
    with contextlib.suppress(ValueError, OSError), open("/etc/localtime", "rb") as source:
        return ZoneInfo.from_file(source, key="localtime")
    return datetime.now().astimezone().tzinfo or UTC


def iso(ts: float) -> str:
    """RFC 3339 UTC with milliseconds, the form every CSMS parses."""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(slots=True)
class QueuedMessage:
    """A transaction message waiting for delivery (StartTransaction, MeterValues, Stop).

    It is sent only once it is durable (``stored``), always with the same unique id.
    """

    action: str
    payload: dict[str, Any]
    transaction: Transaction | None
    unique_id: str = dataclasses.field(default_factory=lambda: str(uuid.uuid4()))
    seq: int | None = None
    attempts: int = 0
    stored: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    dropped: bool = False
    # A message restored from disk keeps its JSON text until it is sent.
    payload_text: str | None = None

    def current_payload(self) -> dict[str, Any]:
        if self.payload_text is not None:
            self.payload = json.loads(self.payload_text)
            self.payload_text = None
        return dict(self.payload)


class ChargePointEngine(OcppRpc):
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
        self._tasks: set[asyncio.Task[Any]] = set()
        self.store = MessageStore(queue_path or ":memory:")
        self.clock = clock or Clock()
        self.storage_error: str | None = None
        self.messages_thinned = 0
        self._previous_shutdown: dict[str, Any] = {}
        self._persisting: set[asyncio.Task[None]] = set()
        self._stopped = False
        super().__init__(
            settings.charge_point_id,
            call_timeout=settings.call_timeout,
            spawn=self._spawn,
            frame_listener=self._on_frame if listener else None,
        )
        self.settings = settings
        self.hardware = hardware
        self.storage = storage
        self._listener = listener
        self.config = Configuration(
            CORE_KEYS,
            supported_measurands=self.supported_measurands,
            overrides={
                "NumberOfConnectors": str(settings.number_of_connectors),
                "SecurityProfile": str(int(settings.security_profile)),
            },
        )
        self.config.add_hook(self._on_config_changed)
        self.connectors: dict[int, Connector] = {
            c: Connector(c) for c in range(settings.number_of_connectors + 1)
        }
        self.readings: dict[int, MeterReadings] = {c: MeterReadings() for c in self.connectors}
        self.state = ConnectionState.DISCONNECTED
        self.last_error: str | None = None
        self.last_error_kind: ConnectErrorKind | None = None
        self.last_heartbeat: float | None = None
        self.csms_time_offset: float | None = None
        self._booted = False
        self._accepted = asyncio.Event()
        self._online = asyncio.Event()
        self._online.set()
        self._wake_boot = asyncio.Event()
        self._heartbeat_changed = asyncio.Event()
        self._ping_changed = asyncio.Event()
        self._aligned_changed = asyncio.Event()
        self._status_queue: list[tuple[int, str, str, str | None]] = []
        self._status_ready = asyncio.Event()
        self._tx_queue: list[QueuedMessage] = []
        self._tx_ready = asyncio.Event()
        self._tx_idle = asyncio.Event()
        self._tx_idle.set()
        self._samplers: dict[int, asyncio.Task[None]] = {}
        self._permitted: dict[int, bool] = {}
        self._last_limit: dict[int, ChargingLimit] = {}
        self._announced_limits: dict[int, tuple[float, Any]] = {}
        self.auth_cache = AuthorizationCache()
        self.local_list = LocalList()
        self._ssl_context: ssl.SSLContext | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._last_stamp = 0.0
        self._reported_unavailable = False
        self._extra_measurands: frozenset[str] = frozenset()
        self.profiles = ChargingProfiles(
            self.connectors,
            limits=self._profile_limits(),
            electrical=Electrical(voltage=settings.nominal_voltage, phases=settings.phases),
            tz=settings.time_zone or local_time_zone(),
        )
        # Bumped on every change of profiles, local limits, hardware max or transactions.
        self._limit_version = 0
        self._limit_cache: dict[int, tuple[int, LimitInForce]] = {}
        self._limit_wakeup = asyncio.Event()
        self._limit_task: asyncio.Task[None] | None = None
        # RemoteStartTransaction's TxProfile, installed when its transaction begins.
        self._pending_profiles: dict[int, ChargingProfile] = {}

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Restore persisted state and start connecting; returns at once."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, load_validators)
        saved = await self.storage.async_load(STORAGE_CONFIGURATION)
        if isinstance(saved, dict):
            self.config.restore(saved)
        for key, pinned in (
            ("HeartbeatInterval", self.settings.pinned_heartbeat_interval),
            ("MeterValueSampleInterval", self.settings.pinned_meter_interval),
        ):
            if pinned is not None:
                self.config.set_internal(key, str(pinned))
        availability = await self.storage.async_load(STORAGE_AVAILABILITY)
        if isinstance(availability, dict):
            for key, operative in availability.items():
                connector = self.connectors.get(int(key))
                if connector is not None:
                    connector.operative = bool(operative)
        await self._open_store()
        await self._restore_from_store()
        self._ssl_context = await loop.run_in_executor(
            None, build_ssl_context, self.effective_settings
        )
        self._supervisor = asyncio.create_task(self._supervise(), name="ocpp_cp supervisor")
        self._limit_task = asyncio.create_task(self._limit_loop(), name="ocpp_cp limits")

    async def stop(self) -> None:
        """Close the connection and cancel every task this engine started."""
        self._online.clear()  # a deliberate stop is not an outage: nothing to warn about
        if self._stopped:
            return
        self._stopped = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        if self._limit_task is not None:
            self._limit_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._limit_task
            self._limit_task = None
        if self._persisting:  # never lose a message that is on its way to disk
            await asyncio.wait(list(self._persisting), timeout=10)
        tasks = list(self._tasks) + list(self._samplers.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._samplers.clear()
        with contextlib.suppress(QueueStorageError):
            await self.store.save_document(DOCUMENT_SHUTDOWN, {"clean": True, "at": time.time()})
        with contextlib.suppress(QueueStorageError):
            await self.store.close()

    def go_offline(self) -> None:
        """Drop the connection and stay away until ``go_online``."""
        self._online.clear()
        self._drop_connection()

    def go_online(self) -> None:
        self._online.set()

    def reconnect(self) -> None:
        """Drop the link now; the supervisor dials again straight away."""
        self._drop_connection()

    @property
    def effective_settings(self) -> EngineSettings:
        """Settings with the security keys the CSMS may have changed since."""
        key = self.config.get("AuthorizationKey") or self.settings.authorization_key
        profile = SecurityProfile(self.config.get_int("SecurityProfile"))
        return dataclasses.replace(self.settings, authorization_key=key, security_profile=profile)

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        async def runner() -> None:
            await coro

        task = asyncio.create_task(runner(), name=f"ocpp_cp {name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _LOGGER.error("Task %s failed", task.get_name(), exc_info=task.exception())

    def _emit(self, event: str, /, **data: Any) -> None:
        if self._listener is not None:
            self._listener(event, data)

    def _on_frame(self, direction: str, text: str) -> None:
        self._emit("frame", direction=direction, frame=text)

    def _set_state(self, state: ConnectionState, error: str | None = None) -> None:
        if error is not None:
            self.last_error = error
        if state != self.state or error is not None:
            self.state = state
            self._emit("state", state=state.value, error=self.last_error)

    # -- supervisor -------------------------------------------------------------------------

    async def _supervise(self) -> None:
        attempt = 0
        while True:
            await self._online.wait()
            self._set_state(ConnectionState.CONNECTING)
            try:
                websocket = await open_connection(self.effective_settings, self._ssl_context)
            except ConnectError as err:
                self.last_error_kind = err.kind
                self._set_state(ConnectionState.DISCONNECTED, str(err))
                self._log_unavailable(str(err))
            else:
                self.last_error_kind = None
                self.attach(websocket)
                try:
                    if await self._run_session(websocket):
                        attempt = 0
                finally:
                    self.detach()
                    self._accepted.clear()
                    self._status_queue.clear()
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(websocket.close(), 2)
                    self._set_state(ConnectionState.DISCONNECTED)
                    if self._online.is_set():
                        self._log_unavailable(self.last_error or "connection closed")
            if not self._online.is_set():
                continue
            await asyncio.sleep(self._backoff_delay(attempt))
            attempt += 1

    def _log_unavailable(self, why: str) -> None:
        """Once at WARNING when the CSMS is lost, then quietly until it is back."""
        if self._reported_unavailable:
            _LOGGER.debug("Still no CSMS at %s: %s", self.settings.connection_url, why)
            return
        self._reported_unavailable = True
        _LOGGER.warning("CSMS at %s unavailable: %s", self.settings.connection_url, why)

    def _backoff_delay(self, attempt: int) -> float:
        """Exponential back-off with +/-25 % jitter so a fleet does not redial in lockstep."""
        base = self.settings.reconnect_initial_delay * (2.0 ** min(attempt, 16))
        return min(self.settings.reconnect_max_delay, base) * random.uniform(0.75, 1.25)

    async def _run_session(self, websocket: Any) -> bool:
        """Serve one connection until it closes; True if the CSMS accepted us on it."""
        receiver = asyncio.create_task(self.receive_loop(websocket), name="ocpp_cp receive")
        workers = [
            asyncio.create_task(self._ping_loop(websocket), name="ocpp_cp ping"),
            asyncio.create_task(self._session_main(), name="ocpp_cp session"),
        ]
        try:
            await receiver
        finally:
            for task in workers:
                task.cancel()
            receiver.cancel()
            await asyncio.gather(receiver, *workers, return_exceptions=True)
        return self._booted and self.state == ConnectionState.ACCEPTED

    def _drop_connection(self) -> None:
        websocket = self._websocket
        if websocket is not None:
            websocket.transport.abort()

    async def _every(
        self,
        key: str,
        changed: asyncio.Event,
        action: Callable[[], Awaitable[bool | None]],
        delay: Callable[[int], float] | None = None,
    ) -> None:
        """Run ``action`` every ``key`` seconds (0 = off), re-armed at once when the key changes.

        ``delay`` maps the interval to the wait before the next run (clock alignment); an
        action returning False ends the loop.
        """
        while True:
            interval = self.config.get_int(key)
            changed.clear()
            if interval <= 0:
                await changed.wait()
                continue
            wait = delay(interval) if delay is not None else interval
            try:
                await asyncio.wait_for(changed.wait(), wait)
                continue
            except TimeoutError:
                pass
            if await action() is False:
                return

    async def _ping_loop(self, websocket: Any) -> None:
        async def ping() -> bool:
            try:
                pong = await websocket.ping()
                await asyncio.wait_for(pong, self.settings.pong_timeout)
            except TimeoutError:
                self.last_error = "the CSMS stopped answering WebSocket pings"
                _LOGGER.warning("No pong within %ss: dropping the link", self.settings.pong_timeout)
                websocket.transport.abort()
                return False
            except Exception:  # closed under us: the receiver notices
                return False
            return True

        await self._every("WebSocketPingInterval", self._ping_changed, ping)

    async def _session_main(self) -> None:
        if not self._booted:
            await self._boot()
        else:
            self._set_state(ConnectionState.ACCEPTED)
            self._log_available()
        self._accepted.set()
        self._status_queue.clear()
        for connector in self.connectors.values():
            self._queue_status(connector, force=True)
        await asyncio.gather(
            self._heartbeat_loop(),
            self._status_sender(),
            self._transaction_sender(),
            self._clock_aligned_loop(),
        )

    # -- boot & heartbeat -------------------------------------------------------------------

    def _boot_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "chargePointVendor": self.settings.vendor[:20],
            "chargePointModel": self.settings.model[:20],
        }
        if self.settings.serial_number:
            payload["chargePointSerialNumber"] = self.settings.serial_number[:25]
        if self.settings.firmware_version:
            payload["firmwareVersion"] = self.settings.firmware_version[:50]
        return payload

    async def _boot(self) -> None:
        while True:
            self._set_state(ConnectionState.BOOTING)
            self._wake_boot.clear()
            retry = BOOT_RETRY_DEFAULT
            try:
                result = await self.call_action("BootNotification", self._boot_payload())
            except (TimeoutError, OcppCallError) as err:
                self._set_state(
                    ConnectionState.BOOTING,
                    f"the CSMS did not answer BootNotification ({err or 'timeout'})",
                )
            else:
                self._note_csms_time(result.get("currentTime"))
                status = result["status"]
                retry = int(result.get("interval") or 0) or BOOT_RETRY_DEFAULT
                if status == RegistrationStatus.accepted:
                    self._apply_boot_interval(int(result.get("interval") or 0))
                    self._booted = True
                    self.last_error = None
                    self._log_available()
                    self._set_state(ConnectionState.ACCEPTED)
                    return
                if status == RegistrationStatus.pending:
                    self._set_state(ConnectionState.PENDING)
                else:
                    self._set_state(
                        ConnectionState.REJECTED, "the CSMS rejected the BootNotification"
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_boot.wait(), retry)

    def _log_available(self) -> None:
        if self._reported_unavailable:
            self._reported_unavailable = False
            _LOGGER.info("CSMS at %s is back", self.settings.connection_url)

    def _apply_boot_interval(self, interval: int) -> None:
        pinned = self.settings.pinned_heartbeat_interval
        if pinned is not None:
            interval = pinned
        if interval > 0:
            self.config.set_internal("HeartbeatInterval", str(interval))
            self._heartbeat_changed.set()

    def _note_csms_time(self, value: Any) -> None:
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                csms = datetime.fromisoformat(value.replace("Z", "+00:00"))
                if csms.tzinfo is None:
                    csms = csms.replace(tzinfo=UTC)
                self.csms_time_offset = csms.timestamp() - time.time()

    async def _heartbeat_loop(self) -> None:
        await self._every("HeartbeatInterval", self._heartbeat_changed, self._send_heartbeat)

    async def _send_heartbeat(self) -> None:
        try:
            result = await self.call_action("Heartbeat", {})
        except (TimeoutError, OcppCallError, NotConnectedError) as err:
            _LOGGER.info("Heartbeat failed: %s", err)
            return
        self.last_heartbeat = time.time()
        self._note_csms_time(result.get("currentTime"))
        self._emit("heartbeat", at=self.last_heartbeat)

    # -- time -------------------------------------------------------------------------------

    def now_stamp(self) -> str:
        """Strictly increasing timestamps: evcc drops messages older than the last it saw."""
        now = max(self.clock.time(), self._last_stamp + 0.001)
        self._last_stamp = now
        return iso(now)

    # -- inputs -----------------------------------------------------------------------------

    def _connector(self, connector_id: int) -> Connector:
        try:
            return self.connectors[connector_id]
        except KeyError:
            raise ValueError(f"no connector {connector_id}") from None

    def set_plugged(self, connector_id: int, plugged: bool) -> None:
        connector = self._connector(connector_id)
        self._resolve_restored(connector, plugged)
        if connector.plugged == plugged:
            return
        connector.plugged = plugged
        connector.finishing = False
        if plugged:
            if connector.pending_id_tag is not None and connector.transaction is None:
                id_tag = connector.pending_id_tag
                self._spawn(self._begin_transaction(connector, id_tag), "start on plug")
        else:
            connector.ev_state = EvState.IDLE
            if connector.transaction is not None and self.config.get_bool(
                "StopTransactionOnEVSideDisconnect"
            ):
                self._end_transaction(connector, Reason.ev_disconnected)
            if self.config.get_bool("UnlockConnectorOnEVSideDisconnect"):
                self._spawn(self._unlock_quietly(connector_id), "unlock on unplug")
        self._refresh(connector)

    def set_ev_state(self, connector_id: int, state: EvState) -> None:
        connector = self._connector(connector_id)
        if connector.ev_state != state:
            connector.ev_state = state
            self._refresh(connector)

    def set_fault(
        self,
        connector_id: int,
        error_code: ChargePointErrorCode | str,
        info: str | None = None,
        *,
        blocking: bool = True,
        vendor_error_code: str | None = None,
    ) -> None:
        connector = self._connector(connector_id)
        connector.fault = Fault(ChargePointErrorCode(error_code), info, vendor_error_code, blocking)
        self._refresh(connector)

    def clear_fault(self, connector_id: int) -> None:
        self.set_fault(connector_id, ChargePointErrorCode.no_error)

    def set_reading(
        self, connector_id: int, measurand: str, value: float | None, phase: str | None = None
    ) -> None:
        """A meter reading in the measurand's canonical unit; None = unavailable right now."""
        self.readings[self._connector(connector_id).connector_id].set(measurand, value, phase)

    def set_available_measurands(self, measurands: frozenset[str]) -> None:
        """Measurands the charger can supply besides ``settings.measurands`` (HA mapping)."""
        self._extra_measurands = measurands

    def supported_measurands(self) -> frozenset[str]:
        return self.settings.measurands | self._extra_measurands | ENGINE_MEASURANDS

    # -- status -----------------------------------------------------------------------------

    def _refresh(self, connector: Connector) -> None:
        self._queue_status(connector)
        self._update_outputs(connector)

    def _queue_status(self, connector: Connector, *, force: bool = False) -> None:
        status = connector.status()
        error = connector.error_code
        if not force and (status, error) == (connector.last_sent_status, connector.last_sent_error):
            return
        connector.last_sent_status, connector.last_sent_error = status, error
        self._emit("status", connector_id=connector.connector_id, status=status, error_code=error)
        if self._accepted.is_set():
            self._status_queue.append((connector.connector_id, status, error, connector.fault.info))
            self._status_ready.set()

    async def _status_sender(self) -> None:
        while True:
            await self._status_ready.wait()
            self._status_ready.clear()
            while self._status_queue:
                connector_id, status, error, info = self._status_queue.pop(0)
                await self._send_status(connector_id, status, error, info)

    async def _send_status(
        self, connector_id: int, status: str, error: str, info: str | None
    ) -> None:
        payload: dict[str, Any] = {
            "connectorId": connector_id,
            "errorCode": error,
            "status": status,
            "timestamp": self.now_stamp(),
        }
        if info:
            payload["info"] = info[:50]
        vendor_code = self.connectors[connector_id].fault.vendor_error_code
        if vendor_code:
            payload["vendorErrorCode"] = vendor_code[:50]
        try:
            await self.call_action("StatusNotification", payload)
        except (TimeoutError, OcppCallError, NotConnectedError) as err:
            _LOGGER.info("StatusNotification failed: %s", err)

    # -- outputs ----------------------------------------------------------------------------

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.time(), UTC)

    def _profile_limits(self) -> ProfileLimits:
        return ProfileLimits(
            max_stack_level=self.config.get_int("ChargeProfileMaxStackLevel"),
            max_periods=self.config.get_int("ChargingScheduleMaxPeriods"),
            max_installed=self.config.get_int("MaxChargingProfilesInstalled"),
            allowed_units=tuple(self.config.get_list("ChargingScheduleAllowedChargingRateUnit")),
        )

    def _hardware_max(self, connector: Connector) -> float:
        if connector.hardware_max_amps is not None:
            return connector.hardware_max_amps
        return self.settings.hardware_max_current

    @staticmethod
    def _tx_context(connector: Connector) -> TransactionContext | None:
        tx = connector.transaction
        if tx is None:
            return None
        started = datetime.fromisoformat(tx.started_at)
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        return TransactionContext(transaction_id=tx.transaction_id, started_at=started)

    def limit_in_force(self, connector_id: int) -> LimitInForce:
        """min(ChargePointMax, TxProfile or TxDefault, local limit, hardware max) right now."""
        now = self._now()
        cached = self._limit_cache.get(connector_id)
        if cached is not None and cached[0] == self._limit_version:
            limit = cached[1]
            if limit.next_change is None or now < limit.next_change:
                return limit
        connector = self._connector(connector_id)
        limit = self.profiles.limit_at(
            connector_id,
            now,
            transaction=self._tx_context(connector),
            hardware_max_amps=self._hardware_max(connector),
        )
        self._limit_cache[connector_id] = (self._limit_version, limit)
        return limit

    def limit_schedule(self, connector_id: int, duration: int) -> list[LimitSegment]:
        """The limits in force from now on for ``duration`` seconds, segment by segment."""
        connector = self._connector(connector_id)
        return self.profiles.schedule(
            connector_id,
            self._now().replace(microsecond=0),
            duration,
            transaction=self._tx_context(connector),
            hardware_max_amps=self._hardware_max(connector),
        )

    def allowed_amps(self, connector: Connector) -> float:
        """The limit in force, whether or not a transaction may draw it now."""
        return max(0.0, self.limit_in_force(connector.connector_id).amps)

    def limit_amps(self, connector: Connector) -> float:
        """The current the connector may draw now (0 while paused or not authorised)."""
        if not self._may_charge(connector):
            return 0.0
        return self.allowed_amps(connector)

    def set_hardware_max(self, connector_id: int, amps: float | None) -> None:
        """The most this connector's hardware can deliver now; None = the settings' value."""
        connector = self._connector(connector_id)
        if amps is not None and not (math.isfinite(amps) and amps >= 0):
            amps = None  # a broken reading is no reason to lift or break the limit
        if connector.hardware_max_amps != amps:
            connector.hardware_max_amps = amps
            self._limits_changed()

    def set_hardware_min(self, connector_id: int, amps: float | None) -> None:
        """The least current the hardware can offer; a lower limit pauses rather than being
        rounded up (a 4 A limit must never become 6 A)."""
        connector = self._connector(connector_id)
        if amps is not None and not (math.isfinite(amps) and amps >= 0):
            amps = None
        if connector.hardware_min_amps != amps:
            connector.hardware_min_amps = amps
            self._limits_changed()

    def _local_targets(self, connector_id: int) -> list[int]:
        if connector_id == 0:
            return [c for c in self.connectors if c > 0]
        return [self._connector(connector_id).connector_id]

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
        now = self._now()
        periods: list[LocalPeriod] = []
        if amps is not None or watts is not None:
            periods.append(LocalPeriod(start=now, amps=amps, watts=watts))
            if duration:
                periods.append(LocalPeriod(start=now + timedelta(seconds=duration)))
        self.set_local_schedule(connector_id, periods)

    def set_local_schedule(self, connector_id: int, periods: list[LocalPeriod]) -> None:
        """A local schedule (an optimiser's plan): each period's limit holds until the next."""
        for cid in self._local_targets(connector_id):
            self.profiles.set_local(cid, periods)
        self._profiles_changed()

    def clear_local_limit(self, connector_id: int) -> None:
        self.set_local_schedule(connector_id, [])

    def recheck_limits(self) -> None:
        """Evaluate the limits again now (the wall clock jumped, e.g. after NTP sync)."""
        self._limits_changed()

    def _profiles_changed(self) -> None:
        """Persist the profile store, then apply what is now in force."""
        self._save_profiles_soon()
        self._limits_changed()

    def _save_profiles_soon(self) -> None:
        self._persist_soon(self._save_document(DOCUMENT_PROFILES, self.profiles.to_dict()))

    def _limits_changed(self) -> None:
        self._limit_version += 1
        self._apply_limits()
        self._limit_wakeup.set()

    def _apply_limits(self) -> None:
        """Re-evaluate every connector: pause at 0, resume above it, tell the hardware."""
        for connector in self.connectors.values():
            if connector.connector_id == 0:
                continue
            limit = self.limit_in_force(connector.connector_id)
            connector.paused = limit.amps <= 0 or limit.amps < (connector.hardware_min_amps or 0)
            previous = self._announced_limits.get(connector.connector_id)
            announced = (limit.amps, limit.source)
            if previous != announced:
                self._announced_limits[connector.connector_id] = announced
                self._emit(
                    "limit",
                    connector_id=connector.connector_id,
                    amps=limit.amps,
                    source=limit.source.kind,
                    profile_id=limit.source.profile_id,
                    next_change=limit.next_change.isoformat() if limit.next_change else None,
                )
            self._refresh(connector)

    async def _limit_loop(self) -> None:
        """Wake at each period boundary (or validity edge) and apply the new limit."""
        while True:
            self._limit_wakeup.clear()
            now = self._now()
            if self.profiles.prune(now):
                self._save_profiles_soon()
                self._limit_version += 1
            self._apply_limits()
            changes = [
                limit.next_change
                for cid in self.connectors
                if cid > 0 and (limit := self.limit_in_force(cid)).next_change is not None
            ]
            delay = LIMIT_RECHECK_SECONDS
            if changes:
                until = (min(changes) - self._now()).total_seconds()
                delay = min(delay, max(0.0, until) + 0.001)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._limit_wakeup.wait(), delay)

    def _may_charge(self, connector: Connector) -> bool:
        tx = connector.transaction
        return (
            tx is not None
            and not tx.deauthorized
            and not connector.paused
            and connector.plugged
            and connector.status() != ChargePointStatus.faulted
        )

    def offered(self, connector: Connector) -> dict[str, float]:
        """Current/Power.Offered: what the charger reports offering if it does, else the limit."""
        amps = self.limit_amps(connector)
        reported = self.readings[connector.connector_id].get(Measurand.current_offered)
        if reported is not None:
            amps = reported if self._may_charge(connector) else 0.0
        tx = connector.transaction
        frozen = tx.offered_amps if tx is not None else None
        if self.settings.freeze_current_offered and frozen is not None:
            amps = frozen
        return {
            Measurand.current_offered: amps,
            Measurand.power_offered: amps * self.settings.nominal_voltage * self.settings.phases,
        }

    def _update_outputs(self, connector: Connector) -> None:
        if connector.connector_id == 0:
            return
        permitted = self._may_charge(connector)
        limit = ChargingLimit(amps=self.limit_amps(connector) if permitted else None)
        cid = connector.connector_id
        if self._permitted.get(cid) != permitted:
            self._permitted[cid] = permitted
            self._spawn(self.hardware.set_charging_permitted(cid, permitted), "permit")
        if permitted and self._last_limit.get(cid) != limit:
            self._last_limit[cid] = limit
            self._spawn(self.hardware.set_charging_limit(cid, limit), "limit")

    def reassert_outputs(self, connector_id: int) -> None:
        """Send the permission and limit in force again (the hardware drifted from them)."""
        self._permitted.pop(connector_id, None)
        self._last_limit.pop(connector_id, None)
        self._update_outputs(self._connector(connector_id))

    async def _unlock_quietly(self, connector_id: int) -> None:
        try:
            await self.hardware.unlock_connector(connector_id)
        except Exception:
            _LOGGER.exception("Unlocking connector %s failed", connector_id)

    # -- authorization ----------------------------------------------------------------------

    def _known_status(self, id_tag: str) -> str | None:
        """What the local list (first) or the cache say of an idTag, if anything."""
        if self.config.get_bool("LocalAuthListEnabled"):
            listed = self.local_list.lookup(id_tag)
            if listed is not None:
                return effective_status(listed)
        if self.config.get_bool("AuthorizationCacheEnabled"):
            cached = self.auth_cache.lookup(id_tag)
            if cached is not None:
                return effective_status(cached)
        return None

    async def authorize(self, id_tag: str) -> bool:
        """Local list / cache (LocalPreAuthorize), Authorize.req online, offline rules otherwise."""
        known = self._known_status(id_tag)
        if known == ACCEPTED and self.config.get_bool("LocalPreAuthorize"):
            if self._accepted.is_set():
                self._spawn(self._refresh_authorization(id_tag), "refresh authorization")
            return True
        if self._accepted.is_set():
            try:
                result = await self.call_action("Authorize", {"idTag": id_tag})
            except (TimeoutError, NotConnectedError):
                pass
            except OcppCallError:
                return False
            else:
                info = result["idTagInfo"]
                self._remember_authorization(id_tag, info)
                return effective_status(info) == ACCEPTED
        if known is not None:  # offline, and the tag is known
            return known == ACCEPTED and self.config.get_bool("LocalAuthorizeOffline")
        return self.config.get_bool("AllowOfflineTxForUnknownId")

    async def _refresh_authorization(self, id_tag: str) -> None:
        with contextlib.suppress(TimeoutError, NotConnectedError, OcppCallError):
            result = await self.call_action("Authorize", {"idTag": id_tag})
            self._remember_authorization(id_tag, result["idTagInfo"])

    def _remember_authorization(self, id_tag: str, info: dict[str, Any]) -> None:
        if self.config.get_bool("AuthorizationCacheEnabled"):
            self.auth_cache.remember(id_tag, info)
            self._persist_soon(self._save_document(DOCUMENT_AUTH_CACHE, self.auth_cache.entries))

    def _persist_soon(self, coro: Coroutine[Any, Any, None]) -> None:
        """Start a write now; stop() waits for it instead of cancelling it. Writes start in
        order and the store has one worker, so they land in order."""
        task = asyncio.create_task(coro, name="ocpp_cp persist")
        self._persisting.add(task)
        task.add_done_callback(self._persisting.discard)

    async def _save_document(self, key: str, value: Any) -> None:
        try:
            await self.store.save_document(key, value)
        except QueueStorageError as err:
            self._storage_failed(err)

    async def swipe(self, id_tag: str) -> str:
        """An RFID card at the reader: stop the session it started, or start one."""
        for connector in self.connectors.values():
            tx = connector.transaction
            if tx is not None and tx.id_tag == id_tag:
                self._end_transaction(connector, Reason.local)
                return "stopped"
        target = self._pick_connector(None)
        if target is None:
            return "no_connector"
        if not await self.authorize(id_tag):
            return "rejected"
        return await self._start_or_wait(target, id_tag)

    async def start_transaction(self, connector_id: int, id_tag: str) -> str:
        """A local start (HA service, button): authorise, then start or wait for the plug."""
        connector = self._connector(connector_id)
        if not connector.may_start():
            return "busy"
        if not await self.authorize(id_tag):
            return "rejected"
        return await self._start_or_wait(connector, id_tag)

    def stop_transaction(self, connector_id: int, reason: Reason | str = Reason.local) -> bool:
        connector = self._connector(connector_id)
        if connector.transaction is None:
            return False
        self._end_transaction(connector, Reason(reason))
        return True

    def _pick_connector(self, connector_id: int | None) -> Connector | None:
        if connector_id is not None:
            connector = self.connectors.get(connector_id)
            if connector is None or not connector.may_start() or connector_id == 0:
                return None
            return connector
        free = [c for c in self.connectors.values() if c.may_start() and c.pending_id_tag is None]
        plugged = [c for c in free if c.plugged]
        candidates = plugged or free
        return candidates[0] if candidates else None

    async def _start_or_wait(self, connector: Connector, id_tag: str) -> str:
        if connector.plugged:
            await self._begin_transaction(connector, id_tag)
            return "started"
        connector.pending_id_tag = id_tag
        connector.pending_since = time.monotonic()
        self._refresh(connector)
        self._spawn(self._expire_pending(connector, connector.pending_since), "connection timeout")
        return "waiting_for_plug"

    async def _expire_pending(self, connector: Connector, since: float) -> None:
        await asyncio.sleep(self.config.get_int("ConnectionTimeOut"))
        if connector.pending_id_tag is not None and connector.pending_since == since:
            connector.pending_id_tag = None
            self._refresh(connector)

    # -- transactions -----------------------------------------------------------------------

    async def _begin_transaction(self, connector: Connector, id_tag: str) -> None:
        if connector.transaction is not None:
            return
        energy = self.readings[connector.connector_id].energy_wh()
        tx = Transaction(
            connector_id=connector.connector_id,
            id_tag=id_tag,
            meter_start=round(energy) if energy is not None else 0,
            started_at=self.now_stamp(),
        )
        connector.transaction = tx
        connector.pending_id_tag = None
        connector.finishing = False
        profile = self._pending_profiles.pop(connector.connector_id, None)
        if profile is not None:
            try:
                self.profiles.install(profile, self._tx_context(connector))
                self._save_profiles_soon()
            except ProfileError as err:
                _LOGGER.warning("The RemoteStartTransaction charging profile was refused: %s", err)
        self._limits_changed()  # Relative profiles and TxProfiles start with the transaction
        tx.offered_amps = self.allowed_amps(connector)
        tx.last_energy, tx.last_seen = energy, tx.started_at
        try:
            tx.local_id = await self.store.begin_transaction(connector.connector_id, tx.to_dict())
        except QueueStorageError as err:
            self._storage_failed(err)
        self._queue_transaction_message(
            "StartTransaction",
            {
                "connectorId": connector.connector_id,
                "idTag": id_tag,
                "meterStart": tx.meter_start,
                "timestamp": tx.started_at,
            },
            tx,
        )
        self._emit(
            "transaction", connector_id=connector.connector_id, change="started", id_tag=id_tag
        )
        self._refresh(connector)
        self._start_sampler(connector)

    def _end_transaction(
        self,
        connector: Connector,
        reason: Reason,
        *,
        stamp: str | None = None,
        energy: float | None = None,
    ) -> None:
        """End it now; ``stamp``/``energy`` override for one that ended while we were down."""
        tx = connector.transaction
        if tx is None:
            return
        connector.transaction = None
        connector.finishing = connector.plugged
        if self.profiles.end_transaction(connector.connector_id):
            self._save_profiles_soon()
        self._limit_version += 1
        self._limit_wakeup.set()
        sampler = self._samplers.pop(connector.connector_id, None)
        if sampler is not None:
            sampler.cancel()
        if energy is None:
            energy = self.readings[connector.connector_id].energy_wh()
        meter_stop = max(tx.meter_start, round(energy)) if energy is not None else tx.meter_start
        stamp = stamp or self.now_stamp()
        payload: dict[str, Any] = {
            "meterStop": meter_stop,
            "timestamp": stamp,
            "reason": reason,
            "idTag": tx.id_tag,
        }
        end_values = self._stop_txn_values(connector, ReadingContext.transaction_end)
        data = list(tx.transaction_data)
        if end_values:
            data.append({"timestamp": stamp, "sampledValue": end_values})
        if data:
            payload["transactionData"] = data
        self._queue_transaction_message("StopTransaction", payload, tx)
        self._emit(
            "transaction",
            connector_id=connector.connector_id,
            change="stopped",
            reason=str(reason),
            meter_stop=meter_stop,
            transaction_id=tx.transaction_id,
        )
        if connector.scheduled_operative is not None:
            connector.operative = connector.scheduled_operative
            connector.scheduled_operative = None
            self._persist_soon(self._save_availability())
        self._refresh(connector)
        self._persist_soon(self._persist_transaction(tx, ended=True))

    def _stop_txn_values(self, connector: Connector, context: str) -> list[dict[str, Any]]:
        measurands = self.config.get_list("StopTxnSampledData")
        if not measurands:
            return []
        return sampled_values(
            self.readings[connector.connector_id], measurands, context, self.offered(connector)
        )

    async def _open_store(self) -> None:
        try:
            await self.store.open()
        except QueueStorageError as err:
            # Keep running on a memory queue; the HA layer raises a repair issue.
            self._storage_failed(err)
            await self.store.close()
            self.store = MessageStore(":memory:")
            await self.store.open()
        self.local_list = LocalList.from_dict(await self.store.load_document(DOCUMENT_LOCAL_LIST))
        profiles = await self.store.load_document(DOCUMENT_PROFILES)
        if isinstance(profiles, dict):
            try:
                self.profiles.load(profiles)
            except (KeyError, TypeError, ValueError) as err:
                _LOGGER.warning("Stored charging profiles unreadable, starting without: %s", err)
        cache = await self.store.load_document(DOCUMENT_AUTH_CACHE)
        self.auth_cache = AuthorizationCache(dict(cache) if isinstance(cache, dict) else {})
        previous = await self.store.load_document(DOCUMENT_SHUTDOWN)
        self._previous_shutdown = previous if isinstance(previous, dict) else {}
        await self.store.save_document(DOCUMENT_SHUTDOWN, {"clean": False})

    def _storage_failed(self, err: QueueStorageError) -> None:
        self.storage_error = str(err)
        _LOGGER.error("Transaction queue unavailable: %s", err)
        self._emit("storage_error", message=str(err))

    async def _restore_from_store(self) -> None:
        """Open transactions and undelivered messages from before the restart."""
        by_local: dict[int, Transaction] = {}
        for stored in await self.store.transactions():
            tx = Transaction.from_dict(stored.document)
            tx.local_id = stored.local_id
            tx.transaction_id = stored.transaction_id
            by_local[stored.local_id] = tx
            connector = self.connectors.get(tx.connector_id)
            if not stored.ended and connector is not None and connector.connector_id > 0:
                tx.restored = True
                connector.transaction = tx
                self._start_sampler(connector)
        for message in await self.store.messages():
            queued = QueuedMessage(
                message.action,
                {},
                by_local.get(message.tx_local_id) if message.tx_local_id else None,
                unique_id=message.unique_id,
                seq=message.seq,
                attempts=message.attempts,
                payload_text=message.payload_text,
            )
            queued.stored.set()
            self._tx_queue.append(queued)
        if self._tx_queue:
            self._tx_idle.clear()
            self._tx_ready.set()
        # TxProfiles of transactions that ended while we were down go with them.
        removed = False
        for connector in self.connectors.values():
            if connector.connector_id > 0 and connector.transaction is None:
                removed = self.profiles.end_transaction(connector.connector_id) or removed
        if removed:
            self._save_profiles_soon()

    def _resolve_restored(self, connector: Connector, plugged: bool) -> None:
        """First word from the hardware after a restart: the car is still there, or it left."""
        tx = connector.transaction
        if tx is None or not tx.restored:
            return
        tx.restored = False
        if plugged:
            self._emit("transaction", connector_id=connector.connector_id, change="resumed")
            return
        clean = bool(self._previous_shutdown.get("clean"))
        at = self._previous_shutdown.get("at")
        stamp = iso(float(at)) if clean and isinstance(at, int | float) else tx.last_seen
        energy = self.readings[connector.connector_id].energy_wh()
        self._end_transaction(
            connector,
            Reason.reboot if clean else Reason.power_loss,
            stamp=stamp,
            energy=energy if energy is not None else tx.last_energy,
        )

    async def _persist_transaction(self, tx: Transaction, *, ended: bool = False) -> None:
        if not tx.local_id:
            return
        try:
            await self.store.update_transaction(
                tx.local_id, tx.to_dict(), transaction_id=tx.transaction_id, ended=ended
            )
            if ended:
                await self.store.prune_transactions()
        except QueueStorageError as err:
            self._storage_failed(err)

    async def _save_availability(self) -> None:
        document = {str(c.connector_id): c.operative for c in self.connectors.values()}
        await self.storage.async_save(STORAGE_AVAILABILITY, document)

    def _queue_transaction_message(
        self, action: str, payload: dict[str, Any], tx: Transaction | None
    ) -> None:
        if len(self._tx_queue) >= self.settings.queue_limit:
            self._thin_queue()
        message = QueuedMessage(action, payload, tx)
        self._tx_queue.append(message)
        self._tx_idle.clear()
        self._tx_ready.set()
        # Persisting tasks start in order and the store has one worker: order is kept.
        self._persist_soon(self._persist_message(message))

    async def _persist_message(self, message: QueuedMessage) -> None:
        tx = message.transaction
        try:
            message.seq = await self.store.append(
                message.unique_id, message.action, message.payload, tx.local_id if tx else None
            )
            if message.dropped:
                await self.store.remove(message.seq)
        except QueueStorageError as err:
            self._storage_failed(err)  # sent anyway: better than not at all
        message.stored.set()

    def _thin_queue(self) -> None:
        """Full: drop every second intermediate MeterValues; never a Start or Stop."""
        meter_values = [m for m in self._tx_queue[1:] if m.action == "MeterValues"]
        doomed = meter_values[::2]
        for message in doomed:
            message.dropped = True
            self._tx_queue.remove(message)
            if message.seq is not None:
                self._spawn(self._remove_stored(message.seq), "thin queue")
        self.messages_thinned += len(doomed)
        _LOGGER.warning("Transaction queue full: dropped %s intermediate MeterValues", len(doomed))
        self._emit("queue_thinned", dropped=len(doomed), total=self.messages_thinned)

    async def _remove_stored(self, seq: int) -> None:
        with contextlib.suppress(QueueStorageError):
            await self.store.remove(seq)

    async def _transaction_sender(self) -> None:
        """Deliver transaction messages in order, retrying per TransactionMessage* keys."""
        while True:
            if not self._tx_queue:
                self._tx_idle.set()
                self._tx_ready.clear()
                await self._tx_ready.wait()
                continue
            message = self._tx_queue[0]
            await message.stored.wait()  # durable before it leaves
            payload = message.current_payload()
            if message.action != "StartTransaction" and message.transaction is not None:
                if message.transaction.transaction_id is None:
                    # Its StartTransaction was given up on: the CSMS cannot place it.
                    _LOGGER.warning("Dropping %s of a transaction without id", message.action)
                    self._finish_message(message, delivered=False)
                    continue
                payload["transactionId"] = message.transaction.transaction_id
            try:
                result = await self.call_action(
                    message.action, payload, unique_id=message.unique_id
                )
            except NotConnectedError:
                return
            except (TimeoutError, OcppCallError) as err:
                message.attempts += 1
                if message.seq is not None:
                    self._spawn(self._count_attempt(message.seq), "count attempt")
                attempts = max(1, self.config.get_int("TransactionMessageAttempts"))
                if message.attempts >= attempts:
                    _LOGGER.error(  # noqa: TRY400 - an expected outcome, not a crash
                        "Giving up %s after %s attempts: %s", message.action, attempts, err
                    )
                    self._finish_message(message, delivered=False)
                    continue
                interval = self.config.get_int("TransactionMessageRetryInterval")
                await asyncio.sleep(interval * message.attempts)
                continue
            tx = message.transaction
            if message.action == "StartTransaction" and tx is not None:
                # Durable before anything else happens: a crash now must not resend it.
                tx.transaction_id = int(result["transactionId"])
                self._tx_queue.pop(0)
                await self._confirm_start(message, tx)
                await self._on_start_confirmed(tx, result)
            elif message.action == "StopTransaction":
                self._tx_queue.pop(0)
                if message.seq is not None:
                    await self._remove_stored(message.seq)
            else:
                self._finish_message(message, delivered=True)

    def _finish_message(self, message: QueuedMessage, *, delivered: bool) -> None:
        self._tx_queue.pop(0)
        if message.seq is None:
            return
        if delivered:
            self.store.acknowledge(message.seq)
        else:
            self._spawn(self._remove_stored(message.seq), "drop message")

    async def _confirm_start(self, message: QueuedMessage, tx: Transaction) -> None:
        if message.seq is None or not tx.local_id:
            return
        try:
            await self.store.confirm_start(
                message.seq, tx.local_id, int(tx.transaction_id or 0), tx.to_dict()
            )
        except QueueStorageError as err:
            self._storage_failed(err)

    async def _count_attempt(self, seq: int) -> None:
        with contextlib.suppress(QueueStorageError):
            await self.store.count_attempt(seq)

    async def _on_start_confirmed(self, tx: Transaction, result: dict[str, Any]) -> None:
        self._limit_version += 1  # a TxProfile may name this transaction id
        status = effective_status(result["idTagInfo"])
        self._remember_authorization(tx.id_tag, result["idTagInfo"])
        self._emit(
            "transaction",
            connector_id=tx.connector_id,
            change="confirmed",
            transaction_id=tx.transaction_id,
            id_tag_status=status,
        )
        connector = self.connectors[tx.connector_id]
        if status != ACCEPTED and connector.transaction is tx:
            if self.config.get_bool("StopTransactionOnInvalidId"):
                self._end_transaction(connector, Reason.de_authorized)
                return
            tx.deauthorized = True
            self._refresh(connector)
        await self._persist_transaction(tx)

    # -- meter values -----------------------------------------------------------------------

    def _start_sampler(self, connector: Connector) -> None:
        old = self._samplers.pop(connector.connector_id, None)
        if old is not None:
            old.cancel()
        self._samplers[connector.connector_id] = asyncio.create_task(
            self._sample_loop(connector), name=f"ocpp_cp sampler {connector.connector_id}"
        )

    async def _sample_loop(self, connector: Connector) -> None:
        clock = self.clock
        next_at = clock.monotonic()
        while connector.transaction is not None:
            interval = self.config.get_int("MeterValueSampleInterval")
            if interval <= 0:
                await asyncio.sleep(1)
                next_at = clock.monotonic()
                continue
            next_at += interval
            await clock.sleep(max(0.0, next_at - clock.monotonic()))
            tx = connector.transaction
            if tx is None:
                return
            stamp = self.now_stamp()
            values = sampled_values(
                self.readings[connector.connector_id],
                self.config.get_list("MeterValuesSampledData"),
                ReadingContext.sample_periodic,
                self.offered(connector),
            )
            if values:
                self._queue_transaction_message(
                    "MeterValues",
                    {
                        "connectorId": connector.connector_id,
                        "meterValue": [{"timestamp": stamp, "sampledValue": values}],
                    },
                    tx,
                )
            stop_values = self._stop_txn_values(connector, ReadingContext.sample_periodic)
            if stop_values:
                tx.transaction_data.append({"timestamp": stamp, "sampledValue": stop_values})
            energy = self.readings[connector.connector_id].energy_wh()
            if energy is not None:
                tx.last_energy = energy
            tx.last_seen = stamp
            self._persist_soon(self._persist_transaction(tx))

    def seconds_to_next_aligned(self, now: float, interval: int) -> float:
        """Seconds until the next boundary of ``interval`` counted from local midnight."""
        local = datetime.fromtimestamp(now).astimezone()
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        elapsed = (local - midnight).total_seconds()
        next_boundary = midnight + timedelta(seconds=math.floor(elapsed / interval + 1) * interval)
        return max(0.0, next_boundary.timestamp() - now)

    async def _clock_aligned_loop(self) -> None:
        await self._every(
            "ClockAlignedDataInterval",
            self._aligned_changed,
            self._send_clock_aligned,
            lambda interval: self.seconds_to_next_aligned(time.time(), interval),
        )

    async def _send_clock_aligned(self) -> None:
        measurands = self.config.get_list("MeterValuesAlignedData")
        stop_measurands = self.config.get_list("StopTxnAlignedData")
        stamp = self.now_stamp()
        for connector in self.connectors.values():
            readings = self.readings[connector.connector_id]
            offered = self.offered(connector)
            tx = connector.transaction
            if tx is not None and stop_measurands:
                stop_values = sampled_values(
                    readings, stop_measurands, ReadingContext.sample_clock, offered
                )
                if stop_values:
                    tx.transaction_data.append({"timestamp": stamp, "sampledValue": stop_values})
            values = sampled_values(readings, measurands, ReadingContext.sample_clock, offered)
            if not values:
                continue
            payload = {
                "connectorId": connector.connector_id,
                "meterValue": [{"timestamp": stamp, "sampledValue": values}],
            }
            if tx is not None:
                self._queue_transaction_message("MeterValues", payload, tx)
            else:
                with contextlib.suppress(TimeoutError, OcppCallError, NotConnectedError):
                    await self.call_action("MeterValues", payload)

    async def send_meter_values(
        self, connector_id: int, context: str = ReadingContext.trigger
    ) -> bool:
        """Send MeterValuesSampledData for a connector now and wait for the answer."""
        connector = self._connector(connector_id)
        values = sampled_values(
            self.readings[connector_id],
            self.config.get_list("MeterValuesSampledData"),
            context,
            self.offered(connector),
        )
        if not values:
            return False
        payload: dict[str, Any] = {
            "connectorId": connector_id,
            "meterValue": [{"timestamp": self.now_stamp(), "sampledValue": values}],
        }
        tx = connector.transaction
        if tx is not None and tx.transaction_id is not None:
            payload["transactionId"] = tx.transaction_id
        try:
            await self.call_action("MeterValues", payload)
        except (TimeoutError, OcppCallError, NotConnectedError) as err:
            _LOGGER.info("MeterValues failed: %s", err)
            return False
        return True

    async def data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {"vendorId": vendor_id}
        if message_id is not None:
            payload["messageId"] = message_id
        if data is not None:
            payload["data"] = data
        return await self.call_action("DataTransfer", payload)

    # -- configuration ----------------------------------------------------------------------

    def _on_config_changed(self, key: str, value: str) -> None:
        if key == "HeartbeatInterval":
            self._heartbeat_changed.set()
        elif key == "WebSocketPingInterval":
            self._ping_changed.set()
        elif key == "ClockAlignedDataInterval":
            self._aligned_changed.set()
        elif key == "MeterValueSampleInterval":
            for connector in self.connectors.values():
                if connector.transaction is not None:
                    self._start_sampler(connector)
        self._emit("configuration", key=key, value="***" if key == "AuthorizationKey" else value)

    # -- handlers for CSMS calls ------------------------------------------------------------

    @on(Action.get_configuration)
    async def _on_get_configuration(self, payload: dict[str, Any]) -> dict[str, Any]:
        known, unknown = self.config.read(payload.get("key"))
        answer: dict[str, Any] = {"configurationKey": known}
        if unknown:
            answer["unknownKey"] = unknown
        return answer

    @on(Action.change_configuration)
    async def _on_change_configuration(self, payload: dict[str, Any]) -> Reply:
        key, value = payload["key"], payload["value"]
        pinned = {
            "HeartbeatInterval": self.settings.pinned_heartbeat_interval,
            "MeterValueSampleInterval": self.settings.pinned_meter_interval,
        }
        if pinned.get(key) is not None:
            return Reply({"status": ChangeOutcome.REJECTED})
        if key == "SecurityProfile" and not self._security_profile_allowed(value):
            return Reply({"status": ChangeOutcome.REJECTED})
        outcome, why = self.config.change(key, value)
        if why:
            _LOGGER.info("ChangeConfiguration %s=%s: %s (%s)", key, value, outcome, why)
        if outcome != ChangeOutcome.ACCEPTED:
            return Reply({"status": outcome})
        then: Callable[[], Coroutine[Any, Any, None]] = self._save_configuration
        if key in ("AuthorizationKey", "SecurityProfile"):
            then = self._save_and_reconnect
        return Reply({"status": outcome}, then)

    def _security_profile_allowed(self, value: str) -> bool:
        try:
            wanted = int(value)
        except ValueError:
            return False
        if wanted < self.config.get_int("SecurityProfile") or not 0 <= wanted <= 3:
            return False
        try:
            dataclasses.replace(self.effective_settings, security_profile=SecurityProfile(wanted))
        except ValueError:
            return False
        return True

    async def _save_configuration(self) -> None:
        await self.storage.async_save(STORAGE_CONFIGURATION, self.config.persistent_values())

    async def _save_and_reconnect(self) -> None:
        await self._save_configuration()
        self._ssl_context = await asyncio.get_running_loop().run_in_executor(
            None, build_ssl_context, self.effective_settings
        )
        self._emit("security_changed", security_profile=self.config.get_int("SecurityProfile"))
        self.reconnect()

    @on(Action.remote_start_transaction)
    async def _on_remote_start(self, payload: dict[str, Any]) -> Reply:
        id_tag: str = payload["idTag"]
        profile_data = payload.get("chargingProfile")
        if profile_data is not None and profile_data.get("chargingProfilePurpose") != PURPOSE_TX:
            return Reply({"status": "Rejected"})
        connector = self._pick_connector(payload.get("connectorId"))
        if connector is None:
            return Reply({"status": "Rejected"})
        self._pending_profiles.pop(connector.connector_id, None)
        if profile_data is not None:
            try:
                profile = ChargingProfile.from_ocpp(
                    connector.connector_id, profile_data, received_at=self._now()
                )
            except ProfileError as err:
                _LOGGER.info("RemoteStartTransaction rejected: %s", err)
                return Reply({"status": "Rejected"})
            self._pending_profiles[connector.connector_id] = profile
        connector.pending_id_tag = id_tag  # reserve it until the follow-up runs
        connector.pending_since = time.monotonic()
        self._emit(
            "csms_request",
            kind="remote_start",
            connector_id=connector.connector_id,
            id_tag=id_tag,
        )

        async def start() -> None:
            since = connector.pending_since
            if self.config.get_bool("AuthorizeRemoteTxRequests") and not await self.authorize(
                id_tag
            ):
                connector.pending_id_tag = None
                self._refresh(connector)
                return
            if connector.plugged:
                await self._begin_transaction(connector, id_tag)
            else:
                self._refresh(connector)
                await self._expire_pending(connector, since)

        return Reply({"status": "Accepted"}, start)

    @on(Action.remote_stop_transaction)
    async def _on_remote_stop(self, payload: dict[str, Any]) -> Reply:
        wanted = payload["transactionId"]
        for connector in self.connectors.values():
            tx = connector.transaction
            if tx is not None and tx.transaction_id == wanted:
                self._emit(
                    "csms_request",
                    kind="remote_stop",
                    connector_id=connector.connector_id,
                    transaction_id=wanted,
                )

                async def stop(connector: Connector = connector) -> None:
                    self._end_transaction(connector, Reason.remote)

                return Reply({"status": "Accepted"}, stop)
        return Reply({"status": "Rejected"})

    @on(Action.reset)
    async def _on_reset(self, payload: dict[str, Any]) -> Reply:
        kind = ResetKind(payload["type"])
        self._emit("csms_request", kind="reset", reset_type=kind.value)

        async def reset() -> None:
            reason = Reason.hard_reset if kind == ResetKind.HARD else Reason.soft_reset
            for connector in self.connectors.values():
                self._end_transaction(connector, reason)
            await self._flush_transactions(seconds=10)
            await self.hardware.reset(kind)
            self._booted = False  # a reset is a reboot: BootNotification again
            self.reconnect()

        return Reply({"status": "Accepted"}, reset)

    async def _flush_transactions(self, seconds: float) -> None:
        """Give queued transaction messages a chance to go out before a reset."""
        if self._accepted.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._tx_idle.wait(), seconds)

    @on(Action.unlock_connector)
    async def _on_unlock(self, payload: dict[str, Any]) -> dict[str, Any]:
        connector_id = payload["connectorId"]
        connector = self.connectors.get(connector_id)
        if connector is None or connector_id == 0:
            return {"status": UnlockOutcome.NOT_SUPPORTED}
        self._emit("csms_request", kind="unlock", connector_id=connector_id)
        self._end_transaction(connector, Reason.unlock_command)
        try:
            outcome = await asyncio.wait_for(self.hardware.unlock_connector(connector_id), 10)
        except Exception:
            _LOGGER.exception("Unlock of connector %s failed", connector_id)
            outcome = UnlockOutcome.UNLOCK_FAILED
        return {"status": UnlockOutcome(outcome)}

    @on(Action.change_availability)
    async def _on_change_availability(self, payload: dict[str, Any]) -> Reply:
        connector_id = payload["connectorId"]
        if connector_id not in self.connectors:
            return Reply({"status": "Rejected"})
        operative = payload["type"] == "Operative"
        targets = (
            list(self.connectors.values()) if connector_id == 0 else [self.connectors[connector_id]]
        )
        scheduled = False
        for connector in targets:
            if connector.transaction is not None:
                connector.scheduled_operative = operative
                scheduled = True
            else:
                connector.operative = operative
                connector.scheduled_operative = None
                self._refresh(connector)
        self._persist_soon(self._save_availability())
        return Reply({"status": "Scheduled" if scheduled else "Accepted"})

    @on(Action.clear_cache)
    async def _on_clear_cache(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.auth_cache.entries.clear()
        self._persist_soon(self._save_document(DOCUMENT_AUTH_CACHE, {}))
        return {"status": "Accepted"}

    @on(Action.get_local_list_version)
    async def _on_get_local_list_version(self, payload: dict[str, Any]) -> dict[str, Any]:
        if not self.config.get_bool("LocalAuthListEnabled"):
            return {"listVersion": -1}
        return {"listVersion": self.local_list.version}

    @on(Action.send_local_list)
    async def _on_send_local_list(self, payload: dict[str, Any]) -> Reply:
        if not self.config.get_bool("LocalAuthListEnabled"):
            return Reply({"status": "NotSupported"})
        items = payload.get("localAuthorizationList") or []
        if len(items) > self.config.get_int("SendLocalListMaxLength"):
            return Reply({"status": "Failed"})
        status = self.local_list.apply(
            payload["listVersion"],
            payload["updateType"],
            items,
            self.config.get_int("LocalAuthListMaxLength"),
        )
        if status != ACCEPTED:
            return Reply({"status": status})
        document = self.local_list.to_dict()
        self._persist_soon(self._save_document(DOCUMENT_LOCAL_LIST, document))
        return Reply({"status": status})

    # -- smart charging ---------------------------------------------------------------------

    @on(Action.set_charging_profile)
    async def _on_set_charging_profile(self, payload: dict[str, Any]) -> dict[str, Any]:
        connector_id: int = payload["connectorId"]
        data: dict[str, Any] = payload["csChargingProfiles"]
        request = {
            "kind": "set_charging_profile",
            "connector_id": connector_id,
            "profile_id": data["chargingProfileId"],
            "purpose": data["chargingProfilePurpose"],
            "stack_level": data["stackLevel"],
        }
        connector = self.connectors.get(connector_id)
        try:
            profile = ChargingProfile.from_ocpp(connector_id, data, received_at=self._now())
            transaction = self._tx_context(connector) if connector is not None else None
            self.profiles.install(profile, transaction)  # refuses an unknown connector
        except ProfileError as err:
            _LOGGER.info("SetChargingProfile %s rejected: %s", data["chargingProfileId"], err)
            self._emit("csms_request", **request, accepted=False, reason=str(err))
            return {"status": "Rejected"}
        self._emit("csms_request", **request, accepted=True)
        self._profiles_changed()
        return {"status": "Accepted"}

    @on(Action.clear_charging_profile)
    async def _on_clear_charging_profile(self, payload: dict[str, Any]) -> dict[str, Any]:
        removed = self.profiles.clear(
            profile_id=payload.get("id"),
            connector_id=payload.get("connectorId"),
            purpose=payload.get("chargingProfilePurpose"),
            stack_level=payload.get("stackLevel"),
        )
        self._emit(
            "csms_request",
            kind="clear_charging_profile",
            profile_id=payload.get("id"),
            connector_id=payload.get("connectorId"),
            purpose=payload.get("chargingProfilePurpose"),
            stack_level=payload.get("stackLevel"),
            removed=removed,
        )
        if not removed:
            return {"status": "Unknown"}
        self._profiles_changed()
        return {"status": "Accepted"}

    @on(Action.get_composite_schedule)
    async def _on_get_composite_schedule(self, payload: dict[str, Any]) -> dict[str, Any]:
        connector = self.connectors.get(payload["connectorId"])
        if connector is None:
            return {"status": "Rejected"}
        start = self._now().replace(microsecond=0)
        schedule = self.profiles.composite(
            connector.connector_id,
            start,
            payload["duration"],
            payload.get("chargingRateUnit"),
            transaction=self._tx_context(connector),
            hardware_max_amps=self._hardware_max(connector),
        )
        return {
            "status": "Accepted",
            "connectorId": connector.connector_id,
            "scheduleStart": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "chargingSchedule": schedule,
        }

    def composite_schedule(
        self, connector_id: int, duration: int, unit: str | None = None
    ) -> dict[str, Any]:
        """What GetCompositeSchedule would answer now (for the HA service)."""
        connector = self._connector(connector_id)
        return self.profiles.composite(
            connector_id,
            self._now().replace(microsecond=0),
            duration,
            unit,
            transaction=self._tx_context(connector),
            hardware_max_amps=self._hardware_max(connector),
        )

    @on(Action.data_transfer)
    async def _on_data_transfer(self, payload: dict[str, Any]) -> dict[str, Any]:
        self._emit("csms_request", kind="data_transfer", **payload)
        reply = await self.hardware.data_transfer(
            payload["vendorId"], payload.get("messageId"), payload.get("data")
        )
        answer: dict[str, Any] = {"status": reply.status}
        if reply.data is not None:
            answer["data"] = reply.data
        return answer

    @on(Action.trigger_message)
    async def _on_trigger_message(self, payload: dict[str, Any]) -> Reply:
        requested = payload["requestedMessage"]
        connector_id = payload.get("connectorId")
        if connector_id is not None and connector_id not in self.connectors:
            return Reply({"status": "Rejected"})
        self._emit(
            "csms_request", kind="trigger_message", message=requested, connector_id=connector_id
        )
        followup: Callable[[], Coroutine[Any, Any, None]]
        if requested == MessageTrigger.boot_notification:
            followup = self._triggered_boot
        elif requested == MessageTrigger.heartbeat:
            followup = self._send_heartbeat
        elif requested == MessageTrigger.status_notification:

            async def followup() -> None:
                ids = [connector_id] if connector_id is not None else list(self.connectors)
                for cid in ids:
                    connector = self.connectors[cid]
                    await self._send_status(
                        cid, connector.status(), connector.error_code, connector.fault.info
                    )

        elif requested == MessageTrigger.meter_values:

            async def followup() -> None:
                ids = [connector_id] if connector_id else list(self.connectors)[1:]
                for cid in ids:
                    await self.send_meter_values(cid, ReadingContext.trigger)

        elif requested == MessageTrigger.diagnostics_status_notification:

            async def followup() -> None:
                with contextlib.suppress(TimeoutError, OcppCallError, NotConnectedError):
                    await self.call_action("DiagnosticsStatusNotification", {"status": "Idle"})

        elif requested == MessageTrigger.firmware_status_notification:

            async def followup() -> None:
                with contextlib.suppress(TimeoutError, OcppCallError, NotConnectedError):
                    await self.call_action("FirmwareStatusNotification", {"status": "Idle"})

        else:
            return Reply({"status": "NotImplemented"})
        return Reply({"status": "Accepted"}, followup)

    async def _triggered_boot(self) -> None:
        if not self._booted:
            self._wake_boot.set()
            return
        try:
            result = await self.call_action("BootNotification", self._boot_payload())
        except (TimeoutError, OcppCallError, NotConnectedError) as err:
            _LOGGER.info("Triggered BootNotification failed: %s", err)
            return
        if result["status"] == RegistrationStatus.accepted:
            self._apply_boot_interval(int(result.get("interval") or 0))
