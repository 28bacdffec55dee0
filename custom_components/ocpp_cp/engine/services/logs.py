"""GetLog (security whitepaper): the security log or a diagnostics log, uploaded to the CSMS.

Status goes out as LogStatusNotification with the request's id: Uploading, then Uploaded or
UploadFailure once ``retries`` further attempts ``retryInterval`` s apart have failed. A new
GetLog while one runs cancels it (AcceptedCanceled; the cancelled one reports nothing more).

The DiagnosticsLog is text: a header (charge point, versions), the configuration keys (secret
ones without their value), the recent OCPP frames both ways (the ring GetDiagnostics also
uses: 1000 frames, 256 K characters at most), and the engine's last ``LOG_LINES_KEPT`` Python log
records (what passed the logger's level). Every line goes through ``frames.redact``: the
AuthorizationKey of a ChangeConfiguration, passwords in URLs and Basic credentials become ***.
The SecurityLog is one line per security-log entry. Both honour oldestTimestamp and
latestTimestamp.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .. import transfer
from ..journal import JournalError
from ..ocpp16.frames import redact
from ..ocpp16.rpc import Reply
from ..timestamps import rfc3339_timestamp
from .context import EngineContext, iso
from .security_events import SecurityEventService
from .status_report import StatusReporter

_LOGGER = logging.getLogger(__name__)

ACTION = "LogStatusNotification"
LOG_LINES_KEPT = 1000
# The whitepaper's UploadLogStatus for how the last attempt failed (transfer.TransferError.kind).
FAILURE_STATUS = {
    "permission_denied": "PermissionDenied",
    "not_supported": "NotSupportedOperation",
    "bad_message": "BadMessage",
}
DEFAULT_RETRIES = 1
DEFAULT_RETRY_INTERVAL = 60
ENGINE_LOGGER = "custom_components.ocpp_cp.engine"

_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class RecentLogHandler(logging.Handler):
    """The engine's last log records, formatted, in a bounded ring (shared by the process)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: deque[tuple[float, str]] = deque(maxlen=LOG_LINES_KEPT)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append((record.created, self.format(record)))
        except Exception:  # a log call with bad arguments must not break the engine
            self.handleError(record)


_HANDLER: RecentLogHandler | None = None


def recent_log_handler() -> RecentLogHandler:
    global _HANDLER  # noqa: PLW0603 - one ring per process, installed on first use
    if _HANDLER is None:
        _HANDLER = RecentLogHandler()
        logging.getLogger(ENGINE_LOGGER).addHandler(_HANDLER)
    return _HANDLER


@dataclass(slots=True)
class _Upload:
    request_id: int
    log_type: str
    location: str
    filename: str
    oldest: float | None
    latest: float | None
    retries: int
    interval: int
    task: asyncio.Task[Any] | None = None
    cancelled: bool = False
    finished: bool = False

    def cancel(self) -> None:
        self.cancelled = True
        if self.task is not None:
            self.task.cancel()


