"""GetDiagnostics: collect a diagnostics archive and upload it; DiagnosticsStatusNotification.

The archive is a zip of JSON files: ``configuration.json`` (secret values as ``***``),
``frames.jsonl`` (the recent frames, redacted, limited to startTime..stopTime), ``state.json``
(connectors, transactions, queued messages, connection), ``versions.json`` and whatever the
hardware adds (``hardware/<name>``; the HA integration adds HA's diagnostics of the entry).

GetDiagnostics.conf names the file before anything is uploaded; then Uploading, and Uploaded or
UploadFailed after ``1 + retries`` attempts ``retryInterval`` seconds apart. A new request
while an upload runs replaces it (the old one is cancelled without a final status).
"""

from __future__ import annotations

import asyncio
import collections
import io
import json
import logging
import platform
import re
import zipfile
from collections.abc import Awaitable, Callable
from importlib import metadata
from typing import Any

from .. import __version__, transfer
from ..ocpp16.frames import redact
from ..timestamps import rfc3339_timestamp
from .context import EngineContext, iso
from .status_report import StatusReporter

_LOGGER = logging.getLogger(__name__)

FRAME_RING = 1000  # recent frames kept for the archive, each cut at FRAME_CHARS,
FRAME_CHARS = 4096
FRAME_BUDGET = 256 * 1024  # and at most this many characters in all (memory per charge point)
DEFAULT_RETRIES = 1
DEFAULT_RETRY_INTERVAL = 60
UPLOAD_TIMEOUT = 120.0

type FollowUp = Callable[[], Awaitable[None]]


def _library_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


