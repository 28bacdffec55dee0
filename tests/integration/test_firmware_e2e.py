"""End to end: the companion firmware, a real MQTT broker, Home Assistant's real MQTT
integration, ocpp_cp and a real CSMS.

- Mosquitto runs on 127.0.0.1 (a free port, its own configuration in tmp_path).
- The firmware (firmware/micropython/evse) runs on CPython in its own thread and event loop:
  the real App (safety loop, housekeeping, Modbus meter task) and the real network worker
  (evse.net.Net: discovery, availability, state, command parsing through evse.ha). Only the
  hardware is faked (tests/firmware/mp/fwsim.py: a car on the pilot, plus an SDM630 on the
  UART here), and umqtt.simple, which needs MicroPython sockets, is replaced by paho-mqtt
  behind the same API.
- Home Assistant's MQTT integration connects to the broker for real (not the test plugin's
  mqtt_mock fixtures) and discovers the firmware's device and entities.
- The ocpp_cp config flow picks the firmware device (every mapping filled in from it), a CSMS
  starts a transaction remotely, the simulated car asks for energy, the firmware closes its
  contactor, meter values flow to the CSMS, and ocpp_cp's heartbeat reaches the firmware.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
from ocpp.v16 import call
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ocpp_cp import bridge
from custom_components.ocpp_cp.const import DOMAIN
from custom_components.ocpp_cp.firmware_device import STATUS_MAPPING
from tests.csms import TestCsms
from tests.integration.test_firmware_device import suggested_values

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT / "firmware" / "micropython", ROOT / "tests" / "firmware" / "mp"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from evse import disco, modbus  # noqa: E402
from evse.app import App  # noqa: E402
from evse.compat import ticks_ms  # noqa: E402
from evse.net import Net  # noqa: E402
from fwsim import FakeHardware, FakeWlan, config  # noqa: E402

pytestmark = pytest.mark.timeout(90)

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
NODE = "garage"
BASE = "garage/evse"  # not the firmware's default (ocpp_cp/garage): must come from discovery
WAIT = 15.0


# -- the broker ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def mosquitto(tmp_path: Path, socket_enabled: None) -> Iterator[int]:
    """A Mosquitto broker on 127.0.0.1; yields its port."""
    if not Path(MOSQUITTO).is_file():
        pytest.fail("mosquitto is not installed: run scripts/ci-mqtt.sh")
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "log_dest stderr\nlog_type error\nlog_type warning\n"
    )
    log = (tmp_path / "mosquitto.log").open("wb")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mosquitto exited: {(tmp_path / 'mosquitto.log').read_text()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline:
                pytest.fail("mosquitto did not start listening")
            time.sleep(0.02)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


# -- the firmware on CPython ---------------------------------------------------------------------


class PahoUmqtt:
    """The part of umqtt.simple.MQTTClient that evse.net uses, on paho-mqtt (no threads:
    the network worker drives it through check_msg, as it drives umqtt on the device)."""

    class _Sock:
        def __init__(self, owner: PahoUmqtt) -> None:
            self._owner = owner

        def close(self) -> None:
            self._owner.disconnect()

    def __init__(
        self, client_id: str, host: str, port: int, keepalive: int, seen: list[paho.MQTTMessage]
    ) -> None:
        self._client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311
        )
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._host, self._port, self._keepalive = host, port, keepalive
        self._seen = seen
        self._connected = False
        self._callback: Callable[[bytes, bytes], None] | None = None
        self._subacks: set[int] = set()
        self.sock = self._Sock(self)

    def _on_connect(self, *args: Any) -> None:
        self._connected = True

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, *args: Any) -> None:
        self._subacks.add(mid)

    def _on_message(self, client: Any, userdata: Any, message: paho.MQTTMessage) -> None:
        self._seen.append(message)
        if self._callback is not None:
            self._callback(message.topic.encode(), message.payload)

    def set_callback(self, callback: Callable[[bytes, bytes], None]) -> None:
        self._callback = callback

    def set_last_will(self, topic: str, msg: str, retain: bool = False, qos: int = 0) -> None:
        self._client.will_set(topic, msg, qos, retain)

    def connect(self, clean_session: bool = True) -> int:
        self._client.connect(self._host, self._port, self._keepalive)
        deadline = time.monotonic() + 5
        while not self._connected:  # umqtt's connect returns after the CONNACK
            if time.monotonic() > deadline:
                raise OSError("no CONNACK")
            self._check(self._client.loop(timeout=0.05))
        return 0

    def publish(self, topic: str, msg: str, retain: bool = False, qos: int = 0) -> None:
        self._check(self._client.publish(topic, msg, qos, retain).rc)

    def subscribe(self, topic: str, qos: int = 0) -> None:
        """Returns after the SUBACK, as umqtt's does: a command published once the device is
        online is then never published before the broker knows the subscription."""
        rc, mid = self._client.subscribe(topic, qos)
        self._check(rc)
        deadline = time.monotonic() + 5
        while mid not in self._subacks:
            if time.monotonic() > deadline:
                raise OSError("no SUBACK")
            self._check(self._client.loop(timeout=0.05))
        self._subacks.discard(mid)

    def check_msg(self) -> None:
        self._check(self._client.loop(timeout=0))

    def ping(self) -> None:
        """paho's loop keeps the connection alive by itself."""

    def disconnect(self) -> None:
        if self._connected:
            self._connected = False
            self._client.disconnect()
            self._client.loop(timeout=0)

    @staticmethod
    def _check(rc: int) -> None:
        if rc != paho.MQTT_ERR_SUCCESS:
            raise OSError(f"MQTT error {rc}")


