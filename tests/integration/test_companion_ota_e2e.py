"""End to end: an over-the-air update of the companion firmware through a real Mosquitto and a
real HTTP server on 127.0.0.1.

The firmware (firmware/micropython) runs on CPython as tests/integration/test_firmware_e2e.py
runs it (the real App and network worker, fake hardware, umqtt replaced by paho-mqtt), on a
file system directory of its own: lib/evse is the installed package, and the OTA files live
beside it. A "reboot" is the app leaving its safety loop (it asks the hardware for a reset),
then otaboot.boot() and a new App on the same directory. The bundle is built by
scripts/build_firmware_bundle.py (mpy-cross) from a copy of the package with another version.

Cases: installed (Downloading, Downloaded, Installing, reboot, Installed); a file that does not
match its manifest (InstallationFailed, nothing staged); a download cut short by the server
(DownloadFailed); a new version that never reports healthy (rolled back, old files intact).
Then custom_components/ocpp_cp/companion_ota.py inside Home Assistant: it serves the bundle
from Home Assistant's HTTP server and follows the device to Installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http.server
import io
import json
import shutil
import sys
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import paho.mqtt.client as paho
import pytest
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ocpp_cp.companion_ota import CompanionOta
from tests.integration.test_firmware_e2e import (
    PahoUmqtt,
    free_port,
    mosquitto,  # noqa: F401 - the broker fixture
)

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware" / "micropython"
for _path in (FIRMWARE, ROOT / "tests" / "firmware" / "mp", ROOT / "scripts"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import build_firmware_bundle  # noqa: E402
import otaboot  # noqa: E402
from evse.app import App  # noqa: E402
from evse.compat import ticks_ms  # noqa: E402
from evse.net import Net  # noqa: E402
from fwsim import FakeHardware, FakeWlan, config  # noqa: E402

pytestmark = pytest.mark.timeout(120)

BASE = "garage/evse"
WAIT = 20.0
NEW_VERSION = "0.2.0-test"


# -- the firmware on a file system directory ----------------------------------------------------


class Device:
    """One power-on of the firmware on `root`: otaboot.boot(), then the App and the network
    worker in their own thread and event loop until it resets itself or is stopped."""

    def __init__(self, root: Path, mqtt_port: int, confirm_s: int = 30) -> None:
        self.root = str(root)
        self.boot = otaboot.boot(self.root)
        self.cfg = config(
            node_id="garage",
            mqtt={"host": "127.0.0.1", "port": mqtt_port, "base": BASE, "state_interval_s": 2},
            ota={"confirm_s": confirm_s},
        )
        self.hw = FakeHardware()
        self.hw.car.state = "C"  # a vehicle asking for energy the whole time
        self.app = App(self.cfg, self.hw, ticks_ms(), root=self.root, boot=self.boot)
        self.app.housekeeping(ticks_ms())
        self.seen: list[paho.MQTTMessage] = []
        self.clients: list[PahoUmqtt] = []
        self.contactor_closed_during_update = False
        m = self.cfg["mqtt"]

        def client() -> PahoUmqtt:
            c = PahoUmqtt(m["client_id"], m["host"], m["port"], m["keepalive_s"], self.seen)
            self.clients.append(c)
            return c

        self.net = Net(self.app, self.cfg, FakeWlan(), client)
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, name="firmware-ota", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        """Called every pass: the contactor must stay open from the moment the download starts
        (it waits for the contactor to open) until the new version confirms."""
        update = self.net.ota
        running = update is not None and update.status is not None
        if (running or self.app.trial) and self.hw.contactor:
            self.contactor_closed_during_update = True

    def _run(self) -> None:
        loop = asyncio.SelectorEventLoop()
        self._loop = loop
        tick = self.app.tick

        def watched_tick(now: int) -> None:
            tick(now)
            self._watch()

        self.app.tick = watched_tick  # type: ignore[method-assign]
        try:
            self._task = loop.create_task(self.app.run(self.net, threaded=False))
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(self._task)
        except BaseException as err:
            self.error = err
        finally:
            for c in self.clients:
                with contextlib.suppress(Exception):
                    c.disconnect()
            loop.close()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        if self._thread.is_alive() and self._loop is not None and self._task is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(10)
        assert not self._thread.is_alive(), "the firmware thread did not stop"

    def ota_commands(self) -> list[dict[str, Any]]:
        return [json.loads(m.payload) for m in self.seen if m.topic == f"{BASE}/ota/set"]


@pytest.fixture
def devices() -> Iterator[list[Device]]:
    """Every Device a test powers on is stopped afterwards."""
    started: list[Device] = []
    yield started
    for device in started:
        device.stop()


# -- the HTTP server, the bundle, the controller --------------------------------------------------


class BundleServer(http.server.ThreadingHTTPServer):
    """Serves `files` (path -> bytes); a path in `cut` gets its full Content-Length but the
    connection closes after that many bytes."""

    daemon_threads = False  # server_close() joins the handlers

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}
        self.cut: dict[str, int] = {}
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: BundleServer

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-tar")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = self.server.cut.get(self.path)
        self.wfile.write(body if cut is None else body[:cut])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def http_server() -> Iterator[BundleServer]:
    server = BundleServer()
    thread = threading.Thread(target=server.serve_forever, name="bundle-http", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class Controller:
    """A plain MQTT client: sends update commands, records the statuses the device reports
    (live ones, not what an earlier update left retained)."""

    def __init__(self, port: int) -> None:
        self.docs: list[dict[str, Any]] = []
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="controller")
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(f"{BASE}/ota", qos=1)
        self.client.loop_start()
        assert subscribed.wait(5), "no SUBACK for the controller"

    def _on_message(self, client: Any, userdata: Any, message: paho.MQTTMessage) -> None:
        if not message.retain:
            self.docs.append(json.loads(message.payload))

    def send(self, url: str, sha256: str) -> None:
        payload = json.dumps({"url": url, "sha256": sha256})
        self.client.publish(f"{BASE}/ota/set", payload, qos=1).wait_for_publish(5)

    def statuses(self) -> list[str]:
        out: list[str] = []
        for doc in self.docs:
            if not out or out[-1] != doc["status"]:
                out.append(doc["status"])
        return out

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def controller(mosquitto: int) -> Iterator[Controller]:  # noqa: F811
    c = Controller(mosquitto)
    try:
        yield c
    finally:
        c.close()


def install_old_package(fs: Path) -> dict[str, bytes]:
    """The installed firmware: the repository's evse package as .py files."""
    pkg = fs / "lib" / "evse"
    pkg.mkdir(parents=True)
    for src in (FIRMWARE / "evse").glob("*.py"):
        shutil.copy(src, pkg / src.name)
    return files_of(pkg)