class LogService:
    def __init__(
        self,
        ctx: EngineContext,
        security: SecurityEventService,
        frames: deque[tuple[float, str, str]],
    ) -> None:
        self.ctx = ctx
        self.security = security
        # The engine's one ring of recent frames (kept by the diagnostics service), raw:
        # redacted only when a log is built.
        self.frames = frames
        self.log_lines = recent_log_handler()
        self.reporter = StatusReporter(ctx, ACTION, "log_status")
        self._upload: _Upload | None = None

    @property
    def uploading(self) -> _Upload | None:
        upload = self._upload
        return upload if upload is not None and not upload.finished else None

    # -- GetLog -----------------------------------------------------------------------------

    def get_log(self, payload: dict[str, Any]) -> Reply:
        """The answer to GetLog and the upload to run once it is on the wire."""
        parameters = payload["log"]
        location: str = parameters["remoteLocation"]
        oldest = rfc3339_timestamp(parameters.get("oldestTimestamp"))
        latest = rfc3339_timestamp(parameters.get("latestTimestamp"))
        try:
            transfer.check_location(location)
        except transfer.TransferError as err:  # its text carries no password
            _LOGGER.info("GetLog rejected: %s", err)
            return Reply({"status": "Rejected"})
        running = self.uploading
        status = "Accepted"
        if running is not None:
            running.cancel()
            status = "AcceptedCanceled"
        log_type: str = payload["logType"]
        stamp = datetime.fromtimestamp(self.ctx.clock.time(), UTC).strftime("%Y%m%dT%H%M%SZ")
        name = _FILENAME_UNSAFE.sub("_", self.ctx.settings.charge_point_id)[:100]
        kind = "security" if log_type == "SecurityLog" else "diagnostics"
        upload = _Upload(
            request_id=payload["requestId"],
            log_type=log_type,
            location=location,
            filename=f"{name}-{kind}-{stamp}-{payload['requestId']}.log",
            oldest=oldest,
            latest=latest,
            retries=max(0, payload.get("retries", DEFAULT_RETRIES)),
            interval=max(0, payload.get("retryInterval", DEFAULT_RETRY_INTERVAL)),
        )
        self._upload = upload
        self.ctx.emit(
            "csms_request",
            kind="get_log",
            log_type=log_type,
            request_id=upload.request_id,
            location=transfer.safe_location(location),
        )
        return Reply({"status": status, "filename": upload.filename}, lambda: self._run(upload))

    async def _run(self, upload: _Upload) -> None:
        if upload.cancelled:
            return
        upload.task = asyncio.current_task()
        try:
            await self._notify("Uploading", upload.request_id)
            try:
                data = (await self.content(upload)).encode("utf-8")
            except JournalError as err:
                self.ctx.storage_failed(err)
                upload.finished = True
                await self._notify("UploadFailure", upload.request_id)
                return
            context = await asyncio.to_thread(transfer.trust_context, self.ctx.settings.ca_file)

            async def send() -> bool:
                await transfer.upload(upload.location, upload.filename, data, ssl_context=context)
                return True

            try:
                await transfer.attempts("Log upload", send, upload.retries, upload.interval)
            except transfer.TransferError as err:
                status = FAILURE_STATUS.get(err.kind, "UploadFailure")
            else:
                status = "Uploaded"
            upload.finished = True
            await self._notify(status, upload.request_id)
        finally:
            upload.finished = True

    async def content(self, upload: _Upload) -> str:
        """The file to upload, as text."""
        if upload.log_type == "SecurityLog":
            entries = await self.security.entries(oldest=upload.oldest, latest=upload.latest)
            return "".join(redact(entry.line()) + "\n" for entry in entries)
        return self.diagnostics_text(upload.oldest, upload.latest)

    def diagnostics_text(self, oldest: float | None, latest: float | None) -> str:
        def wanted(at: float) -> bool:
            return (oldest is None or at >= oldest) and (latest is None or at <= latest)

        settings = self.ctx.settings
        lines = [
            f"# ocpp_cp diagnostics log of {settings.charge_point_id}",
            f"# vendor {settings.vendor} model {settings.model} "
            f"firmware {settings.firmware_version or '-'}",
            f"# generated {iso(time.time())}",
            "## configuration",
        ]
        known, _ = self.ctx.config.read(None)  # secret keys come without their value
        lines += [f"{e['key']}={e.get('value', '***')}" for e in known]
        lines.append("## frames")
        lines += [f"{iso(at)} {way} {text}" for at, way, text in self.frames if wanted(at)]
        lines.append("## log")
        lines += [f"{iso(at)} {text}" for at, text in list(self.log_lines.lines) if wanted(at)]
        return "".join(redact(line) + "\n" for line in lines)

    # -- LogStatusNotification --------------------------------------------------------------

    async def _notify(self, status: str, request_id: int | None) -> None:
        """Queue one status: in order, held while offline (status_report.StatusReporter, as
        the diagnostics and firmware statuses)."""
        payload: dict[str, Any] = {"status": status}
        if request_id is not None:
            payload["requestId"] = request_id
        self.reporter.report(payload)

    async def send_status(self) -> None:
        """ExtendedTriggerMessage(LogStatusNotification): Uploading with its id, or Idle."""
        upload = self.uploading
        if upload is None:
            await self._notify("Idle", None)
        else:
            await self._notify("Uploading", upload.request_id)
