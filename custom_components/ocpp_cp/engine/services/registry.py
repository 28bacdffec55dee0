"""The set of services one charge point is made of, as the wire's handlers see them."""

from __future__ import annotations

from dataclasses import dataclass

from .authorization import AuthorizationService
from .boot import BootService
from .certificates import CertificateService
from .configuration import ConfigurationService
from .connection import ConnectionService
from .connectors import ConnectorService
from .context import EngineContext
from .delivery import TransactionDelivery
from .diagnostics import DiagnosticsService
from .firmware import FirmwareService
from .limits import LimitService
from .logs import LogService
from .metering import MeteringService
from .remote import RemoteService
from .reservations import ReservationService
from .security_events import SecurityEventService
from .transactions import TransactionService


@dataclass(frozen=True, slots=True)
class Services:
    ctx: EngineContext
    connection: ConnectionService
    boot: BootService
    connectors: ConnectorService
    configuration: ConfigurationService
    authorization: AuthorizationService
    transactions: TransactionService
    delivery: TransactionDelivery
    metering: MeteringService
    limits: LimitService
    remote: RemoteService
    reservations: ReservationService
    certificates: CertificateService
    diagnostics: DiagnosticsService
    firmware: FirmwareService
    security: SecurityEventService
    logs: LogService
