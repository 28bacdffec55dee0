"""UpdateFirmware from a CSMS installed over the air on the companion firmware, end to end.

An ocpp_cp entry whose connector is mapped to the companion firmware device (its MQTT base
topic in the mapping, as the config flow's firmware device puts it) connects to the loopback
CSMS (tests/csms.py). The CSMS sends UpdateFirmware for a bundle built by
scripts/build_firmware_bundle.py on a real HTTP server on 127.0.0.1; the engine downloads it,
the bridge serves it from Home Assistant's real HTTP server and drives the firmware (run on
CPython with fake pins on a temp directory, as in test_companion_ota_e2e.py) through a real
Mosquitto. The CSMS sees every FirmwareStatusNotification; the device's files show the swap.

Cases: installed; a tampered bundle (InstallationFailed, old files kept); a transaction running
when UpdateFirmware comes (installed after it ends, the contactor open throughout the update);
several devices (one after the other, the first failure ends the update).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from ocpp.v16 import call
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.ocpp_cp.companion_update import CompanionFirmwareUpdate
from custom_components.ocpp_cp.const import DOMAIN
from custom_components.ocpp_cp.diagnostics import async_get_config_entry_diagnostics
from custom_components.ocpp_cp.firmware_device import (
    FirmwareDevice,
    async_firmware_devices,
    async_resolve,
)
from tests.csms import TestCsms
from tests.engine.file_servers import http_server
from tests.integration.test_companion_ota_e2e import (
    BASE,
    NEW_VERSION,
    WAIT,
    Device,
    assert_nothing_staged,
    build_new_bundle,
    devices,  # noqa: F401 - the fixture that stops every Device
    files_of,
    install_old_package,
    otaboot,
    sha,
    until,
)
from tests.integration.test_firmware_e2e import (
    free_port,
    mosquitto,  # noqa: F401 - the broker fixture
)

from .test_bridge import entry_for

pytestmark = pytest.mark.timeout(150)

FINAL = ("DownloadFailed", "Installed", "InstallationFailed")


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
async def ha_http(hass: HomeAssistant, mock_hass_config: None) -> AsyncIterator[int]:
    """Home Assistant's real HTTP server listening on 127.0.0.1 (the test plugin keeps it
    from listening otherwise); the device downloads the bundle from it."""
    port = free_port()
    assert await async_setup_component(
        hass, "http", {"http": {"server_host": ["127.0.0.1"], "server_port": port}}
    )
    assert hass.http is not None
    await hass.http.start()
    await hass.config.async_update(internal_url=f"http://127.0.0.1:{port}")
    try:
        yield port
    finally:
        await hass.http.stop()


@pytest.fixture
async def ha_mqtt(hass: HomeAssistant, mosquitto: int) -> AsyncIterator[MockConfigEntry]:  # noqa: F811
    from homeassistant.components import mqtt

    entry = MockConfigEntry(
        domain=mqtt.DOMAIN,
        title="MQTT",
        data={mqtt.CONF_BROKER: "127.0.0.1", "port": mosquitto},
        version=mqtt.CONFIG_ENTRY_VERSION,
        minor_version=mqtt.CONFIG_ENTRY_MINOR_VERSION,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def frames_of(csms: TestCsms, after: int) -> list[tuple[str, str]]:
    """FirmwareStatusNotification and connector 1's StatusNotification, in the order sent."""
    return [
        (r.action, r.payload["status"])
        for r in csms.received[after:]
        if r.action == "FirmwareStatusNotification"
        or (r.action == "StatusNotification" and r.payload["connector_id"] == 1)
    ]


def firmware_statuses(csms: TestCsms, after: int) -> list[str]:
    return [s for action, s in frames_of(csms, after) if action == "FirmwareStatusNotification"]


