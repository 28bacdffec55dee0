"""Repairs for certificates that expire within 30 days: the client certificate of profile 3
and a CSMS root installed with InstallCertificate, against a real TLS CSMS."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from ocpp.v16 import call, call_result
from pytest_homeassistant_custom_component.common import async_mock_service

from custom_components.ocpp_cp.bridge import queue_path
from custom_components.ocpp_cp.certificate_repairs import issue_prefix
from custom_components.ocpp_cp.const import DOMAIN
from tests.csms import TestCsms
from tests.engine.tls import (
    client_leaf,
    pem,
    root_ca,
    server_leaf,
    sign_csr,
    tls_server,
    write_pair,
)

from .test_bridge import set_up


def expiry_issues(hass: HomeAssistant, entry_id: str) -> list[ir.IssueEntry]:
    registry = ir.async_get(hass)
    return [
        issue
        for (domain, issue_id), issue in registry.issues.items()
        if domain == DOMAIN and issue_id.startswith(issue_prefix(entry_id))
    ]


async def wait_issues(hass: HomeAssistant, entry_id: str, count: int) -> list[ir.IssueEntry]:
    async with asyncio.timeout(10):
        while len(issues := expiry_issues(hass, entry_id)) != count:
            await hass.async_block_till_done()
            await asyncio.sleep(0.01)
    return issues


async def test_expiring_certificates_raise_repairs(hass: HomeAssistant, tmp_path: Path) -> None:
    async_mock_service(hass, "switch", "turn_on")
    async_mock_service(hass, "switch", "turn_off")
    root = root_ca("Long-lived CSMS root", days=365)
    (tmp_path / "root.pem").write_text(root.pem)
    cert_file, key_file = write_pair(tmp_path, "client", client_leaf(root))  # valid one day
    csms = await TestCsms.start(
        ssl_context=tls_server(tmp_path, server_leaf(root), client_ca=(root.cert,))
    )
    try:
        data = {
            "security_profile": 3,
            "ca_file": str(tmp_path / "root.pem"),
            "client_cert_file": cert_file,
            "client_key_file": key_file,
        }
        entry = await set_up(hass, csms, data)
        [client] = await wait_issues(hass, entry.entry_id, 1)
        assert client.translation_key == "certificate_expiring"
        assert client.severity == ir.IssueSeverity.WARNING
        placeholders = client.translation_placeholders or {}
        assert placeholders["kind"] == "ChargePointCertificate"
        assert placeholders["subject"] == "CN=CP1"
        assert placeholders["charge_point_id"] == "CP1"

        long_lived = await csms.call(
            call.InstallCertificate(
                certificate_type="CentralSystemRootCertificate", certificate=root.pem
            )
        )
        assert long_lived.status == "Accepted"
        short = root_ca("Short-lived CSMS root")  # one day
        answer = await csms.call(
            call.InstallCertificate(
                certificate_type="CentralSystemRootCertificate", certificate=short.pem
            )
        )
        assert answer.status == "Accepted"
        issues = await wait_issues(hass, entry.entry_id, 2)
        subjects = {(i.translation_placeholders or {})["subject"] for i in issues}
        assert subjects == {"CN=CP1", "CN=Short-lived CSMS root"}

        ids = await csms.call(
            call.GetInstalledCertificateIds(certificate_type="CentralSystemRootCertificate")
        )
        answer = await csms.call(
            call.DeleteCertificate(certificate_hash_data=ids.certificate_hash_data[1])
        )
        assert answer.status == "Accepted"
        [left] = await wait_issues(hass, entry.entry_id, 1)
        assert (left.translation_placeholders or {})["subject"] == "CN=CP1"

        # a certificate signed by the CSMS, inside Home Assistant (no blocking I/O in its
        # loop): the charge point reconnects with it; its files go with the entry
        session = await csms.wait_connected()
        csrs: list[str] = []

        def on_sign_certificate(csr: str) -> Any:
            csrs.append(csr)
            return call_result.SignCertificate(status="Accepted")

        session.side.route_map["SignCertificate"] = {
            "_on_action": on_sign_certificate,
            "_skip_schema_validation": False,
        }
        engine = entry.runtime_data.engine
        await engine.services.certificates.request_signing()
        key_file = Path(f"{queue_path(hass, entry.entry_id)}.csr-key.pem")
        assert key_file.is_file()
        signed = sign_csr(csrs[0], root)
        answer = await csms.call(call.CertificateSigned(certificate_chain=pem(signed)))
        assert answer.status == "Accepted"
        async with asyncio.timeout(10):
            while csms.connection_count < 2 or not csms.sessions:
                await asyncio.sleep(0.01)
        peer = csms.session.websocket.transport.get_extra_info("peercert")
        assert int(peer["serialNumber"], 16) == signed.serial_number
        files = engine.services.certificates.client_files()
        assert files is not None
        assert all(Path(path).is_file() for path in files)
        await hass.config_entries.async_remove(entry.entry_id)
        assert not any(Path(path).exists() for path in files)
    finally:
        await csms.stop()
