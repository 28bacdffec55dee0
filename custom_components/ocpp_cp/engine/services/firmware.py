"""UpdateFirmware and SignedUpdateFirmware: download, (verify,) install; their status reports.

The pending update is a journal document (``firmware_update``), saved before the answer goes
out, so a restart resumes it: a scheduled or failed-midway download starts again, a downloaded
file whose checksum still matches goes on to installation. An installation interrupted by the
restart is reported InstallationFailed (its outcome is unknown; nothing pretends).

Installation never interrupts a transaction (1.6 section 5.19): like libocpp, once the file is
ready every connector is made Unavailable (a connector in a session when its transaction ends),
the installation starts when no transaction runs, and the connectors' earlier availability is
restored afterwards. The charger installs through ``ChargerHardware.install_firmware``; only
its True is Installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from cryptography import x509

from .. import transfer
from ..firmware_signature import (
    CertificateProblem,
    check_signing_certificate,
    file_sha256,
    signature_valid,
)
from ..timestamps import rfc3339_timestamp
from .connectors import ConnectorService
from .context import EngineContext
from .status_report import StatusReporter

_LOGGER = logging.getLogger(__name__)

DOCUMENT = "firmware_update"
DEFAULT_RETRIES = 1
DEFAULT_RETRY_INTERVAL = 60
DOWNLOAD_TIMEOUT = 600.0
TRANSACTION_POLL = 1.0

type FollowUp = Callable[[], Awaitable[None]]
type RootProvider = Callable[[], list[x509.Certificate]]

# Statuses after which nothing runs any more (TriggerMessage then answers Idle).
FINAL = frozenset({"DownloadFailed", "InstallationFailed", "Installed", "InvalidSignature", "Idle"})
# Stages only SignedFirmwareStatusNotification has; the plain notification never carries them.
SIGNED_ONLY = frozenset({"DownloadScheduled", "InstallScheduled", "SignatureVerified"})


class FirmwareService:
    def __init__(
        self,
        ctx: EngineContext,
        connectors: ConnectorService,
        directory: Path,
        manufacturer_roots: RootProvider = lambda: [],
    ) -> None:
        self.ctx = ctx
        self.connectors = connectors
        self.directory = directory
        self.manufacturer_roots = manufacturer_roots
        self.plain = StatusReporter(ctx, "FirmwareStatusNotification", "firmware_status")
        self.signed = StatusReporter(
            ctx, "SignedFirmwareStatusNotification", "signed_firmware_status"
        )
        self.status = "Idle"
        self.job: dict[str, Any] | None = None
        self._task: asyncio.Task[None] | None = None

    # -- requests ---------------------------------------------------------------------------

    async def update(self, payload: dict[str, Any]) -> FollowUp | None:
        """UpdateFirmware: the job is durable before the (empty) answer; None when the journal
        failed (the handler answers with a CALLERROR then, rather than pretend)."""
        job = {
            "location": payload["location"],
            "retrieve_at": rfc3339_timestamp(payload["retrieveDate"]),
            "retries": max(0, int(payload.get("retries", DEFAULT_RETRIES))),
            "retry_interval": max(0, int(payload.get("retryInterval", DEFAULT_RETRY_INTERVAL))),
            "stage": "scheduled",
            "request_id": None,
        }
        return await self._accept(job)

    async def signed_update(self, payload: dict[str, Any]) -> tuple[str, FollowUp | None]:
        """SignedUpdateFirmware: Accepted / AcceptedCanceled (an update was running and is
        replaced) / InvalidCertificate, the follow-up to run after the answer."""
        firmware = payload["firmware"]
        try:
            check_signing_certificate(
                firmware["signingCertificate"], self.manufacturer_roots(), self.ctx.now()
            )
        except CertificateProblem as err:
            _LOGGER.warning("SignedUpdateFirmware refused: %s", err)
            self.ctx.security_event("InvalidFirmwareSigningCertificate", str(err))
            return "InvalidCertificate", None
        job = {
            "location": firmware["location"],
            "retrieve_at": rfc3339_timestamp(firmware["retrieveDateTime"]),
            "install_at": rfc3339_timestamp(firmware.get("installDateTime")),
            "signing_certificate": firmware["signingCertificate"],
            "signature": firmware["signature"],
            "retries": max(0, int(payload.get("retries", DEFAULT_RETRIES))),
            "retry_interval": max(0, int(payload.get("retryInterval", DEFAULT_RETRY_INTERVAL))),
            "stage": "scheduled",
            "request_id": payload["requestId"],
        }
        replacing = self.job is not None
        followup = await self._accept(job)
        if followup is None:
            return "Rejected", None
        return ("AcceptedCanceled" if replacing else "Accepted"), followup

    async def _accept(self, job: dict[str, Any]) -> FollowUp | None:
        # The update it replaces stops first, so none of its writes lands after this one.
        await self._cancel_running()
        if not await self.ctx.save_document(DOCUMENT, job):
            self.job = None
            return None
        self.ctx.emit(
            "csms_request",
            kind="update_firmware",
            location=transfer.safe_location(job["location"]),
            signed=job["request_id"] is not None,
        )

        async def begin() -> None:
            self.job = job
            self.status = "Idle"  # nothing sent for this job yet (not the replaced job's status)
            self._start()

        return begin

    async def _cancel_running(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _start(self) -> None:
        self._task = self.ctx.spawn(self._run(), "firmware update")

    async def restore(self) -> None:
        """Resume the update the journal holds (after a restart)."""
        job = await self.ctx.journal.load_document(DOCUMENT)
        if not isinstance(job, dict):
            return
        self.job = job
        if job.get("stage") == "installing":  # the outcome is unknown: say so, do not retry
            await self._restore_availability()
            self._report("InstallationFailed")
            await self._finish()
            return
        self._start()

    def trigger(self) -> FollowUp:
        """TriggerMessage(FirmwareStatusNotification): the status of the update under way,
        Idle when none runs."""
        running = self.job is not None and self.status not in FINAL
        # The signed-only stages (scheduled, signature verified) have no plain name: Idle.
        status = self.status if running and self.status not in SIGNED_ONLY else "Idle"

        async def send() -> None:
            self.plain.report({"status": status})

        return send

    def trigger_signed(self) -> FollowUp:
        """ExtendedTriggerMessage(SignedFirmwareStatusNotification)."""
        job = self.job
        running = job is not None and self.status not in FINAL
        status = self.status if running else "Idle"

        async def send() -> None:
            payload: dict[str, Any] = {"status": status}
            if running and job is not None:
                payload["requestId"] = job["request_id"]
            self.signed.report(payload)

        return send

    # -- the pipeline -----------------------------------------------------------------------

    def _report(self, status: str) -> None:
        job = self.job
        if job is not None and job.get("request_id") is not None:
            self.status = status
            self.signed.report({"status": status, "requestId": job["request_id"]})
        elif status not in SIGNED_ONLY:
            self.status = status
            self.plain.report({"status": status})
        # else no such status in the plain FirmwareStatusNotification: the status stays the
        # last one sent (a TriggerMessage while waiting for a transaction answers Downloaded).

    async def _save(self, **changes: Any) -> None:
        assert self.job is not None
        self.job = {**self.job, **changes}
        await self.ctx.save_document(DOCUMENT, self.job)

    async def _restore_availability(self) -> None:
        """The availability the connectors had before the installation made them Unavailable."""
        before = (self.job or {}).get("operative_before")
        if not isinstance(before, dict):
            return
        if any(before.values()):
            await self.connectors.change_availability(0, True)
        for cid, operative in before.items():
            if not operative and int(cid) != 0:
                await self.connectors.change_availability(int(cid), False)

    async def _finish(self) -> None:
        self.job = None
        await self.ctx.save_document(DOCUMENT, None)

    async def _run(self) -> None:
        job = self.job
        assert job is not None
        intact = job["stage"] == "downloaded" and await self._file_intact(job)
        if not intact and not await self._download(job):
            await self._finish()
            return
        job = self.job
        assert job is not None
        if job["request_id"] is not None and not await self._verify(job):
            await self._finish()
            return
        await self._install(job)

    async def _wait_until(self, at: float | None, scheduled_status: str) -> None:
        if at is None:
            return
        delay = at - self.ctx.clock.time()
        if delay > 0:
            self._report(scheduled_status)
            await asyncio.sleep(delay)

    def _path(self, job: dict[str, Any]) -> Path:
        try:
            name = PurePosixPath(unquote(urlsplit(job["location"]).path)).name
        except ValueError:
            name = ""
        return self.directory / re.sub(r"[^A-Za-z0-9._-]", "_", name or "firmware.bin")

    async def _file_intact(self, job: dict[str, Any]) -> bool:
        path = Path(job.get("path", ""))
        if not job.get("sha256") or not path.is_file():
            return False
        digest = await asyncio.to_thread(file_sha256, path)
        return bool(digest.hex() == job["sha256"])

    async def _download(self, job: dict[str, Any]) -> bool:
        await self._wait_until(job["retrieve_at"], "DownloadScheduled")
        path = self._path(job)
        self._report("Downloading")
        context = await asyncio.to_thread(transfer.trust_context, self.ctx.settings.ca_file)

        async def download() -> str:
            return await transfer.download(
                job["location"], path, ssl_context=context, timeout=DOWNLOAD_TIMEOUT
            )

        try:
            digest = await transfer.attempts(
                "Firmware download", download, job["retries"], job["retry_interval"]
            )
        except transfer.TransferError:
            self._report("DownloadFailed")
            return False
        await self._save(stage="downloaded", path=str(path), sha256=digest)
        self._report("Downloaded")
        self.ctx.emit(
            "firmware_downloaded",
            path=str(path),
            sha256=digest,
            location=transfer.safe_location(job["location"]),
        )
        return True

    async def _verify(self, job: dict[str, Any]) -> bool:
        try:
            certificate = check_signing_certificate(
                job["signing_certificate"], self.manufacturer_roots(), self.ctx.now()
            )
            valid = await asyncio.to_thread(
                signature_valid, certificate, job["signature"], Path(job["path"])
            )
        except CertificateProblem as err:  # expired or its root removed while waiting
            _LOGGER.warning("Firmware signing certificate no longer valid: %s", err)
            valid = False
        if not valid:
            self._report("InvalidSignature")
            self.ctx.security_event(
                "InvalidFirmwareSignature", f"file {Path(job['path']).name}, sha256 {job['sha256']}"
            )
            with contextlib.suppress(OSError):
                Path(job["path"]).unlink()
            return False
        self._report("SignatureVerified")
        return True

    async def _install(self, job: dict[str, Any]) -> None:
        await self._wait_until(job.get("install_at"), "InstallScheduled")
        if "operative_before" not in job:  # kept durable: a restart still restores it
            before = {str(cid): c.operative for cid, c in self.ctx.connectors.items()}
            await self._save(operative_before=before)
        busy = any(c.transaction is not None for c in self.ctx.connectors.values())
        if busy and self.status != "InstallScheduled":
            self._report("InstallScheduled")
        # Like libocpp: no new session may start; running ones end on their own. Whatever
        # happens next (a failure, a cancelled job, a stop), the availability comes back.
        await self.connectors.change_availability(0, False)
        try:
            while any(c.transaction is not None for c in self.ctx.connectors.values()):  # noqa: ASYNC110
                await asyncio.sleep(TRANSACTION_POLL)  # transactions end rarely: poll
            await self._save(stage="installing")
            self._report("Installing")
            try:
                installed = await self.ctx.hardware.install_firmware(job["path"], job["sha256"])
            except Exception:
                _LOGGER.exception("Firmware installation failed")
                installed = False
        finally:
            await self._restore_availability()
        await self.ctx.save_document(DOCUMENT, None)  # done, durably, before it is reported
        self._report("Installed" if installed else "InstallationFailed")
        self.job = None
        if installed:
            self.ctx.security_event("FirmwareUpdated", f"sha256 {job['sha256']}")
