"""Over-the-air update of the companion firmware (firmware/micropython) from Home Assistant.

The bundle (built by scripts/build_firmware_bundle.py, downloaded by UpdateFirmware) is served
by a view of Home Assistant's own HTTP server under an unguessable one-time path, at Home
Assistant's internal URL: that server is the one address the device is known to reach
already (it is how the user reaches Home Assistant on the LAN), it needs no extra port or
firewall rule, and it stops with Home Assistant. The firmware is told the URL and the
bundle's sha256 on ``<base>/ota/set``; it reports on ``<base>/ota`` (retained JSON, its
``status`` is OCPP's FirmwareStatus: Downloading, Downloaded, DownloadFailed, Installing,
Installed, InstallationFailed). ``install`` returns True once the new version reports
Installed (it confirms only after its safety loop runs and it reached the broker again).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from aiohttp import web
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.http import HomeAssistantView
from homeassistant.helpers.network import NoURLAvailableError, get_url

from .const import DOMAIN

_LOGGER = logging.getLogger(__name__)

DATA_KEY: Final = f"{DOMAIN}_companion_ota"
VIEW_URL: Final = "/api/ocpp_cp/companion_ota/{token}"
TOKEN_TTL_S: Final = 600.0
DEFAULT_TIMEOUT_S: Final = 600.0
DONE: Final = {"Installed": True, "DownloadFailed": False, "InstallationFailed": False}


class _Served:
    """Bundles offered under a token, each for one download within TOKEN_TTL_S."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[str, float]] = {}
        self.view_registered = False

    def take(self, token: str) -> str | None:
        entry = self.files.pop(token, None)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]


class CompanionBundleView(HomeAssistantView):
    """GET of a bundle by its one-time token (the firmware has no Home Assistant token)."""

    url = VIEW_URL
    name = "api:ocpp_cp:companion_ota"
    requires_auth = False

    def __init__(self, served: _Served) -> None:
        self._served = served

    async def get(self, request: web.Request, token: str) -> web.StreamResponse:
        path = self._served.take(token)
        if path is None:
            return web.Response(status=404)
        return web.FileResponse(path, headers={"Content-Type": "application/x-tar"})


@callback
def _served(hass: HomeAssistant) -> _Served | None:
    served: _Served | None = hass.data.get(DATA_KEY)
    if served is None:
        served = hass.data[DATA_KEY] = _Served()
    if not served.view_registered:
        if getattr(hass, "http", None) is None:
            return None
        hass.http.register_view(CompanionBundleView(served))
        served.view_registered = True
    return served


def _sha256_of(path: str) -> str | None:
    try:
        digest = hashlib.sha256()
        with Path(path).open("rb") as file:
            for block in iter(lambda: file.read(65536), b""):
                digest.update(block)
        return digest.hexdigest()
    except OSError:
        return None


class CompanionOta:
    """Installs a bundle on one companion firmware device (found by firmware_device.py: its
    MQTT base topic). ``on_status`` hears every status the device reports."""

    def __init__(
        self,
        hass: HomeAssistant,
        base_topic: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        on_status: Callable[[str], None] | None = None,
    ) -> None:
        self.hass = hass
        self.base_topic = base_topic
        self.timeout = timeout
        self.on_status = on_status
        self.last_status: str | None = None
        self.last_error: str | None = None

    def _fail(self, why: str) -> bool:
        self.last_error = why
        _LOGGER.warning("Companion firmware update on %s failed: %s", self.base_topic, why)
        return False

    async def install(self, path: str, sha256: str) -> bool:
        """Serves the bundle, tells the device to fetch it and follows its progress: True on
        Installed; False on DownloadFailed, InstallationFailed or timeout."""
        self.last_status = self.last_error = None
        if await self.hass.async_add_executor_job(_sha256_of, path) != sha256.lower():
            return self._fail("the bundle file is missing or its sha256 does not match")
        if not self.hass.config_entries.async_loaded_entries("mqtt"):
            return self._fail("MQTT is not set up")
        served = _served(self.hass)
        if served is None:
            return self._fail("Home Assistant's HTTP server is not running")
        try:
            base_url = get_url(self.hass, allow_external=False, allow_cloud=False)
        except NoURLAvailableError:
            return self._fail("Home Assistant has no internal URL")
        if not base_url.startswith("http://"):
            return self._fail(f"the firmware downloads over http:// only, not {base_url}")
        token = secrets.token_urlsafe(32)
        served.files[token] = (path, time.monotonic() + TOKEN_TTL_S)
        try:
            return await self._run(f"{base_url}{VIEW_URL.format(token=token)}", sha256.lower())
        finally:
            served.files.pop(token, None)

    async def _run(self, url: str, sha256: str) -> bool:
        from homeassistant.components import mqtt

        statuses: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        # The device echoes this id in every status of this update (also after its reboot,
        # and in the retained copy), so an earlier update's status is never taken for ours
        # and a status published before our subscription is live still arrives, retained.
        request_id = secrets.token_hex(8)

        subscribed = asyncio.Event()
        ready_topic = f"{self.base_topic}/ota/ready"

        @callback
        def received(message: mqtt.ReceiveMessage) -> None:
            if message.topic == ready_topic:
                if message.payload == request_id:
                    subscribed.set()
                return
            try:
                doc = json.loads(message.payload)
            except (TypeError, ValueError):
                return
            if (
                isinstance(doc, dict)
                and doc.get("id") == request_id
                and isinstance(doc.get("status"), str)
            ):
                statuses.put_nowait(doc)

        # <base>/ota/# also matches <base>/ota (the device's status) and our own probe on
        # <base>/ota/ready (the device listens on <base>/+/set only).
        unsubscribe = await mqtt.async_subscribe(self.hass, f"{self.base_topic}/ota/#", received)
        try:
            # Home Assistant subscribes after a short debounce: until our probe comes back the
            # device's first statuses would pass by unseen.
            for _ in range(20):
                await mqtt.async_publish(self.hass, ready_topic, request_id, qos=0)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.25):
                        await subscribed.wait()
                if subscribed.is_set():
                    break
            command = json.dumps({"url": url, "sha256": sha256, "id": request_id})
            await mqtt.async_publish(self.hass, f"{self.base_topic}/ota/set", command, qos=1)
            async with asyncio.timeout(self.timeout):
                while True:
                    doc = await statuses.get()
                    status = doc["status"]
                    if status != self.last_status and self.on_status is not None:
                        self.on_status(status)
                    self.last_status = status
                    if status in DONE:
                        if not DONE[status]:
                            return self._fail(f"{status}: {doc.get('error', '')}".rstrip(": "))
                        _LOGGER.info(
                            "Companion firmware on %s updated to %s",
                            self.base_topic,
                            doc.get("version"),
                        )
                        return True
        except TimeoutError:
            return self._fail(f"no result within {self.timeout:.0f} s")
        finally:
            unsubscribe()
