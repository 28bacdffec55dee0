"""The simulator's TLS options and its sign-certificate command, as a subprocess: the CSR
reaches the CSMS, the key stays in the state directory (0600) and out of every output."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from ocpp.v16 import call_result

from tests.csms import TestCsms

from .test_simulator import Simulator
from .tls import root_ca, server_leaf, tls_server


async def test_sign_certificate_with_expected_server_name(tmp_path: Path) -> None:
    root = root_ca("CSMS root")
    (tmp_path / "root.pem").write_text(root.pem)
    csms = await TestCsms.start(ssl_context=tls_server(tmp_path, server_leaf(root, "csms.example")))
    state = tmp_path / "state"
    options = ["--ca-file", str(tmp_path / "root.pem"), "-v"]
    sim = await Simulator.start(
        csms.url, state, *options, "--tls-server-name", "csms.example", stderr=True
    )
    try:
        session = await csms.wait_connected()
        csrs: list[str] = []

        def on_sign_certificate(csr: str) -> Any:
            csrs.append(csr)
            return call_result.SignCertificate(status="Accepted")

        session.side.route_map["SignCertificate"] = {
            "_on_action": on_sign_certificate,
            "_skip_schema_validation": False,
        }
        ack = await sim.send("sign-certificate")
        assert ack["ok"] is True, ack
        assert ack["result"] == "sent"
        assert len(csrs) == 1
        assert sim.sent("SignCertificate") == [{"csr": csrs[0]}]
        key_file = state / "queue.sqlite3.csr-key.pem"
        assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
        key_body = key_file.read_text().split("-----")[2].strip().splitlines()[0]
    finally:
        stderr = await sim.kill_and_read_stderr()
        await csms.stop()
    assert "SignCertificate" in stderr  # verbose logs were on
    stdout = "\n".join(json.dumps(line) for line in sim.lines)
    assert key_body not in stdout
    assert key_body not in stderr


async def test_sign_certificate_offline_is_a_failed_command(tmp_path: Path) -> None:
    sim = await Simulator.start("ws://127.0.0.1:9/ocpp", tmp_path / "state")
    try:
        ack = await sim.send("sign-certificate")
        assert ack["ok"] is False
        assert ack["error"].startswith("SignCertificate failed")
    finally:
        assert await sim.quit() == 0