def files_of(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def build_new_bundle(tmp: Path) -> tuple[bytes, dict[str, bytes]]:
    """A bundle of the package with another VERSION, compiled by mpy-cross; its files."""
    src = tmp / "src" / "evse"
    shutil.copytree(FIRMWARE / "evse", src)
    init = src / "__init__.py"
    init.write_text(init.read_text().replace('"0.1.0"', f'"{NEW_VERSION}"'))
    out = tmp / "bundle.tar"
    version, _ = build_firmware_bundle.build(out, src)
    assert version == NEW_VERSION
    data = out.read_bytes()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        assert names[0] == "manifest.json"
        files = {n: tar.extractfile(n).read() for n in names[1:]}  # type: ignore[union-attr]
    assert "app.mpy" in files and "__init__.mpy" in files
    return data, files


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def until(predicate: Callable[[], Any], what: str, *devices: Device) -> None:
    try:
        async with asyncio.timeout(WAIT):
            while not predicate():
                for d in devices:
                    if d.error is not None:
                        raise AssertionError(f"the firmware stopped: {d.error!r}")
                await asyncio.sleep(0.02)
    except TimeoutError:
        last = [d.app.ota_doc for d in devices]
        pytest.fail(f"timed out waiting for {what}; last update status {last}")


def assert_nothing_staged(fs: Path) -> None:
    for name in (otaboot.NEW, otaboot.OLD, otaboot.BAD, otaboot.DL):
        assert not (fs / name).exists(), name
    assert otaboot.read_state(str(fs))["phase"] == "idle"


# -- the firmware alone ---------------------------------------------------------------------------


async def test_update_installed_after_reboot(
    tmp_path: Path,
    mosquitto: int,  # noqa: F811
    http_server: BundleServer,
    controller: Controller,
    devices: list[Device],
) -> None:
    fs = tmp_path / "fs"
    install_old_package(fs)
    bundle, new_files = build_new_bundle(tmp_path)
    http_server.files["/fw/bundle.tar"] = bundle
    device = Device(fs, mosquitto)
    devices.append(device)
    await until(lambda: device.net.connects >= 1 and device.hw.contactor, "charging", device)

    controller.send(f"{http_server.url}/fw/bundle.tar", sha(bundle))
    await until(lambda: not device.running, "the reboot after staging", device)
    assert device.error is None
    assert device.hw.resets == 1
    assert not device.hw.contactor
    assert device.app.hold
    assert not device.contactor_closed_during_update
    assert http_server.requests == ["/fw/bundle.tar"]
    assert controller.statuses() == ["Downloading", "Downloaded", "Installing"]
    assert otaboot.read_state(str(fs))["phase"] == "staged"

    trial = Device(fs, mosquitto)
    devices.append(trial)
    assert trial.boot["phase"] == "trial"
    assert files_of(fs / "lib" / "evse") == new_files
    await until(lambda: controller.statuses()[-1:] == ["Installed"], "Installed", trial)
    assert controller.docs[-1] == {"status": "Installed", "version": NEW_VERSION}
    assert not trial.contactor_closed_during_update
    await until(lambda: trial.hw.contactor, "charging again after the confirmation", trial)
    assert files_of(fs / "lib" / "evse") == new_files
    assert_nothing_staged(fs)
    assert otaboot.read_state(str(fs))["status"] == "Installed"


async def test_file_not_matching_its_manifest_is_refused(
    tmp_path: Path,
    mosquitto: int,  # noqa: F811
    http_server: BundleServer,
    controller: Controller,
    devices: list[Device],
) -> None:
    fs = tmp_path / "fs"
    old = install_old_package(fs)
    bundle, new_files = build_new_bundle(tmp_path)
    # One byte of app.mpy changed inside the archive: the tar stays valid, the manifest not.
    at = bundle.index(new_files["app.mpy"]) + 100
    tampered = bundle[:at] + bytes([bundle[at] ^ 0xFF]) + bundle[at + 1 :]
    http_server.files["/b.tar"] = tampered
    device = Device(fs, mosquitto)
    devices.append(device)
    await until(lambda: device.net.connects >= 1, "the device online", device)

    controller.send(f"{http_server.url}/b.tar", sha(tampered))
    await until(
        lambda: controller.statuses()[-1:] == ["InstallationFailed"], "InstallationFailed", device
    )
    assert controller.statuses() == [
        "Downloading",
        "Downloaded",
        "Installing",
        "InstallationFailed",
    ]
    assert controller.docs[-1]["error"] == "sha256 mismatch: app.mpy"
    assert device.running and device.hw.resets == 0
    assert files_of(fs / "lib" / "evse") == old
    assert_nothing_staged(fs)
    await until(lambda: not device.app.hold, "charging allowed again", device)


async def test_interrupted_download(
    tmp_path: Path,
    mosquitto: int,  # noqa: F811
    http_server: BundleServer,
    controller: Controller,
    devices: list[Device],
) -> None:
    fs = tmp_path / "fs"
    old = install_old_package(fs)
    bundle, _ = build_new_bundle(tmp_path)
    http_server.files["/b.tar"] = bundle
    http_server.cut["/b.tar"] = len(bundle) // 2
    device = Device(fs, mosquitto)
    devices.append(device)
    await until(lambda: device.net.connects >= 1, "the device online", device)

    controller.send(f"{http_server.url}/b.tar", sha(bundle))
    await until(lambda: controller.statuses()[-1:] == ["DownloadFailed"], "DownloadFailed", device)
    assert controller.statuses() == ["Downloading", "DownloadFailed"]
    assert controller.docs[-1]["error"] == (
        f"download interrupted at {len(bundle) // 2} of {len(bundle)} bytes"
    )
    assert device.running and device.hw.resets == 0
    assert files_of(fs / "lib" / "evse") == old
    assert_nothing_staged(fs)

    # A wrong URL: the server answers 404.
    controller.send(f"{http_server.url}/missing.tar", sha(bundle))
    await until(lambda: len(controller.statuses()) == 4, "the second DownloadFailed", device)
    assert controller.docs[-1]["error"] == "HTTP 404 Not Found"
    assert files_of(fs / "lib" / "evse") == old


async def test_new_version_never_healthy_is_rolled_back(
    tmp_path: Path,
    mosquitto: int,  # noqa: F811
    http_server: BundleServer,
    controller: Controller,
    devices: list[Device],
) -> None:
    fs = tmp_path / "fs"
    old = install_old_package(fs)
    bundle, new_files = build_new_bundle(tmp_path)
    http_server.files["/b.tar"] = bundle
    device = Device(fs, mosquitto)
    devices.append(device)
    await until(lambda: device.net.connects >= 1, "the device online", device)
    controller.send(f"{http_server.url}/b.tar", sha(bundle))
    await until(lambda: not device.running, "the reboot after staging", device)

    # The new version comes up but never reaches the broker (nothing listens on its port):
    # it cannot report healthy, and resets itself after ota.confirm_s.
    trial = Device(fs, free_port(), confirm_s=5)
    devices.append(trial)
    assert trial.boot["phase"] == "trial"
    assert files_of(fs / "lib" / "evse") == new_files
    await until(lambda: not trial.running, "the trial's deadline", trial)
    assert trial.hw.resets == 1
    assert not trial.contactor_closed_during_update
    assert trial.app.ticks > 100  # its safety loop ran; only the health report was missing

    back = Device(fs, mosquitto)
    devices.append(back)
    assert back.boot["status"] == "InstallationFailed"
    assert files_of(fs / "lib" / "evse") == old
    assert_nothing_staged(fs)
    await until(
        lambda: controller.statuses()[-1:] == ["InstallationFailed"], "InstallationFailed", back
    )
    assert controller.statuses() == [
        "Downloading",
        "Downloaded",
        "Installing",
        "InstallationFailed",
    ]
    assert controller.docs[-1]["error"] == f"version {NEW_VERSION} did not confirm; rolled back"
    assert not back.app.hold


# -- companion_ota.py in Home Assistant -----------------------------------------------------------


async def test_companion_ota_from_home_assistant(
    hass: HomeAssistant,
    tmp_path: Path,
    mosquitto: int,  # noqa: F811
    devices: list[Device],
    mock_hass_config: None,
) -> None:
    http_port = free_port()
    assert await async_setup_component(
        hass, "http", {"http": {"server_host": ["127.0.0.1"], "server_port": http_port}}
    )
    # The test plugin keeps HA's HTTP server from listening (disable_http_server): start the
    # real one (aiohttp with HA's middlewares) on 127.0.0.1 here, stopped at the end.
    assert hass.http is not None
    await hass.http.start()
    try:
        await _companion_ota(hass, tmp_path, mosquitto, devices, http_port)
    finally:
        await hass.http.stop()


async def _companion_ota(
    hass: HomeAssistant, tmp_path: Path, broker_port: int, devices: list[Device], http_port: int
) -> None:
    from homeassistant.components import mqtt

    await hass.config.async_update(internal_url=f"http://127.0.0.1:{http_port}")
    mqtt_entry = MockConfigEntry(
        domain=mqtt.DOMAIN,
        title="MQTT",
        data={mqtt.CONF_BROKER: "127.0.0.1", "port": broker_port},
        version=mqtt.CONFIG_ENTRY_VERSION,
        minor_version=mqtt.CONFIG_ENTRY_MINOR_VERSION,
    )
    mqtt_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mqtt_entry.entry_id)
    await hass.async_block_till_done()

    fs = tmp_path / "fs"
    install_old_package(fs)
    bundle, new_files = build_new_bundle(tmp_path)
    path = tmp_path / "downloaded.tar"
    path.write_bytes(bundle)
    device = Device(fs, broker_port)
    devices.append(device)
    await until(lambda: device.net.connects >= 1, "the device online", device)

    seen: list[str] = []
    ota = CompanionOta(hass, BASE, timeout=60, on_status=seen.append)
    # A checksum that does not match the file: nothing is sent to the device.
    assert not await ota.install(str(path), sha(bundle + b"x"))
    assert device.ota_commands() == []

    task = hass.async_create_task(ota.install(str(path), sha(bundle)))
    await until(lambda: not device.running, "the reboot after staging", device)
    [command] = device.ota_commands()
    assert command["sha256"] == sha(bundle)
    url = command["url"]
    assert url.startswith(f"http://127.0.0.1:{http_port}/api/ocpp_cp/companion_ota/")
    assert len(url.rsplit("/", 1)[1]) >= 40  # an unguessable token
    trial = Device(fs, broker_port)
    devices.append(trial)
    async with asyncio.timeout(WAIT):
        assert await task
    assert seen == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert files_of(fs / "lib" / "evse") == new_files

    # The path served once: a second download is refused.
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 404

    await hass.async_add_executor_job(trial.stop)
    assert await hass.config_entries.async_unload(mqtt_entry.entry_id)
    await hass.async_block_till_done()


