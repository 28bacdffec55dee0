"""Installing a firmware the CSMS sent (UpdateFirmware) on a charger Home Assistant drives.

The engine downloads the file; this module offers it to automations: the event
``ocpp_cp_firmware_downloaded`` carries its path and sha256, and the installation counts as done
only when an automation calls ``ocpp_cp.report_firmware_installed`` with ``success: true``
within ``INSTALL_TIMEOUT``. Otherwise it is InstallationFailed: nothing pretends.
"""

from __future__ import annotations

import asyncio
import logging

from homeassistant.core import HomeAssistant

from .const import DOMAIN

_LOGGER = logging.getLogger(__name__)

EVENT_FIRMWARE_DOWNLOADED = f"{DOMAIN}_firmware_downloaded"
INSTALL_TIMEOUT = 15 * 60.0


class FirmwareInstallWait:
    """One installation of one entry at a time, waiting for an automation's report."""

    def __init__(self, hass: HomeAssistant, entry_id: str, charge_point_id: str) -> None:
        self.hass = hass
        self.entry_id = entry_id
        self.charge_point_id = charge_point_id
        self.timeout = INSTALL_TIMEOUT
        self._outcome: asyncio.Future[bool] | None = None

    async def install(self, path: str, sha256: str, location: str) -> bool:
        """Fire the event and wait for the report; False on timeout or a failure report.
        ``location`` must already be safe (no password)."""
        outcome: asyncio.Future[bool] = self.hass.loop.create_future()
        self._outcome = outcome
        self.hass.bus.async_fire(
            EVENT_FIRMWARE_DOWNLOADED,
            {
                "entry_id": self.entry_id,
                "charge_point_id": self.charge_point_id,
                "path": path,
                "sha256": sha256,
                "location": location,
            },
        )
        try:
            return await asyncio.wait_for(asyncio.shield(outcome), self.timeout)
        except TimeoutError:
            _LOGGER.warning(
                "No report_firmware_installed for %s within %.0f s: installation failed",
                self.charge_point_id,
                self.timeout,
            )
            return False
        finally:
            if self._outcome is outcome:
                self._outcome = None

    def report(self, success: bool) -> bool:
        """An automation's report; False when no installation waits for one."""
        outcome = self._outcome
        if outcome is None or outcome.done():
            return False
        outcome.set_result(success)
        return True