async def _start(
    hass: HomeAssistant, csms: TestCsms, fs: Path, broker_port: int, started: list[Device]
) -> tuple[MockConfigEntry, Device]:
    """The device online, found through its MQTT discovery as the config flow finds it, and an
    ocpp_cp entry whose connector is mapped to its entities and its base topic."""
    device = Device(fs, broker_port)
    started.append(device)
    await until(lambda: device.net.connects >= 1, "the device online", device)

    def firmware() -> FirmwareDevice | None:
        for entry in async_firmware_devices(hass):
            found = async_resolve(hass, entry.id)
            if found is not None and found.usable and found.topic == BASE:
                return found
        return None

    await until(lambda: firmware() is not None, "the device discovered", device)
    found = firmware()
    assert found is not None
    mapping = found.mapping()
    assert mapping["firmware_topic"] == BASE
    entry = entry_for(csms)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=entry.title,
        unique_id=entry.unique_id,
        data=dict(entry.data),
        options={**entry.options, "mapping": {"1": mapping}},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await csms.wait_for("StatusNotification", lambda p: p["connector_id"] == 1)
    entry.runtime_data.companion_update.timeout = 60
    return entry, device


async def _update(csms: TestCsms, location: str) -> int:
    mark = len(csms.received)
    await csms.call(call.UpdateFirmware(location=location, retrieve_date=now_iso(), retries=0))
    return mark


async def _assert_frames(csms: TestCsms, mark: int, final: str) -> None:
    """The firmware statuses frame by frame; connector 1 out of service during the
    installation (its StatusNotification is queued on its own, so it may follow Installing)
    and back in service afterwards: Preparing, as the device's car is plugged in."""
    await csms.wait_for(
        "StatusNotification",
        lambda p: p["connector_id"] == 1 and p["status"] != "Unavailable",
        after=mark,
        timeout=WAIT,
    )
    assert firmware_statuses(csms, mark) == ["Downloading", "Downloaded", "Installing", final]
    frames = frames_of(csms, mark)
    connector = [f for f in frames if f[0] == "StatusNotification"]
    assert connector == [("StatusNotification", "Unavailable"), ("StatusNotification", "Preparing")]
    unavailable = frames.index(("StatusNotification", "Unavailable"))
    assert frames.index(("FirmwareStatusNotification", "Downloaded")) < unavailable
    assert unavailable < frames.index(("FirmwareStatusNotification", final))


async def _stop(
    hass: HomeAssistant, entry: MockConfigEntry, mqtt_entry: MockConfigEntry, *running: Device
) -> None:
    assert await hass.config_entries.async_unload(entry.entry_id)
    for device in running:
        await hass.async_add_executor_job(device.stop)
    assert await hass.config_entries.async_unload(mqtt_entry.entry_id)
    await hass.async_block_till_done()


async def test_update_firmware_installs_on_the_companion_firmware(
    hass: HomeAssistant,
    csms: TestCsms,
    tmp_path: Path,
    mosquitto: int,  # noqa: F811
    ha_http: int,
    ha_mqtt: MockConfigEntry,
    devices: list[Device],  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="custom_components.ocpp_cp.companion_update")
    fs = tmp_path / "fs"
    old = install_old_package(fs)
    bundle, new_files = build_new_bundle(tmp_path)
    entry, device = await _start(hass, csms, fs, mosquitto, devices)
    events = async_capture_events(hass, "ocpp_cp_firmware_downloaded")

    with http_server() as server:
        server.files["/fw/evse-0.2.0.tar"] = bundle
        mark = await _update(csms, server.url("/fw/evse-0.2.0.tar"))
        # The device fetched the bundle from Home Assistant, staged it and reset itself.
        await until(lambda: not device.running, "the reboot after staging", device)
    assert device.error is None and device.hw.resets == 1
    assert files_of(fs / "lib" / "evse") == old  # swapped only at the next boot
    assert otaboot.read_state(str(fs))["phase"] == "staged"
    [command] = device.ota_commands()
    assert command["sha256"] == sha(bundle)
    assert command["url"].startswith(f"http://127.0.0.1:{ha_http}/api/ocpp_cp/companion_ota/")
    assert firmware_statuses(csms, mark) == ["Downloading", "Downloaded", "Installing"]

    trial = Device(fs, mosquitto)
    devices.append(trial)
    assert trial.boot["phase"] == "trial"
    await csms.wait_for(
        "FirmwareStatusNotification", lambda p: p["status"] in FINAL, after=mark, timeout=WAIT
    )
    await _assert_frames(csms, mark, "Installed")
    assert files_of(fs / "lib" / "evse") == new_files
    assert NEW_VERSION.encode() in new_files["__init__.mpy"]  # its VERSION constant
    state = otaboot.read_state(str(fs))
    assert (state["phase"], state["version"], state["status"]) == ("idle", NEW_VERSION, "Installed")
    assert_nothing_staged(fs)
    assert not device.contactor_closed_during_update
    assert not trial.contactor_closed_during_update
    assert events == []  # the companion firmware installs itself: no event for automations

    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    progress = diagnostics["engine"]["companion_firmware_update"]
    assert list(progress) == [BASE]
    assert progress[BASE]["status"] == "Installed" and "error" not in progress[BASE]
    logged = [r.getMessage() for r in caplog.records if r.name.endswith("companion_update")]
    assert [m for m in logged if m.startswith("Companion firmware on")] == [
        f"Companion firmware on {BASE}: {status}"
        for status in ("Downloading", "Downloaded", "Installing", "Installed")
    ]
    await _stop(hass, entry, ha_mqtt, trial)


