"""ocpp_cp: any charger Home Assistant controls, as an OCPP 1.6J charge point of your CSMS."""

from __future__ import annotations

import contextlib
import glob
import os

from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.typing import ConfigType

from .bridge import (
    STORAGE_KEYS,
    HaEngineStorage,
    OcppCpBridge,
    OcppCpConfigEntry,
    queue_path,
)
from .const import DOMAIN
from .engine import ConnectErrorKind, SettingsError
from .services import async_setup_services

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)
# How long setup waits for the first connection attempt: long enough for a CSMS on the LAN to
# answer the handshake (a 401 then fails setup into re-authentication), short enough not to hold
# up Home Assistant's start when the CSMS is down (the engine keeps trying in the background).
FIRST_ATTEMPT_TIMEOUT = 5.0
PLATFORMS: list[Platform] = [Platform.BUTTON, Platform.NUMBER, Platform.SENSOR, Platform.SWITCH]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the services once, for every entry."""
    async_setup_services(hass)
    return True


async def async_migrate_entry(hass: HomeAssistant, entry: OcppCpConfigEntry) -> bool:
    """1.1 -> 1.2: entities and devices were keyed by the unique id, which reconfigure
    rewrites; they move to the entry id, keeping their entity ids and history."""
    if entry.version > 1:
        return False  # a newer release's entry: refuse rather than guess
    if entry.minor_version < 2:
        old = entry.unique_id
        if old and old != entry.entry_id:
            await _rekey(hass, entry, old)
        hass.config_entries.async_update_entry(entry, minor_version=2)
    return True


async def _rekey(hass: HomeAssistant, entry: OcppCpConfigEntry, old: str) -> None:
    new = entry.entry_id

    @callback
    def entity_ids(registry_entry: er.RegistryEntry) -> dict[str, str] | None:
        unique_id = registry_entry.unique_id
        if not unique_id.startswith(f"{old}_"):
            return None
        return {"new_unique_id": new + unique_id[len(old) :]}

    await er.async_migrate_entries(hass, entry.entry_id, entity_ids)
    devices = dr.async_get(hass)
    for device in dr.async_entries_for_config_entry(devices, entry.entry_id):
        identifiers = {
            (domain, new + ident[len(old) :])
            if domain == DOMAIN and (ident == old or ident.startswith(f"{old}_"))
            else (domain, ident)
            for domain, ident in device.identifiers
        }
        if identifiers != device.identifiers:
            devices.async_update_device(device.id, new_identifiers=identifiers)


async def async_setup_entry(hass: HomeAssistant, entry: OcppCpConfigEntry) -> bool:
    """Start the charge point; it connects in the background and reports its state."""
    bridge = OcppCpBridge(hass, entry)
    try:
        await bridge.async_start()
    except SettingsError as err:
        # A CA, certificate or key file that is gone or broken: retrying will not help.
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="broken_configuration",
            translation_placeholders={"error": str(err)},
        ) from err
    if await bridge.async_first_outcome(FIRST_ATTEMPT_TIMEOUT) == ConnectErrorKind.UNAUTHORIZED:
        await bridge.async_stop()
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN,
            translation_key="auth_failed",
            translation_placeholders={"charge_point_id": bridge.charge_point_id},
        )
    bridge.setup_done = True
    bridge.update_connection_issues()
    entry.runtime_data = bridge
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))

    async def _stop_with_home_assistant(_event: Event) -> None:
        # A clean stop: the next start knows it was no power loss, and no thread is left waiting.
        await bridge.async_stop()

    entry.async_on_unload(
        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _stop_with_home_assistant)
    )
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def _async_options_updated(hass: HomeAssistant, entry: OcppCpConfigEntry) -> None:
    """Options apply live: no reconnect, no BootNotification, the session goes on."""
    bridge: OcppCpBridge | None = getattr(entry, "runtime_data", None)
    if bridge is not None:
        try:
            bridge.apply_options()
        except ValueError:
            pass  # the connection itself changed (reconfigure, reauth): a new engine
        else:
            return
    await hass.config_entries.async_reload(entry.entry_id)


async def async_unload_entry(hass: HomeAssistant, entry: OcppCpConfigEntry) -> bool:
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await entry.runtime_data.async_stop()
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: OcppCpConfigEntry) -> None:
    """The stored configuration keys, the transaction queue and the charge point's own key and
    certificate files (``<queue>.csr-key.pem``, ``<queue>.client-*``) go with the entry."""
    await HaEngineStorage(hass, entry.entry_id).async_remove(STORAGE_KEYS)
    path = queue_path(hass, entry.entry_id)
    await hass.async_add_executor_job(_remove_files, [path, f"{path}-wal", f"{path}-shm"])


def _remove_files(paths: list[str]) -> None:
    paths = paths + glob.glob(f"{glob.escape(paths[0])}.*")
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