def sdm_reply(values: list[float]) -> bytes:
    data = b"".join(struct.pack(">f", v) for v in values)
    body = bytes([1, 4, len(data)]) + data
    crc = modbus.crc16(body)
    return body + bytes([crc & 0xFF, crc >> 8])


class MeteredHardware(FakeHardware):
    """fwsim's FakeHardware (a car on the pilot) on a real clock, with an NTC reading and an
    SDM630 on the UART that measures what the car draws through the contactor."""

    def __init__(self) -> None:
        super().__init__()
        self.temp_c = 24.5
        self.kwh = 1000.0
        self._t0 = self._last = time.monotonic()

    def read(self, inp: Any) -> None:
        self.t = int((time.monotonic() - self._t0) * 1000)
        super().read(inp)

    def uart_send(self, frame: bytes) -> None:
        super().uart_send(frame)
        start = frame[2] << 8 | frame[3]
        amps = self.car.amps_da / 10 if self.contactor else 0.0
        volts = [230.0, 231.0, 229.0]
        power = sum(v * amps for v in volts)
        now = time.monotonic()
        self.kwh += power * (now - self._last) / 3.6e6
        self._last = now
        values = {0x00: [*volts, amps, amps, amps], 0x34: [power], 0x48: [self.kwh]}[start]
        self.replies.append(sdm_reply(values))


class Firmware:
    """The firmware's App and network worker in their own thread and event loop."""

    def __init__(self, port: int) -> None:
        self.cfg = config(
            node_id=NODE,
            name="Garage EVSE",
            mqtt={"host": "127.0.0.1", "port": port, "base": BASE, "state_interval_s": 2},
            limits={"max_current_a": 32, "default_current_a": 16, "phases": 3},
            link={"timeout_s": 30},
            meter={"type": "sdm630"},
            pins={"uart_tx": 17, "uart_rx": 16, "ntc_adc": 32},
        )
        self.hw = MeteredHardware()
        self.app = App(self.cfg, self.hw, ticks_ms())
        # One housekeeping pass first, so the first safety-loop pass has a temperature (without
        # it the firmware flags temp_sensor at boot, clears it, and holds a 10 s re-entry guard).
        self.app.housekeeping(ticks_ms())
        self.seen: list[paho.MQTTMessage] = []  # every message the firmware received
        self.clients: list[PahoUmqtt] = []
        m = self.cfg["mqtt"]

        def client() -> PahoUmqtt:
            c = PahoUmqtt(m["client_id"], m["host"], m["port"], m["keepalive_s"], self.seen)
            self.clients.append(c)
            return c

        self.net = Net(self.app, self.cfg, FakeWlan(), client)
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="firmware-sim", daemon=True)

    def _run(self) -> None:
        loop = asyncio.SelectorEventLoop()
        self._loop = loop
        try:
            self._task = loop.create_task(self.app.run(self.net, threaded=False))
            self._ready.set()
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(self._task)
        except BaseException as err:  # surfaced by the test
            self.error = err
        finally:
            self._ready.set()
            for c in self.clients:
                with contextlib.suppress(Exception):
                    c.disconnect()
            loop.close()

    def start(self) -> None:
        """Power on."""
        self._thread.start()
        assert self._ready.wait(5)

    @property
    def started(self) -> bool:
        return self._ready.is_set()

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        assert self._loop is not None and self._task is not None
        self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(5)
        assert not self._thread.is_alive(), "the firmware thread did not stop"

    def heartbeats(self) -> list[paho.MQTTMessage]:
        return [m for m in self.seen if m.topic == f"{BASE}/heartbeat/set"]