async def test_tampered_bundle_is_installation_failed(
    hass: HomeAssistant,
    csms: TestCsms,
    tmp_path: Path,
    mosquitto: int,  # noqa: F811
    ha_http: int,
    ha_mqtt: MockConfigEntry,
    devices: list[Device],  # noqa: F811
) -> None:
    fs = tmp_path / "fs"
    old = install_old_package(fs)
    bundle, new_files = build_new_bundle(tmp_path)
    # One byte of app.mpy changed inside the archive: the tar stays valid, its manifest does
    # not match; the engine's sha256 is of the file it downloaded, so only the device notices.
    at = bundle.index(new_files["app.mpy"]) + 100
    tampered = bundle[:at] + bytes([bundle[at] ^ 0xFF]) + bundle[at + 1 :]
    entry, device = await _start(hass, csms, fs, mosquitto, devices)

    with http_server() as server:
        server.files["/fw/evse.tar"] = tampered
        mark = await _update(csms, server.url("/fw/evse.tar"))
        await csms.wait_for(
            "FirmwareStatusNotification", lambda p: p["status"] in FINAL, after=mark, timeout=WAIT
        )
    await _assert_frames(csms, mark, "InstallationFailed")
    [command] = device.ota_commands()
    assert command["sha256"] == sha(tampered)
    assert device.running and device.hw.resets == 0
    assert files_of(fs / "lib" / "evse") == old
    assert_nothing_staged(fs)
    assert not device.contactor_closed_during_update
    progress = entry.runtime_data.diagnostics()["companion_firmware_update"][BASE]
    assert progress["status"] == "InstallationFailed"
    assert progress["error"] == "InstallationFailed: sha256 mismatch: app.mpy"
    await until(lambda: not device.app.hold, "charging allowed again", device)
    async with asyncio.timeout(15):
        await _stop(hass, entry, ha_mqtt, device)