class DiagnosticsService:
    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx
        self.frames: collections.deque[tuple[float, str, str]] = collections.deque()
        self._frame_chars = 0
        self.reporter = StatusReporter(ctx, "DiagnosticsStatusNotification", "diagnostics_status")
        self.status = "Idle"
        self._job: asyncio.Task[None] | None = None

    def record_frame(self, direction: str, text: str) -> None:
        """Every frame in and out, kept (bounded) for the next archive; redacted when read."""
        text = text[:FRAME_CHARS]
        frames = self.frames
        frames.append((self.ctx.clock.time(), direction, text))
        self._frame_chars += len(text)
        while len(frames) > FRAME_RING or self._frame_chars > FRAME_BUDGET:
            self._frame_chars -= len(frames.popleft()[2])

    # -- GetDiagnostics ---------------------------------------------------------------------

    def file_name(self) -> str:
        cp_id = re.sub(r"[^A-Za-z0-9._-]", "_", self.ctx.settings.charge_point_id)
        stamp = self.ctx.now().strftime("%Y%m%dT%H%M%SZ")
        return f"{cp_id}-diagnostics-{stamp}.zip"

    def request(self, payload: dict[str, Any]) -> tuple[str, FollowUp]:
        """GetDiagnostics: the file name to answer with, and the upload to start after it."""
        name = self.file_name()
        location: str = payload["location"]
        retries = max(0, int(payload.get("retries", DEFAULT_RETRIES)))
        interval = max(0, int(payload.get("retryInterval", DEFAULT_RETRY_INTERVAL)))
        start = rfc3339_timestamp(payload.get("startTime"))
        stop = rfc3339_timestamp(payload.get("stopTime"))
        self.ctx.emit(
            "csms_request",
            kind="get_diagnostics",
            location=transfer.safe_location(location),
            file_name=name,
        )

        async def begin() -> None:
            if self._job is not None and not self._job.done():
                self._job.cancel()
            self._job = self.ctx.spawn(
                self._upload(location, name, retries, interval, start, stop), "diagnostics upload"
            )

        return name, begin

    def _set(self, status: str) -> None:
        self.status = status
        self.reporter.report({"status": status})

    async def _upload(
        self,
        location: str,
        name: str,
        retries: int,
        interval: int,
        start: float | None,
        stop: float | None,
    ) -> None:
        self._set("Uploading")
        archive = await self.archive(start, stop)
        # The trust store of ftps:// and https:// uploads (reads files: off the loop).
        context = await asyncio.to_thread(transfer.trust_context, self.ctx.settings.ca_file)

        async def upload() -> bool:
            await transfer.upload(
                location, name, archive, ssl_context=context, timeout=UPLOAD_TIMEOUT
            )
            return True

        try:
            await transfer.attempts("Diagnostics upload", upload, retries, interval)
        except transfer.TransferError:
            self._set("UploadFailed")
        else:
            self._set("Uploaded")

    def trigger(self) -> FollowUp:
        """TriggerMessage(DiagnosticsStatusNotification): Uploading while an upload runs, else
        Idle (the spec allows Idle only in answer to a trigger)."""
        status = "Uploading" if self.status == "Uploading" else "Idle"

        async def send() -> None:
            self.reporter.report({"status": status})

        return send

    # -- the archive ------------------------------------------------------------------------

    async def archive(self, start: float | None = None, stop: float | None = None) -> bytes:
        """The zip GetDiagnostics uploads (also usable on its own)."""
        files: dict[str, bytes] = {
            "configuration.json": _json(self._configuration()),
            "frames.jsonl": self._frames(start, stop),
            "state.json": _json(await self._state()),
            "versions.json": _json(
                {
                    "engine": __version__,
                    "ocpp": _library_version("ocpp"),
                    "websockets": _library_version("websockets"),
                    "python": platform.python_version(),
                }
            ),
        }
        try:
            extra = await self.ctx.hardware.diagnostics_files()
        except Exception as err:  # the charger's part must not cost the engine's part
            _LOGGER.warning("Diagnostics files of the charger failed: %s", err)
            extra = {"error.txt": f"{type(err).__name__}: {err}".encode()}
        for name, content in extra.items():
            safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
            files[f"hardware/{safe}"] = content
        return await asyncio.to_thread(_zip, files)

    def _configuration(self) -> list[dict[str, Any]]:
        known, _ = self.ctx.config.read(None)
        for entry in known:
            if "value" not in entry:  # a secret (AuthorizationKey): never its value
                entry["value"] = "***"
        return known

    def _frames(self, start: float | None, stop: float | None) -> bytes:
        lines = [
            json.dumps({"time": iso(at), "direction": direction, "frame": redact(text)})
            for at, direction, text in list(self.frames)
            if (start is None or at >= start) and (stop is None or at <= stop)
        ]
        return ("\n".join(lines) + "\n").encode() if lines else b""

    async def _state(self) -> dict[str, Any]:
        ctx = self.ctx
        try:
            queued: int | str = await ctx.journal.count()
        except Exception as err:  # a broken journal is itself worth reporting
            queued = f"unavailable: {err}"
        settings = ctx.settings
        connectors = {}
        for connector_id, connector in ctx.connectors.items():
            tx = connector.transaction
            connectors[str(connector_id)] = {
                "status": str(connector.status()),
                "error_code": str(connector.error_code),
                "plugged": connector.plugged,
                "operative": connector.operative,
                "transaction": None
                if tx is None
                else {
                    "transaction_id": tx.transaction_id,
                    "meter_start": tx.meter_start,
                    "started": tx.started_at,
                },
            }
        return {
            "time": iso(ctx.clock.time()),
            "charge_point_id": settings.charge_point_id,
            "csms_url": transfer.safe_location(settings.csms_url),
            "security_profile": int(settings.security_profile),
            "vendor": settings.vendor,
            "model": settings.model,
            "firmware_version": settings.firmware_version,
            "feature_profiles": sorted(settings.feature_profiles),
            "connected": ctx.accepted.is_set(),
            "storage_error": ctx.storage_error,
            "queued_transaction_messages": queued,
            "connectors": connectors,
        }


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, default=str).encode()


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()
