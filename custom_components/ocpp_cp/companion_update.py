"""UpdateFirmware installed over the air on the companion firmware (firmware/micropython).

The engine's FirmwareService downloads the file and reports Downloading/Downloaded; its
Installing lasts while the devices a connector is mapped to (their MQTT base topics, from the
config flow's firmware device) fetch, verify, stage and confirm the bundle through
companion_ota.CompanionOta. With several devices they are updated one after the other; the
first one that does not report Installed ends the update (the rest keep their version), and
the result is Installed only when every device reported Installed. Each device's progress is
logged and kept for the entry's diagnostics.
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime
from typing import Any

from homeassistant.core import HomeAssistant

from .companion_ota import DEFAULT_TIMEOUT_S, CompanionOta

_LOGGER = logging.getLogger(__name__)


class CompanionFirmwareUpdate:
    """Installs a downloaded bundle on each companion firmware device in turn."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.hass = hass
        self.timeout = DEFAULT_TIMEOUT_S  # per device
        # Base topic -> the last update's progress on that device (for diagnostics).
        self.progress: dict[str, dict[str, Any]] = {}

    def _status(self, topic: str, status: str) -> None:
        _LOGGER.info("Companion firmware on %s: %s", topic, status)
        self.progress[topic] = {"status": status, "at": datetime.now(UTC).isoformat()}

    async def install(self, topics: list[str], path: str, sha256: str) -> bool:
        """True when every device reported Installed; stops at the first one that did not."""
        for topic in topics:
            self.progress[topic] = {"status": "Pending", "at": datetime.now(UTC).isoformat()}
        for topic in topics:
            ota = CompanionOta(
                self.hass,
                topic,
                timeout=self.timeout,
                on_status=functools.partial(self._status, topic),
            )
            _LOGGER.info("Installing firmware %s on the companion firmware on %s", sha256, topic)
            if not await ota.install(path, sha256):
                self.progress[topic]["error"] = ota.last_error
                for rest in topics[topics.index(topic) + 1 :]:
                    self.progress[rest]["status"] = "NotAttempted"
                return False
        return True

    def diagnostics(self) -> dict[str, Any]:
        return {topic: dict(progress) for topic, progress in self.progress.items()}