async def test_installs_after_the_running_transaction_ends(
    hass: HomeAssistant,
    csms: TestCsms,
    tmp_path: Path,
    mosquitto: int,  # noqa: F811
    ha_http: int,
    ha_mqtt: MockConfigEntry,
    devices: list[Device],  # noqa: F811
) -> None:
    """A car charges when UpdateFirmware comes: the download goes on, the device is told
    nothing until the transaction ends (1.6 section 5.19), and its contactor, closed while
    charging, stays open from then until the new version confirmed."""
    fs = tmp_path / "fs"
    install_old_package(fs)
    bundle, new_files = build_new_bundle(tmp_path)
    entry, device = await _start(hass, csms, fs, mosquitto, devices)
    result = await csms.call(call.RemoteStartTransaction(id_tag="DRIVER", connector_id=1))
    assert result.status == "Accepted"
    await csms.wait_for("StartTransaction", lambda p: p["connector_id"] == 1)
    await until(lambda: device.hw.contactor, "the contactor closed for charging", device)

    with http_server() as server:
        server.files["/fw/evse.tar"] = bundle
        mark = await _update(csms, server.url("/fw/evse.tar"))
        await csms.wait_for(
            "FirmwareStatusNotification", lambda p: p["status"] == "Downloaded", after=mark
        )
    await asyncio.sleep(2)  # long enough for an installation that wrongly starts to show
    assert firmware_statuses(csms, mark) == ["Downloading", "Downloaded"]
    assert device.ota_commands() == []
    assert device.hw.contactor  # still charging

    await csms.call(call.RemoteStopTransaction(transaction_id=1))
    await until(lambda: not device.running, "the reboot after staging", device)
    trial = Device(fs, mosquitto)
    devices.append(trial)
    await csms.wait_for(
        "FirmwareStatusNotification", lambda p: p["status"] in FINAL, after=mark, timeout=WAIT
    )
    actions = [
        (r.action, r.payload.get("status"))
        for r in csms.received[mark:]
        if r.action in ("StopTransaction", "FirmwareStatusNotification")
    ]
    assert actions == [
        ("FirmwareStatusNotification", "Downloading"),
        ("FirmwareStatusNotification", "Downloaded"),
        ("StopTransaction", None),
        ("FirmwareStatusNotification", "Installing"),
        ("FirmwareStatusNotification", "Installed"),
    ]
    assert files_of(fs / "lib" / "evse") == new_files
    assert not device.contactor_closed_during_update
    assert not trial.contactor_closed_during_update
    await _stop(hass, entry, ha_mqtt, trial)


async def test_several_devices_one_after_the_other(
    hass: HomeAssistant,
    tmp_path: Path,
    mosquitto: int,  # noqa: F811
    ha_http: int,
    ha_mqtt: MockConfigEntry,
    devices: list[Device],  # noqa: F811
) -> None:
    """Installed only when every device is; the first failure ends the update. The second
    device is a base topic nobody answers on (a controller that is offline)."""
    fs = tmp_path / "fs"
    old = install_old_package(fs)
    bundle, new_files = build_new_bundle(tmp_path)
    path = tmp_path / "downloaded.tar"
    path.write_bytes(bundle)
    device = Device(fs, mosquitto)
    devices.append(device)
    await until(lambda: device.net.connects >= 1, "the device online", device)
    update = CompanionFirmwareUpdate(hass)
    update.timeout = 2

    # The offline one first: nothing reaches the other device.
    assert not await update.install(["aa/offline", BASE], str(path), sha(bundle))
    progress = update.diagnostics()
    assert progress["aa/offline"]["error"] == "no result within 2 s"
    assert progress[BASE]["status"] == "NotAttempted"
    assert device.ota_commands() == []
    assert files_of(fs / "lib" / "evse") == old

    # The real device first: it is updated, then the offline one fails the whole update.
    update.timeout = 30
    task = hass.async_create_task(update.install([BASE, "zz/offline"], str(path), sha(bundle)))
    await until(lambda: not device.running, "the reboot after staging", device)
    update.timeout = 2  # read when the next device's turn comes
    trial = Device(fs, mosquitto)
    devices.append(trial)
    async with asyncio.timeout(WAIT):
        assert not await task
    progress = update.diagnostics()
    assert progress[BASE]["status"] == "Installed" and "error" not in progress[BASE]
    assert progress["zz/offline"]["status"] == "Pending"
    assert progress["zz/offline"]["error"] == "no result within 2 s"
    assert files_of(fs / "lib" / "evse") == new_files
    await hass.async_add_executor_job(trial.stop)
    assert await hass.config_entries.async_unload(ha_mqtt.entry_id)
    await hass.async_block_till_done()