async def test_companion_ota_failures(
    hass: HomeAssistant,
    tmp_path: Path,
    mosquitto: int,  # noqa: F811
    devices: list[Device],
    mock_hass_config: None,
) -> None:
    """DownloadFailed from the device, a device that never answers, an https internal URL."""
    from homeassistant.components import mqtt

    # HA's HTTP component is set up but, as the test plugin has it, not listening: the device
    # cannot download from the URL it is given.
    assert await async_setup_component(hass, "http", {})
    await hass.config.async_update(internal_url=f"http://127.0.0.1:{free_port()}")
    mqtt_entry = MockConfigEntry(
        domain=mqtt.DOMAIN,
        title="MQTT",
        data={mqtt.CONF_BROKER: "127.0.0.1", "port": mosquitto},
        version=mqtt.CONFIG_ENTRY_VERSION,
        minor_version=mqtt.CONFIG_ENTRY_MINOR_VERSION,
    )
    mqtt_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mqtt_entry.entry_id)
    await hass.async_block_till_done()
    fs = tmp_path / "fs"
    old = install_old_package(fs)
    path = tmp_path / "bundle.tar"
    path.write_bytes(b"not even a tar")
    device = Device(fs, mosquitto)
    devices.append(device)
    await until(lambda: device.net.connects >= 1, "the device online", device)

    seen: list[str] = []
    ota = CompanionOta(hass, BASE, timeout=30, on_status=seen.append)
    assert not await ota.install(str(path), sha(path.read_bytes()))
    assert seen == ["Downloading", "DownloadFailed"]
    assert ota.last_error is not None
    assert ota.last_error.startswith("DownloadFailed: ")
    assert device.running
    assert files_of(fs / "lib" / "evse") == old
    await until(lambda: not device.app.hold, "charging allowed again", device)

    # Nobody answers on this base topic: a timeout.
    silent = CompanionOta(hass, "nobody/home", timeout=1)
    assert not await silent.install(str(path), sha(path.read_bytes()))
    assert silent.last_error == "no result within 1 s"

    # The firmware fetches over plain http only.
    await hass.config.async_update(internal_url="https://ha.example:8123")
    assert not await ota.install(str(path), sha(path.read_bytes()))
    assert ota.last_error == "the firmware downloads over http:// only, not https://ha.example:8123"

    await hass.async_add_executor_job(device.stop)
    assert await hass.config_entries.async_unload(mqtt_entry.entry_id)
    await hass.async_block_till_done()
