"""Connection supervision: dial, keep the link alive with pings, redial with back-off."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import ssl
from collections.abc import Callable, Coroutine
from typing import Any

from ..connection import (
    ConnectError,
    ConnectErrorKind,
    ConnectionState,
    build_ssl_context,
    open_connection,
)
from ..ocpp16.rpc import OcppRpc
from ..settings import EngineSettings, SecurityProfile, SettingsError
from .context import EngineContext

_LOGGER = logging.getLogger(__name__)


class ConnectionService:
    """Owns the WebSocket: one session at a time, run by ``session`` while it lasts."""

    def __init__(
        self,
        ctx: EngineContext,
        wire: OcppRpc,
        session: Callable[[], Coroutine[Any, Any, None]],
        session_accepted: Callable[[], bool],
    ) -> None:
        self.ctx = ctx
        self.wire = wire
        self._session = session
        self._session_accepted = session_accepted
        self.state = ConnectionState.DISCONNECTED
        self.last_error: str | None = None
        self.last_error_kind: ConnectErrorKind | None = None
        self.online = asyncio.Event()
        self.online.set()
        self.ping_changed = asyncio.Event()
        self.ssl_context: ssl.SSLContext | None = None
        self._reported_unavailable = False
        # The link is being closed on purpose (reconnect, reset, new credentials): no outage.
        self._closing = False
        # Called whenever the link is lost (senders forget what they queued for it).
        self.on_disconnected: Callable[[], None] = lambda: None

    @property
    def settings(self) -> EngineSettings:
        """Settings with the security keys the CSMS may have changed since."""
        config = self.ctx.config
        key = config.get("AuthorizationKey") or self.ctx.settings.authorization_key
        profile = SecurityProfile(config.get_int("SecurityProfile"))
        return dataclasses.replace(
            self.ctx.settings, authorization_key=key, security_profile=profile
        )

    async def load_tls(self) -> None:
        """The TLS context of wss://; SettingsError when a CA, certificate or key file is
        missing or unusable (a broken configuration, not a passing fault)."""
        try:
            self.ssl_context = await asyncio.get_running_loop().run_in_executor(
                None, build_ssl_context, self.settings
            )
        except (OSError, ssl.SSLError, ValueError) as err:
            settings = self.settings
            cert = settings.client_cert_file
            blamed = cert and (isinstance(err, ssl.SSLError) or str(cert) in str(err))
            key = "client_cert_file" if blamed else "ca_file"
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            raise SettingsError(key, f"the TLS files cannot be used: {reason}") from err

    def set_state(
        self, state: ConnectionState, error: str | None = None, *, clear_error: bool = False
    ) -> None:
        if clear_error:
            self.last_error = None
        if error is not None:
            self.last_error = error
        if state != self.state or error is not None:
            self.state = state
            self.ctx.emit("state", state=state.value, error=self.last_error)

    def log_available(self) -> None:
        if self._reported_unavailable:
            self._reported_unavailable = False
            _LOGGER.info("CSMS at %s is back", self.ctx.settings.connection_url)

    def _log_unavailable(self, why: str) -> None:
        """Once at WARNING when the CSMS is lost, then quietly until it is back."""
        url = self.ctx.settings.connection_url
        if self._reported_unavailable:
            _LOGGER.debug("Still no CSMS at %s: %s", url, why)
            return
        self._reported_unavailable = True
        _LOGGER.warning("CSMS at %s unavailable: %s", url, why)

    def backoff_delay(self, attempt: int) -> float:
        """Exponential back-off with +/-25 % jitter so a fleet does not redial in lockstep."""
        settings = self.ctx.settings
        base = settings.reconnect_initial_delay * (2.0 ** min(attempt, 16))
        return min(settings.reconnect_max_delay, base) * random.uniform(0.75, 1.25)

    async def supervise(self) -> None:
        attempt = 0
        while True:
            await self.online.wait()
            self.set_state(ConnectionState.CONNECTING)
            try:
                websocket = await open_connection(self.settings, self.ssl_context)
            except ConnectError as err:
                if (
                    err.kind == ConnectErrorKind.UNAUTHORIZED
                    and self.last_error_kind != ConnectErrorKind.UNAUTHORIZED
                ):  # once per refusal, not once per redial
                    self.ctx.security_event("FailedToAuthenticateAtCentralSystem", str(err))
                self.last_error_kind = err.kind
                self.set_state(ConnectionState.DISCONNECTED, str(err))
                self._log_unavailable(str(err))
            else:
                self.last_error_kind = None
                self.wire.attach(websocket)
                try:
                    if await self._run(websocket):
                        attempt = 0
                finally:
                    self.wire.detach()
                    self.ctx.accepted.clear()
                    self.on_disconnected()
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(websocket.close(), 2)
                    self.set_state(ConnectionState.DISCONNECTED)
                    if self._closing:
                        self._closing = False
                        _LOGGER.info("Reconnecting to %s", self.ctx.settings.connection_url)
                    elif self.online.is_set():
                        self._log_unavailable(self.last_error or "connection closed")
            if not self.online.is_set():
                continue
            await asyncio.sleep(self.backoff_delay(attempt))
            attempt += 1

    async def _run(self, websocket: Any) -> bool:
        """Serve one connection until it closes; True if the CSMS accepted us on it."""
        receiver = asyncio.create_task(self.wire.receive_loop(websocket), name="ocpp_cp receive")
        workers = [
            asyncio.create_task(self._ping_loop(websocket), name="ocpp_cp ping"),
            asyncio.create_task(self._session(), name="ocpp_cp session"),
        ]
        try:
            await receiver
        finally:
            for task in workers:
                task.cancel()
            receiver.cancel()
            await asyncio.gather(receiver, *workers, return_exceptions=True)
        return self._session_accepted() and self.state == ConnectionState.ACCEPTED

    async def _ping_loop(self, websocket: Any) -> None:
        async def ping() -> bool:
            try:
                pong = await websocket.ping()
                await asyncio.wait_for(pong, self.ctx.settings.pong_timeout)
            except TimeoutError:
                self.last_error = "the CSMS stopped answering WebSocket pings"
                _LOGGER.warning(
                    "No pong within %ss: dropping the link", self.ctx.settings.pong_timeout
                )
                websocket.transport.abort()
                return False
            except Exception:  # closed under us: the receiver notices
                return False
            return True

        await self.ctx.every("WebSocketPingInterval", self.ping_changed, ping)

    def drop(self) -> None:
        """Close the link on purpose with a close frame (1000); the supervisor dials again."""
        websocket = self.wire.websocket
        if websocket is None:
            return
        self._closing = True
        self.ctx.spawn(websocket.close(1000, "reconnecting"), "close")

    def go_offline(self) -> None:
        """Lose the link as a cable pulled out would (no close frame) and stay away."""
        self.online.clear()
        websocket = self.wire.websocket
        if websocket is not None:
            websocket.transport.abort()

    def go_online(self) -> None:
        self.online.set()
