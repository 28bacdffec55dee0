"""The command-line simulator as a black box: stdin commands in, JSON lines out."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call

from tests.csms import TestCsms
from tests.engine.tls import make_pki

ROOT = Path(__file__).resolve().parents[2]


class Simulator:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(
        cls,
        url: str,
        state_dir: Path,
        *extra: str,
        env: dict[str, str] | None = None,
        stderr: bool = False,
        energy_model: bool = False,
    ) -> Simulator:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "custom_components.ocpp_cp.engine",
            "--url",
            url,
            "--id",
            "SIM1",
            "--state-dir",
            str(state_dir),
            "--reconnect-delay",
            "0.1",
            *(() if energy_model else ("--no-energy-model",)),
            *extra,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE if stderr else None,
            env={**os.environ, **env} if env else None,
        )
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            self.lines.append(json.loads(raw))
            self._changed.set()

    async def send(self, command: str) -> dict[str, Any]:
        """Send one command and return its acknowledgement line."""
        assert self.process.stdin is not None
        mark = len(self.lines)
        self.process.stdin.write(command.encode() + b"\n")
        await self.process.stdin.drain()
        return await self.wait(lambda e: e["event"] == "command" and e["command"] == command, mark)

    async def wait(
        self, predicate: Callable[[dict[str, Any]], bool], after: int = 0, timeout: float = 10
    ) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                for line in self.lines[after:]:
                    if predicate(line):
                        return line
                self._changed.clear()
                await self._changed.wait()

    def sent(self, action: str) -> list[dict[str, Any]]:
        """Payloads of the CALLs the simulator put on the wire."""
        return [
            e["frame"][3]
            for e in self.lines
            if e["event"] == "frame"
            and e["direction"] == "out"
            and e["frame"][0] == 2
            and e["frame"][2] == action
        ]

    async def quit(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.write(b"quit\n")
        await self.process.stdin.drain()
        code = await asyncio.wait_for(self.process.wait(), 10)
        await self._reader
        return code

    async def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        self._reader.cancel()

    async def kill_and_read_stderr(self) -> str:
        await self.kill()
        assert self.process.stderr is not None
        return (await self.process.stderr.read()).decode("utf-8", "replace")


def is_status(status: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["event"] == "status" and e["status"] == status and e["connector_id"] == 1


async def test_the_energy_register_counts_what_the_car_draws(
    csms: TestCsms, tmp_path: Path
) -> None:
    """By default a session reports real Wh (16 A x 230 V is about 1 Wh a second), and the
    register survives a SIGKILL at or above every value the CSMS saw."""
    sim = await Simulator.start(csms.url, tmp_path, "--max-current", "16", energy_model=True)
    try:
        await sim.wait(lambda e: e["event"] == "state" and e["state"] == "accepted")
        await csms.call(call.ChangeConfiguration(key="MeterValueSampleInterval", value="1"))
        await sim.send("plug 1")
        assert (await sim.send("swipe CARD1"))["result"] == "started"
        start = await csms.wait_for("StartTransaction")
        loop = asyncio.get_running_loop()
        charging_from = loop.time()
        await sim.send("ev-charging 1")
        await sim.wait(is_status("Charging"))
        await asyncio.sleep(3.5)
        await sim.send("unplug 1")
        stop = await csms.wait_for("StopTransaction")
        charged_for = loop.time() - charging_from  # over 3.5 s when the machine is loaded
        drawn = stop["meter_stop"] - start["meter_start"]
        # 3.68 kW is 1.02 Wh a second: 5 Wh for an unloaded run, proportionally more otherwise
        assert 2 <= drawn <= max(5, 1.05 * charged_for + 1), (drawn, charged_for)
        await sim.send("plug 1")
        await sim.send("swipe CARD1")
        await sim.send("ev-charging 1")
        await sim.wait(is_status("Charging"))
        await asyncio.sleep(2.5)
    finally:
        await sim.kill()
    seen = max(
        float(sample["value"])
        for payload in csms.actions("MeterValues")
        for value in payload["meter_value"]
        for sample in value["sampled_value"]
        if sample.get("measurand") == "Energy.Active.Import.Register"
    )
    again = await Simulator.start(csms.url, tmp_path, energy_model=True)
    try:
        await again.send("unplug 1")
        last_stop = await csms.wait_for("StopTransaction", lambda p: p["transaction_id"] == 2)
        assert last_stop["meter_stop"] >= int(seen)
        assert await again.quit() == 0
    finally:
        if again.process.returncode is None:
            await again.kill()


async def test_whole_session_through_stdin(csms: TestCsms, tmp_path: Path) -> None:
    sim = await Simulator.start(csms.url, tmp_path)
    try:
        await sim.wait(lambda e: e["event"] == "state" and e["state"] == "accepted")
        assert (await sim.send("meter 1 1000"))["ok"] is True
        await sim.send("plug 1")
        await csms.wait_for("StatusNotification", lambda p: p["status"] == "Preparing")
        ack = await sim.send("swipe CARD1")
        assert ack["result"] == "started"
        start = await csms.wait_for("StartTransaction")
        assert (start["meter_start"], start["id_tag"]) == (1000, "CARD1")
        await sim.send("ev-charging 1")
        await sim.wait(is_status("Charging"))
        await sim.wait(lambda e: e["event"] == "hardware" and e.get("permitted") is True)
        await sim.send("meter 1 2500")
        await sim.send("unplug 1")
        stop = await csms.wait_for("StopTransaction")
        assert (stop["meter_stop"], stop["transaction_id"], stop["reason"]) == (
            2500,
            1,
            "EVDisconnected",
        )
        await sim.wait(is_status("Available"))
        bad = await sim.send("meter 1 10")
        assert bad["ok"] is False
        assert "never goes backwards" in bad["error"]
        unknown = await sim.send("dance 1")
        assert unknown["ok"] is False
        # the JSON lines carry every frame in both directions
        assert sim.sent("StartTransaction")[0]["idTag"] == "CARD1"
        assert any(
            e["event"] == "frame" and e["direction"] == "in" and e["frame"][0] == 3
            for e in sim.lines
        )
    finally:
        assert await sim.quit() == 0


async def test_offline_and_online_commands(csms: TestCsms, tmp_path: Path) -> None:
    sim = await Simulator.start(csms.url, tmp_path)
    try:
        await sim.wait(lambda e: e["event"] == "state" and e["state"] == "accepted")
        mark = len(sim.lines)
        await sim.send("offline")
        await sim.wait(lambda e: e["event"] == "state" and e["state"] == "disconnected", mark)
        await asyncio.sleep(0.3)
        assert csms.connection_count == 1
        await sim.send("online")
        await sim.wait(lambda e: e["event"] == "state" and e["state"] == "accepted", mark)
        assert csms.connection_count == 2
    finally:
        assert await sim.quit() == 0


async def test_sigkill_mid_session_then_restart_continues(csms: TestCsms, tmp_path: Path) -> None:
    first = await Simulator.start(csms.url, tmp_path)
    try:
        await first.wait(lambda e: e["event"] == "state" and e["state"] == "accepted")
        await first.send("meter 1 4000")
        await first.send("plug 1")
        await first.send("swipe CARD9")
        await first.wait(
            lambda e: e["event"] == "transaction"
            and e["change"] == "confirmed"
            and e["transaction_id"] == 1
        )
        await first.send("ev-charging 1")
        await first.send("meter 1 4700")
    finally:
        await first.kill()
    await csms.stop()
    server = await TestCsms.start(port=csms.port)
    second = await Simulator.start(server.url, tmp_path)
    try:
        await second.wait(lambda e: e["event"] == "state" and e["state"] == "accepted")
        assert len(server.actions("BootNotification")) == 1  # the restart is a reboot
        # the transaction is still there, with the id the CSMS gave it
        await second.send("plug 1")
        older = await second.send("meter 1 4500")
        assert older["ok"] is False  # the energy register was persisted at 4700
        await second.send("meter 1 5200")
        await second.send("unplug 1")
        stop = await server.wait_for("StopTransaction")
        assert stop["transaction_id"] == 1
        assert stop["meter_stop"] == 5200
        assert server.actions("StartTransaction") == []  # no duplicate transaction
    finally:
        assert await second.quit() == 0
        await server.stop()


async def test_sigkill_then_car_gone_ends_with_power_loss(csms: TestCsms, tmp_path: Path) -> None:
    first = await Simulator.start(csms.url, tmp_path)
    try:
        await first.wait(lambda e: e["event"] == "state" and e["state"] == "accepted")
        await first.send("meter 1 1000")
        await first.send("plug 1")
        await first.send("swipe CARD3")
        await first.wait(lambda e: e["event"] == "transaction" and e["change"] == "confirmed")
        await first.send("meter 1 1800")
    finally:
        await first.kill()
    killed_at = datetime.now(UTC).timestamp()
    second = await Simulator.start(csms.url, tmp_path)
    try:
        await second.wait(lambda e: e["event"] == "state" and e["state"] == "accepted")
        await second.send("unplug 1")  # the first news from the hardware: the car left
        stop = await csms.wait_for("StopTransaction")
        assert (stop["transaction_id"], stop["reason"], stop["meter_stop"]) == (
            1,
            "PowerLoss",
            1800,
        )
        stopped_at = datetime.fromisoformat(stop["timestamp"].replace("Z", "+00:00"))
        assert stopped_at.timestamp() <= killed_at  # when it was last seen, not now
        assert len(csms.actions("StartTransaction")) == 1
    finally:
        assert await second.quit() == 0


async def test_no_input_crashes_the_simulator(csms: TestCsms, tmp_path: Path) -> None:
    """Every bad line is an ok:false with the reason; the process keeps going."""
    sim = await Simulator.start(csms.url, tmp_path, "--connectors", "2")
    try:
        bad_lines = {
            "plug 5": "no connector 5",
            "plug 0": "no connector 0",
            "plug": "wrong number of arguments",
            "swipe": "wrong number of arguments",
            "plug one": "not a connector number",
            "swipe TAG 9": "no connector 9",
            "fault 1 Melted": "not an OCPP 1.6 error code",
            "meter 1 lots": "not a number",
            "meter 1 nan": "never goes backwards",
            "dance 1": "unknown command",
            "plug 1 2": "wrong number of arguments",
        }
        for line, reason in bad_lines.items():
            answer = await sim.send(line)
            assert answer["ok"] is False, line
            assert reason in answer["error"], (line, answer["error"])
        helped = await sim.send("help")
        assert helped["ok"] is True and "swipe TAG [N]" in helped["result"]
        assert (await sim.send("plug 2"))["ok"] is True
        assert sim.process.returncode is None
    finally:
        await sim.kill()


async def test_simulator_options_shape_the_charge_point(csms: TestCsms, tmp_path: Path) -> None:
    sim = await Simulator.start(
        csms.url,
        tmp_path,
        "--serial",
        "SIM-SN-7",
        "--no-lock",
        "1",
        "--feature-profiles",
        "Core,RemoteTrigger",
    )
    try:
        boot = await csms.wait_for("BootNotification")
        assert boot["charge_point_serial_number"] == boot["charge_box_serial_number"] == "SIM-SN-7"
        await csms.wait_for("StatusNotification", lambda p: p["connector_id"] == 1)
        unlock = await csms.call(call.UnlockConnector(connector_id=1))
        assert unlock.status == "NotSupported"
        got = await csms.call(call.GetConfiguration(key=["LocalAuthListEnabled"]))
        assert got.unknown_key == ["LocalAuthListEnabled"]
        profiles = await csms.call(call.GetConfiguration(key=["SupportedFeatureProfiles"]))
        assert profiles.configuration_key[0]["value"] == "Core,RemoteTrigger"
        assert (await csms.call(call.GetLocalListVersion())).list_version == -1
        listed = await csms.call(call.SendLocalList(list_version=1, update_type="Full"))
        assert listed.status == "NotSupported"
        reserve = '[2,"r1","ReserveNow",{"connectorId":1,"expiryDate":"2030-01-01T00:00:00Z",'
        await csms.send_raw(reserve + '"idTag":"A","reservationId":1}]')
        answer = await csms.wait_raw(lambda frame: frame[1] == "r1")
        assert answer[:3] == [4, "r1", "NotSupported"]
    finally:
        await sim.kill()


@pytest.mark.parametrize("profile", [1, 2])
async def test_no_secret_in_any_output_with_verbose_logs(tmp_path: Path, profile: int) -> None:
    """Neither the AuthorizationKey nor its Basic header appears on stdout or stderr (-v),
    whether the key came from the environment or from ChangeConfiguration."""
    old_key, new_key = "OldSecretKey-0123456789", "NewSecretKey-9876543210"
    (tmp_path / "pki").mkdir()
    pki = make_pki(tmp_path / "pki")
    csms = await TestCsms.start(pki.server_context() if profile == 2 else None)
    csms.expected_password = old_key
    extra = ["--security-profile", str(profile), "-v"]
    if profile == 2:
        extra += ["--ca-file", str(pki.ca_file)]
    sim = await Simulator.start(
        csms.url, tmp_path / "state", *extra, env={"OCPP_CP_AUTH_KEY": old_key}, stderr=True
    )
    try:
        await csms.wait_for("StatusNotification", lambda p: p["connector_id"] == 1)
        rejected = await csms.call(call.ChangeConfiguration(key="authorizationkey", value="short"))
        assert rejected.status == "Rejected"
        csms.expected_password = new_key  # the charge point reconnects with it at once
        changed = await csms.call(call.ChangeConfiguration(key="AuthorizationKey", value=new_key))
        assert changed.status == "Accepted"
        mark = len(csms.received)
        await csms.wait_for("StatusNotification", after=mark, timeout=15)  # reconnected
    finally:
        stderr = await sim.kill_and_read_stderr()
        await csms.stop()
    stdout = "\n".join(json.dumps(line) for line in sim.lines)
    secrets = [old_key, new_key]
    secrets += [base64.b64encode(f"SIM1:{key}".encode()).decode() for key in secrets]
    assert "ChangeConfiguration" in stdout  # the frames are there, redacted
    for secret in secrets:
        assert secret not in stdout
        assert secret not in stderr
    shown = [
        line["frame"][3]
        for line in sim.lines
        if line["event"] == "frame"
        and line["frame"][:1] == [2]
        and "Configuration" in line["frame"][2]
    ]
    assert {"key": "AuthorizationKey", "value": "***"} in shown