@pytest.fixture
def firmware(mosquitto: int) -> Iterator[Firmware]:
    """The firmware, ready to power on (started by the test); always stopped afterwards."""
    fw = Firmware(mosquitto)
    try:
        yield fw
    finally:
        fw.stop()
    if fw.started:
        assert fw.hw.safe_calls == 1  # the cancelled safety loop left the outputs safe


# -- helpers -------------------------------------------------------------------------------------


async def until(predicate: Callable[[], Any], what: str, firmware: Firmware) -> None:
    """Wait (bounded) until predicate() holds; fail early if the firmware thread died."""
    try:
        async with asyncio.timeout(WAIT):
            while not predicate():
                if firmware.error is not None:
                    raise AssertionError(f"the firmware stopped: {firmware.error!r}")
                await asyncio.sleep(0.02)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


def expected_mapping() -> dict[str, Any]:
    entity = {key: f"{component}.{NODE}_{key}" for component, key, *_ in disco.rows()}
    return {
        "charge_switch": entity["charging"],
        "current_number": entity["current_limit"],
        "plug_sensor": entity["plug"],
        "status_sensor": entity["state"],
        "status_mapping": dict(STATUS_MAPPING),
        "power": entity["power"],
        "energy": entity["energy"],
        "current_l1": entity["current_l1"],
        "current_l2": entity["current_l2"],
        "current_l3": entity["current_l3"],
        "voltage_l1": entity["voltage_l1"],
        "voltage_l2": entity["voltage_l2"],
        "voltage_l3": entity["voltage_l3"],
        "current_offered": entity["offered_current"],
        "temperature": entity["temperature"],
        "phases": 3,
        "nominal_voltage": 230,
        "firmware_topic": BASE,
    }


def sampled(meter_values: dict[str, Any]) -> dict[tuple[str, str | None], float]:
    return {
        (value.get("measurand", "Energy.Active.Import.Register"), value.get("phase")): float(
            value["value"]
        )
        for sample in meter_values["meter_value"]
        for value in sample["sampled_value"]
    }


# -- the test ------------------------------------------------------------------------------------


