"""Opening the WebSocket to the CSMS and saying in words why it failed."""

from __future__ import annotations

import base64
import logging
import socket
import ssl
from enum import StrEnum

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI

from .settings import EngineSettings, SecurityProfile

SUBPROTOCOL = "ocpp1.6"
# websockets refuses (and closes on) anything larger; our own frame limit is lower so that
# a merely large frame is answered with a CALLERROR instead of costing the connection.
WEBSOCKET_MAX_SIZE = 4 * 1024 * 1024


def _above_debug(record: logging.LogRecord) -> bool:
    return record.levelno > logging.DEBUG


# websockets logs the handshake's headers (the Basic Authorization header) and every frame
# (a ChangeConfiguration of the AuthorizationKey) at DEBUG: our connection gets a logger of
# its own that never passes those on, whatever the log level. The engine's own frame events,
# redacted, are the way to watch the wire.
WIRE_LOGGER = logging.getLogger(__name__ + ".websocket")
WIRE_LOGGER.addFilter(_above_debug)


class ConnectionState(StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    BOOTING = "booting"
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class ConnectErrorKind(StrEnum):
    """Why a connection attempt failed; the HA layer maps these to form errors and repairs."""

    INVALID_URL = "invalid_url"
    DNS = "dns"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    UNAUTHORIZED = "unauthorized"
    NOT_FOUND = "not_found"
    HTTP = "http"
    TLS = "tls"
    SUBPROTOCOL = "subprotocol"
    OTHER = "other"


class ConnectError(Exception):
    def __init__(self, kind: ConnectErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def build_ssl_context(settings: EngineSettings) -> ssl.SSLContext | None:
    """Blocking (reads certificate files): call it from an executor."""
    if not settings.connection_url.startswith("wss://"):
        return None
    context = ssl.create_default_context(cafile=settings.ca_file)
    if settings.security_profile == SecurityProfile.TLS_CLIENT_CERT and settings.client_cert_file:
        context.load_cert_chain(settings.client_cert_file, settings.client_key_file)
    return context


def auth_headers(settings: EngineSettings) -> dict[str, str]:
    if settings.security_profile not in (
        SecurityProfile.BASIC_AUTH,
        SecurityProfile.TLS_BASIC_AUTH,
    ):
        return {}
    credentials = f"{settings.charge_point_id}:{settings.authorization_key or ''}"
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


async def open_connection(
    settings: EngineSettings, ssl_context: ssl.SSLContext | None
) -> ClientConnection:
    """Connect with the ocpp1.6 sub-protocol, or raise ConnectError with a reason in words."""
    url = settings.connection_url
    try:
        websocket = await connect(
            url,
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            additional_headers=auth_headers(settings),
            ssl=ssl_context,
            open_timeout=settings.connect_timeout,
            ping_interval=None,  # the engine pings itself, at WebSocketPingInterval
            close_timeout=2,
            max_size=WEBSOCKET_MAX_SIZE,
            compression=None,
            user_agent_header="ocpp_cp",
            logger=WIRE_LOGGER,
        )
    except InvalidStatus as err:
        status = err.response.status_code
        if status == 401:
            raise ConnectError(
                ConnectErrorKind.UNAUTHORIZED,
                "HTTP 401: the CSMS refused the credentials (check the AuthorizationKey)",
            ) from err
        if status == 404:
            raise ConnectError(
                ConnectErrorKind.NOT_FOUND,
                f"HTTP 404: wrong path or unknown charge point id ({url})",
            ) from err
        raise ConnectError(ConnectErrorKind.HTTP, f"HTTP {status} from the CSMS") from err
    except InvalidURI as err:
        raise ConnectError(ConnectErrorKind.INVALID_URL, f"invalid CSMS URL: {err}") from err
    except ssl.SSLCertVerificationError as err:
        raise ConnectError(
            ConnectErrorKind.TLS, f"TLS certificate verification failed: {err.verify_message}"
        ) from err
    except ssl.SSLError as err:
        raise ConnectError(ConnectErrorKind.TLS, f"TLS error: {err.reason or err}") from err
    except socket.gaierror as err:
        host = url.split("/")[2]
        raise ConnectError(ConnectErrorKind.DNS, f"cannot resolve the CSMS host {host}") from err
    except ConnectionRefusedError as err:
        raise ConnectError(ConnectErrorKind.REFUSED, "connection refused by the CSMS host") from err
    except TimeoutError as err:
        raise ConnectError(ConnectErrorKind.TIMEOUT, "the CSMS did not answer in time") from err
    except InvalidHandshake as err:
        raise ConnectError(ConnectErrorKind.OTHER, f"WebSocket handshake failed: {err}") from err
    except OSError as err:
        raise ConnectError(
            ConnectErrorKind.OTHER, f"cannot connect: {err.strerror or err}"
        ) from err
    if websocket.subprotocol != SUBPROTOCOL:
        await websocket.close()
        raise ConnectError(
            ConnectErrorKind.SUBPROTOCOL, "the CSMS did not accept the ocpp1.6 sub-protocol"
        )
    return websocket
