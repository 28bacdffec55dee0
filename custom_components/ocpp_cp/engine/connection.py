"""Opening the WebSocket to the CSMS and saying in words why it failed."""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
import ssl
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

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
    def __init__(
        self, kind: ConnectErrorKind, message: str, security_event: str | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        # The whitepaper's security event this failure is (CentralSystemFailedToAuthenticate...).
        self.security_event = security_event


def build_ssl_context(
    settings: EngineSettings, extra_roots_pem: str | None = None
) -> ssl.SSLContext | None:
    """Blocking (reads certificate files): call it from an executor.

    Trusted: the CA file when one is set (else the system's CAs), plus the CentralSystemRoot
    certificates installed by the CSMS. ``tls_allow_v1_ca`` clears VERIFY_X509_STRICT (Python
    3.13 sets it), which refuses a v1 CA without basicConstraints; hostname checks stay.
    """
    if not settings.connection_url.startswith("wss://"):
        return None
    context = ssl.create_default_context(cafile=settings.ca_file)
    if extra_roots_pem:
        context.load_verify_locations(cadata=extra_roots_pem)
    if settings.tls_allow_v1_ca:
        context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    if settings.security_profile == SecurityProfile.TLS_CLIENT_CERT and settings.client_cert_file:
        context.load_cert_chain(settings.client_cert_file, settings.client_key_file)
    return context


# OpenSSL verify codes (X509_V_ERR_*) of a server certificate, said in words (62, a host
# name mismatch, names the host: see explain_verify_error).
_VERIFY_HINTS: dict[int, str] = {
    10: "the CSMS certificate has expired",
    9: "the CSMS certificate is not valid yet",
    18: "the CSMS certificate is self-signed and not trusted (set it as the CA file)",
    19: "the CSMS chain ends in a root that is not trusted (install it or set the CA file)",
    20: "the CSMS certificate is not signed by a trusted CA (install its root or set the CA file)",
    21: "the CSMS certificate is not signed by a trusted CA (install its root or set the CA file)",
    79: "a CA of the CSMS chain is not a valid CA (an X.509 v1 root needs the v1 CA option)",
    24: "a CA of the CSMS chain is not a valid CA (an X.509 v1 root needs the v1 CA option)",
}
# TLS alerts the CSMS sends when it refuses our client certificate (profile 3).
_CLIENT_CERT_ALERTS: dict[str, str] = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the CSMS requires a client certificate",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the CSMS refused the client certificate (bad certificate)",
    "TLSV1_ALERT_UNKNOWN_CA": "the CSMS does not trust the CA of the client certificate",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "the CSMS says the client certificate has expired",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "the CSMS refused the client certificate",
    "TLSV1_ALERT_ACCESS_DENIED": "the CSMS denied access to this client certificate",
    "TLSV1_ALERT_DECRYPT_ERROR": "the CSMS could not verify the client certificate's key",
}


def explain_verify_error(err: ssl.SSLCertVerificationError, host: str) -> ConnectError:
    """A refused server certificate in words, as CentralSystemFailedToAuthenticate."""
    hint = _VERIFY_HINTS.get(err.verify_code)
    if err.verify_code == 62:  # X509_V_ERR_HOSTNAME_MISMATCH
        hint = (
            f"the CSMS certificate does not name {host}: set the expected server name "
            "if the CSMS is known to use another name"
        )
    text = f"TLS certificate verification failed: {hint or err.verify_message}"
    if hint:
        text += f" ({err.verify_message})"
    return ConnectError(ConnectErrorKind.TLS, text, "CentralSystemFailedToAuthenticate")


def _ssl_cause(err: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = err
    for _ in range(6):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def probe_tls_refusal(
    url: str, context: ssl.SSLContext, server_name: str | None, timeout: float
) -> ssl.SSLError | None:
    """Blocking. Dial once more on a plain TLS socket to read the alert asyncio loses.

    With TLS 1.3 the server refuses a client certificate after the client's handshake is
    done; asyncio then reports only a closed stream ("did not receive a valid HTTP
    response"). A blocking socket reading the first byte gets the alert as an SSLError.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        with (
            socket.create_connection((host, parts.port or 443), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=server_name or host) as tls,
        ):
            # Nothing sent: unread bytes would make the server reset the connection, and the
            # reset can overtake its alert. A server content with us just sends nothing.
            tls.recv(1)
    except ssl.SSLError as err:
        return err
    except OSError:
        return None
    return None


def explain_ssl_error(err: ssl.SSLError) -> ConnectError:
    refused = _CLIENT_CERT_ALERTS.get(err.reason or "")
    if refused is not None:
        return ConnectError(
            ConnectErrorKind.TLS,
            f"TLS: {refused} ({err.reason})",
            "FailedToAuthenticateAtCentralSystem",
        )
    return ConnectError(ConnectErrorKind.TLS, f"TLS error: {err.reason or err}")


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
    extra: dict[str, Any] = {}
    if ssl_context is not None and settings.tls_server_name:
        extra["server_hostname"] = settings.tls_server_name
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
            **extra,
        )
    except InvalidStatus as err:
        status = err.response.status_code
        if status == 401:
            raise ConnectError(
                ConnectErrorKind.UNAUTHORIZED,
                "HTTP 401: the CSMS refused the credentials (check the AuthorizationKey)",
                "FailedToAuthenticateAtCentralSystem",
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
        host = settings.tls_server_name or urlsplit(url).hostname or url
        raise explain_verify_error(err, host) from err
    except ssl.SSLError as err:
        raise explain_ssl_error(err) from err
    except socket.gaierror as err:
        host = url.split("/")[2]
        raise ConnectError(ConnectErrorKind.DNS, f"cannot resolve the CSMS host {host}") from err
    except ConnectionRefusedError as err:
        raise ConnectError(ConnectErrorKind.REFUSED, "connection refused by the CSMS host") from err
    except TimeoutError as err:
        raise ConnectError(ConnectErrorKind.TIMEOUT, "the CSMS did not answer in time") from err
    except InvalidHandshake as err:
        # TLS 1.3 sends the refusal of a client certificate after the handshake: it surfaces
        # as "did not receive a valid HTTP response"; the alert below it says what happened.
        cause = _ssl_cause(err)
        if cause is None and ssl_context is not None:
            cause = await asyncio.get_running_loop().run_in_executor(
                None,
                probe_tls_refusal,
                url,
                ssl_context,
                settings.tls_server_name,
                min(settings.connect_timeout, 3.0),
            )
        if cause is not None:
            raise explain_ssl_error(cause) from err
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