async def test_firmware_device_charges_through_ocpp(
    hass: HomeAssistant,
    csms: TestCsms,
    mosquitto: int,
    firmware: Firmware,
    monkeypatch: pytest.MonkeyPatch,
    mock_hass_config: None,  # an empty configuration.yaml (MQTT reads it at setup)
) -> None:
    from homeassistant.components import mqtt

    monkeypatch.setattr(bridge, "FIRMWARE_HEARTBEAT_INTERVAL", timedelta(seconds=0.2))
    hw, evse = firmware.hw, firmware.app.evse

    # Home Assistant's real MQTT integration discovers the firmware.
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
    firmware.start()
    entity_ids = disco.entity_ids(firmware.cfg)
    await until(
        lambda: all(hass.states.get(e) is not None for e in entity_ids),
        "the firmware's entities",
        firmware,
    )
    await until(
        lambda: hass.states.get(f"switch.{NODE}_charging").state != "unavailable",
        "the firmware online",
        firmware,
    )
    device = dr.async_get(hass).async_get_device(identifiers={("mqtt", f"ocpp_cp_fw_{NODE}")})
    assert device is not None
    assert (device.manufacturer, device.model) == ("ocpp_cp", "MicroPython EVSE")

    # The config flow: connection (probed against the CSMS), the firmware device, the mapping
    # it filled in, submitted untouched.
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "csms_url": csms.url,
            "charge_point_id": "FW1",
            "security_profile": "0",
            "vendor": "ocpp_cp",
            "model": "MicroPython EVSE",
            "number_of_connectors": 1,
        },
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "firmware"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"firmware_device": device.id}
    )
    assert result["step_id"] == "mapping"
    expected = expected_mapping()
    suggestions = suggested_values(result)
    assert suggestions == {
        **{k: v for k, v in expected.items() if k not in ("firmware_topic", "nominal_voltage")},
        "status_mapping": "\n".join(f"{k}={v}" for k, v in STATUS_MAPPING.items()),
        "phases": "3",
    }
    result = await hass.config_entries.flow.async_configure(result["flow_id"], suggestions)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.options["mapping"] == {"1": expected}

    await until(lambda: entry.state is ConfigEntryState.LOADED, "the entry loaded", firmware)
    await csms.wait_for(
        "StatusNotification", lambda p: p["connector_id"] == 1 and p["status"] == "Available"
    )

    # ocpp_cp's heartbeat reaches the firmware through the broker (once at start, then every
    # interval), not retained, and keeps its link supervision happy.
    await until(lambda: len(firmware.heartbeats()) >= 3, "three heartbeats", firmware)
    assert not any(m.retain for m in firmware.heartbeats())
    assert evse.link.ok

    await csms.call(call.ChangeConfiguration(key="MeterValueSampleInterval", value="1"))
    await csms.call(
        call.ChangeConfiguration(
            key="MeterValuesSampledData",
            value="Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,"
            "Current.Offered,Temperature",
        )
    )

    # The car is plugged in: pilot B.
    assert not evse.enabled  # no transaction: ocpp_cp switched charging off
    hw.car.state = "B"
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Preparing")
    assert evse.state == "waiting"
    assert not hw.contactor

    # RemoteStartTransaction: the switch goes on over MQTT, the firmware starts the PWM, the
    # car asks for energy (C) and the contactor closes.
    received = len(csms.received)
    result = await csms.call(call.RemoteStartTransaction(id_tag="REMOTE1", connector_id=1))
    assert result.status == "Accepted"
    start = await csms.wait_for("StartTransaction", after=received)
    assert start["connector_id"] == 1
    assert start["id_tag"] == "REMOTE1"
    await until(lambda: evse.enabled and evse.offered >= 60, "the PWM", firmware)
    assert not hw.contactor  # the car is still in B
    assert getattr(evse, "_guard_at", None) is None  # no re-entry guard from a boot fault
    hw.car.state = "C"
    t_c = time.monotonic()
    await until(lambda: hw.contactor, "the contactor to close", firmware)
    assert 0.4 <= time.monotonic() - t_c <= 3.0
    assert evse.pilot == "C"
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Charging", after=received)

    # Meter values: what the (simulated) meter measures behind the contactor.
    values = sampled(
        await csms.wait_for(
            "MeterValues",
            lambda p: (
                p.get("transaction_id") is not None
                and sampled(p).get(("Power.Active.Import", None), 0) > 1000
            ),
            after=received,
        )
    )
    amps = hw.car.amps_da / 10
    assert amps >= 6
    for phase in ("L1", "L2", "L3"):
        assert values[("Current.Import", phase)] == pytest.approx(amps, abs=0.1)
    assert values[("Voltage", "L1-N")] == pytest.approx(230.0)
    assert values[("Temperature", None)] == pytest.approx(24.5)
    assert ("Energy.Active.Import.Register", None) in values
    assert values[("Current.Offered", None)] == pytest.approx(evse.offered / 10)

    # RemoteStopTransaction: charging off, the car stops drawing and leaves C, the contactor
    # opens and the transaction ends.
    hw.car.leave_c_ms = 200
    received = len(csms.received)
    result = await csms.call(call.RemoteStopTransaction(transaction_id=start_id(csms)))
    assert result.status == "Accepted"
    await csms.wait_for("StopTransaction", after=received)
    await until(lambda: not hw.contactor and not evse.enabled, "the contactor to open", firmware)
    assert firmware.error is None
    assert evse.fault is None

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_add_executor_job(firmware.stop)
    assert await hass.config_entries.async_unload(mqtt_entry.entry_id)
    await hass.async_block_till_done()


def start_id(csms: TestCsms) -> int:
    """The id the test CSMS gave the last transaction."""
    return csms.next_transaction_id
