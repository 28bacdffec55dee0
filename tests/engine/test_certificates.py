"""Certificate management of the 1.6 security whitepaper against a real CSMS on 127.0.0.1:
InstallCertificate / DeleteCertificate / GetInstalledCertificateIds, the installed roots as
the wss trust store, SignCertificate / CertificateSigned, and profile 3 end to end."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from ocpp.v16 import call, call_result

from custom_components.ocpp_cp.engine import (
    ChargePointEngine,
    ConnectionState,
    SecurityProfile,
    pki,
)
from custom_components.ocpp_cp.engine.journal import Journal, JournalError
from tests.csms import TestCsms

from .conftest import EngineFactory
from .test_core import wait_state
from .tls import (
    client_leaf,
    pem,
    root_ca,
    server_leaf,
    sign_csr,
    signed_ca,
    tls_server,
    write_pair,
)

AUTH_KEY = "0123456789abcdef0123"
CSMS_ROOT = "CentralSystemRootCertificate"
MANUFACTURER_ROOT = "ManufacturerRootCertificate"


def expected_hash_data(cert: x509.Certificate, issuer: x509.Certificate) -> dict[str, str]:
    """The whitepaper's CertificateHashDataType, computed here independently of the engine."""
    point = issuer.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": hashlib.sha256(cert.issuer.public_bytes()).hexdigest(),
        "issuerKeyHash": hashlib.sha256(point).hexdigest(),
        "serialNumber": format(cert.serial_number, "x"),
    }


def snake(data: dict[str, str]) -> dict[str, str]:
    return {
        "hash_algorithm": data["hashAlgorithm"],
        "issuer_name_hash": data["issuerNameHash"],
        "issuer_key_hash": data["issuerKeyHash"],
        "serial_number": data["serialNumber"],
    }


def answers(csms: TestCsms) -> list[list[Any]]:
    """Every CALLRESULT frame the charge point sent, in order."""
    return [json.loads(text) for text in csms.raw_in if json.loads(text)[0] == 3]


def record_events(engine: ChargePointEngine) -> list[tuple[str, str | None]]:
    events: list[tuple[str, str | None]] = []
    engine.ctx.security_sink = lambda kind, info: events.append((kind, info))
    return events


async def installed(csms: TestCsms, kind: str) -> Any:
    return await csms.call(call.GetInstalledCertificateIds(certificate_type=kind))


async def accepted(csms: TestCsms, engine: ChargePointEngine, timeout: float = 10) -> None:
    await csms.wait_connected(timeout)
    await wait_state(engine, ConnectionState.ACCEPTED, timeout)


@pytest.fixture
async def csms() -> AsyncIterator[TestCsms]:
    server = await TestCsms.start()
    yield server
    await server.stop()


async def test_install_list_delete_roots_durably(
    csms: TestCsms, make_engine: EngineFactory, tmp_path: Path
) -> None:
    queue = str(tmp_path / "queue.sqlite3")
    engine = make_engine(csms.url, queue_path=queue)
    events = record_events(engine)
    await engine.start()
    await accepted(csms, engine)
    assert (await installed(csms, CSMS_ROOT)).status == "NotFound"
    csms_root, maker = root_ca("CSMS root"), root_ca("Manufacturer root")
    answer = await csms.call(
        call.InstallCertificate(certificate_type=CSMS_ROOT, certificate=csms_root.pem)
    )
    assert answer.status == "Accepted"
    answer = await csms.call(
        call.InstallCertificate(certificate_type=MANUFACTURER_ROOT, certificate=maker.pem)
    )
    assert answer.status == "Accepted"
    listed = await installed(csms, CSMS_ROOT)
    assert listed.status == "Accepted"
    assert listed.certificate_hash_data == [
        snake(expected_hash_data(csms_root.cert, csms_root.cert))
    ]
    makers = await installed(csms, MANUFACTURER_ROOT)
    assert makers.certificate_hash_data == [snake(expected_hash_data(maker.cert, maker.cert))]
    assert engine.services.certificates.roots(MANUFACTURER_ROOT) == [maker.cert]
    # refused: expired, not a CA, not a certificate, several at once, a full store
    expired = root_ca("expired root", expired=True)
    leaf = server_leaf(csms_root)
    for text in (expired.pem, leaf.pem, "not a certificate", csms_root.pem + maker.pem):
        answer = await csms.call(
            call.InstallCertificate(certificate_type=CSMS_ROOT, certificate=text)
        )
        assert answer.status == "Rejected", text[:40]
    assert [kind for kind, _ in events].count("InvalidCentralSystemCertificate") == 4
    engine.config.set_internal("CertificateStoreMaxLength", "2")
    answer = await csms.call(
        call.InstallCertificate(certificate_type=CSMS_ROOT, certificate=root_ca("third").pem)
    )
    assert answer.status == "Rejected"
    # every answer on the wire, frame by frame, in order
    accepted_ids = {"status": "Accepted"}
    rejected = {"status": "Rejected"}
    assert [frame[2] for frame in answers(csms)] == [
        {"status": "NotFound"},
        accepted_ids,
        accepted_ids,
        {
            "status": "Accepted",
            "certificateHashData": [expected_hash_data(csms_root.cert, csms_root.cert)],
        },
        {"status": "Accepted", "certificateHashData": [expected_hash_data(maker.cert, maker.cert)]},
        rejected,
        rejected,
        rejected,
        rejected,
        rejected,
    ]
    # durable: a new engine on the same journal lists the same roots
    await engine.stop()
    csms.received.clear()
    again = make_engine(csms.url, queue_path=queue)
    await again.start()
    await accepted(csms, again)
    listed = await installed(csms, CSMS_ROOT)
    assert listed.certificate_hash_data == [
        snake(expected_hash_data(csms_root.cert, csms_root.cert))
    ]
    # delete: an unknown one is NotFound, a known one (upper-case hex, a leading zero where
    # it fits, as some CSMSes send it) is Accepted and gone
    unknown = expected_hash_data(maker.cert, maker.cert) | {"serialNumber": "1234"}
    answer = await csms.call(call.DeleteCertificate(certificate_hash_data=snake(unknown)))
    assert answer.status == "NotFound"
    wanted = expected_hash_data(maker.cert, maker.cert)
    wanted = wanted | {"issuerKeyHash": wanted["issuerKeyHash"].upper()}
    wanted["serialNumber"] = ("0" + wanted["serialNumber"])[-40:].upper()
    answer = await csms.call(call.DeleteCertificate(certificate_hash_data=snake(wanted)))
    assert answer.status == "Accepted"
    assert (await installed(csms, MANUFACTURER_ROOT)).status == "NotFound"
    assert again.services.certificates.roots(MANUFACTURER_ROOT) == []
    saved = await again.journal.load_document("certificates")
    assert [root["type"] for root in saved["roots"]] == [CSMS_ROOT]


async def test_additional_root_certificate_check(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    engine = make_engine(csms.url, additional_root_certificate_check=True)
    events = record_events(engine)
    await engine.start()
    await accepted(csms, engine)
    config = await csms.call(call.GetConfiguration(key=["AdditionalRootCertificateCheck"]))
    assert config.configuration_key == [
        {"key": "AdditionalRootCertificateCheck", "readonly": True, "value": "true"}
    ]
    old = root_ca("old CSMS root")
    assert (
        await csms.call(call.InstallCertificate(certificate_type=CSMS_ROOT, certificate=old.pem))
    ).status == "Accepted"
    stranger = root_ca("a root not signed by the old one")
    answer = await csms.call(
        call.InstallCertificate(certificate_type=CSMS_ROOT, certificate=stranger.pem)
    )
    assert answer.status == "Rejected"
    assert ("InvalidCentralSystemCertificate", "not signed by the installed CSMS root") in events
    new = signed_ca("new CSMS root", old)  # the new root, signed by the one it replaces
    answer = await csms.call(
        call.InstallCertificate(certificate_type=CSMS_ROOT, certificate=new.pem)
    )
    assert answer.status == "Accepted"
    # the old one stays as the fallback until the next replacement
    listed = await installed(csms, CSMS_ROOT)
    assert listed.certificate_hash_data == [
        snake(expected_hash_data(old.cert, old.cert)),
        snake(expected_hash_data(new.cert, old.cert)),
    ]
    newer = signed_ca("newer CSMS root", new)
    answer = await csms.call(
        call.InstallCertificate(certificate_type=CSMS_ROOT, certificate=newer.pem)
    )
    assert answer.status == "Accepted"
    assert engine.services.certificates.roots(CSMS_ROOT) == [new.cert, newer.cert]
    assert [kind for kind, _ in events].count("ReconfigurationOfSecurityParameters") == 3


async def test_installed_root_is_the_trust_store(
    csms: TestCsms, make_engine: EngineFactory, tmp_path: Path
) -> None:
    """No CA file: the CSMS installs its root over ws://, and the charge point then trusts a
    wss:// CSMS whose certificate it signed (after a restart, from the journal)."""
    root = root_ca("CSMS root")
    tls = await TestCsms.start(ssl_context=tls_server(tmp_path, server_leaf(root)))
    try:
        tls.expected_password = AUTH_KEY
        queue = str(tmp_path / "queue.sqlite3")
        options: dict[str, Any] = {
            "security_profile": SecurityProfile.TLS_BASIC_AUTH,
            "authorization_key": AUTH_KEY,
            "queue_path": queue,
        }
        untrusting = make_engine(tls.url, **options)
        events = record_events(untrusting)
        await untrusting.start()
        async with asyncio.timeout(10):
            while untrusting.last_error is None:
                await asyncio.sleep(0.01)
        assert "not signed by a trusted CA" in untrusting.last_error
        assert events[0][0] == "CentralSystemFailedToAuthenticate"
        await untrusting.stop()
        assert tls.connection_count == 0

        installer = make_engine(csms.url, queue_path=queue)
        await installer.start()
        await accepted(csms, installer)
        answer = await csms.call(
            call.InstallCertificate(certificate_type=CSMS_ROOT, certificate=root.pem)
        )
        assert answer.status == "Accepted"
        await installer.stop()

        trusting = make_engine(tls.url, **options)
        await trusting.start()
        await accepted(tls, trusting)
        # deleting the only root a wss connection depends on is refused
        ids = await tls.call(call.GetInstalledCertificateIds(certificate_type=CSMS_ROOT))
        data = ids.certificate_hash_data[0]
        answer = await tls.call(call.DeleteCertificate(certificate_hash_data=data))
        assert answer.status == "Failed"
    finally:
        await tls.stop()


async def sign_certificate_csms(server: TestCsms) -> asyncio.Queue[str]:
    """Let the CSMS side answer SignCertificate (Accepted) and hand each CSR to the test."""
    requests: asyncio.Queue[str] = asyncio.Queue()
    session = await server.wait_connected()

    def on_sign_certificate(csr: str) -> Any:
        requests.put_nowait(csr)
        return call_result.SignCertificate(status="Accepted")

    session.side.route_map["SignCertificate"] = {
        "_on_action": on_sign_certificate,
        "_skip_schema_validation": False,
    }
    return requests


async def test_profile_3_end_to_end(
    make_engine: EngineFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """CSR -> SignCertificate -> CertificateSigned -> the charge point reconnects at once with
    the new client certificate to a CSMS that requires one; refused chains first."""
    caplog.set_level(logging.DEBUG)
    root = root_ca("CSMS root")
    issuing = signed_ca("CSMS client CA", root)
    bootstrap = client_leaf(root, "CP1")  # the factory certificate of the charge point
    boot_cert, boot_key = write_pair(tmp_path, "boot", bootstrap)
    (tmp_path / "root.pem").write_text(root.pem)
    context = tls_server(tmp_path, server_leaf(root), client_ca=(root.cert,))
    csms = await TestCsms.start(ssl_context=context)
    queue = str(tmp_path / "queue.sqlite3")
    try:
        options: dict[str, Any] = {
            "security_profile": SecurityProfile.TLS_CLIENT_CERT,
            "ca_file": str(tmp_path / "root.pem"),
            "client_cert_file": boot_cert,
            "client_key_file": boot_key,
            "queue_path": queue,
        }
        engine = make_engine(csms.url, **options)
        events = record_events(engine)
        await engine.start()
        await accepted(csms, engine)
        first_peer = csms.session.websocket.transport.get_extra_info("peercert")
        assert dict(x[0] for x in first_peer["subject"])["commonName"] == "CP1"
        answer = await csms.call(call.ChangeConfiguration(key="CpoName", value="Example CPO"))
        assert answer.status == "Accepted"
        answer = await csms.call(
            call.InstallCertificate(certificate_type=CSMS_ROOT, certificate=root.pem)
        )
        assert answer.status == "Accepted"

        requests = await sign_certificate_csms(csms)
        await engine.services.certificates.request_signing()
        csr_pem = await asyncio.wait_for(requests.get(), 5)
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        assert csr.is_signature_valid
        subject = {a.oid: a.value for a in csr.subject}
        assert subject == {
            NameOID.ORGANIZATION_NAME: "Example CPO",
            NameOID.COMMON_NAME: "CP1",
        }
        key_file = f"{queue}.csr-key.pem"
        assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
        key_pem = Path(key_file).read_text()
        assert "PRIVATE KEY" in key_pem
        sign_frame = next(json.loads(t) for t in csms.raw_in if '"SignCertificate"' in t)
        assert sign_frame[2:] == ["SignCertificate", {"csr": csr_pem}]

        good = sign_csr(csr_pem, issuing)
        refused: list[tuple[str, str]] = [
            (pem(sign_csr(csr_pem, issuing, expired=True), issuing.cert), "expired"),
            (pem(sign_csr(csr_pem, root_ca("foreign CA")), issuing.cert), "not signed"),
            (pem(good), "does not lead to an installed"),  # the intermediate is missing
            (pem(server_leaf(issuing, "CP1").cert, issuing.cert), "not for the key"),
        ]
        for chain, why in refused:
            answer = await csms.call(call.CertificateSigned(certificate_chain=chain))
            assert answer.status == "Rejected", why
            assert events[-1][0] == "InvalidChargePointCertificate"
            assert why in (events[-1][1] or ""), events[-1]
        engine.config.set_internal("CertificateSignedMaxChainSize", "500")
        answer = await csms.call(call.CertificateSigned(certificate_chain=pem(good, issuing.cert)))
        assert answer.status == "Rejected"
        assert "more than 500" in (events[-1][1] or "")
        engine.config.set_internal("CertificateSignedMaxChainSize", "10000")
        assert csms.connection_count == 1

        answer = await csms.call(call.CertificateSigned(certificate_chain=pem(good, issuing.cert)))
        assert answer.status == "Accepted"
        statuses = [frame[2] for frame in answers(csms)]
        # CpoName, InstallCertificate, 4 refused chains, 1 oversize chain, the good one
        assert statuses == [{"status": "Accepted"}] * 2 + [{"status": "Rejected"}] * 5 + [
            {"status": "Accepted"}
        ]
        # profile 3: the charge point reconnects at once with the new certificate
        async with asyncio.timeout(10):
            while csms.connection_count < 2 or not csms.sessions:
                await asyncio.sleep(0.01)
        await wait_state(engine, ConnectionState.ACCEPTED)
        peer = csms.session.websocket.transport.get_extra_info("peercert")
        assert int(peer["serialNumber"], 16) == good.serial_number
        assert dict(x[0] for x in peer["subject"])["organizationName"] == "Example CPO"
        assert not os.path.exists(key_file)  # the pending key became the client key
        client_cert, client_key = engine.services.certificates.client_files() or ("", "")
        assert stat.S_IMODE(os.stat(client_key).st_mode) == 0o600
        assert Path(client_key).read_text() == key_pem
        assert csms.close_codes[0] == 1000
        await engine.stop()
        # durable: after a restart the signed certificate is the one presented
        again = make_engine(csms.url, **options)
        await again.start()
        async with asyncio.timeout(10):
            while csms.connection_count < 3 or not csms.sessions:
                await asyncio.sleep(0.01)
        await wait_state(again, ConnectionState.ACCEPTED)
        peer = csms.session.websocket.transport.get_extra_info("peercert")
        assert int(peer["serialNumber"], 16) == good.serial_number
        # the private key never reached a log or a frame
        body = key_pem.split("-----")[2].strip().splitlines()[0]
        assert body not in caplog.text
        assert not any(body in text for text in csms.raw_in)
    finally:
        await csms.stop()


async def test_security_profile_upgrade_with_fallback(
    make_engine: EngineFactory, tmp_path: Path
) -> None:
    """2 -> 3 is refused without a client certificate, accepted with one; the CSMS here still
    wants Basic auth, so profile 3 cannot connect and the charge point falls back to 2."""
    root = root_ca("CSMS root")
    (tmp_path / "root.pem").write_text(root.pem)
    csms = await TestCsms.start(ssl_context=tls_server(tmp_path, server_leaf(root)))
    csms.expected_password = AUTH_KEY
    queue = str(tmp_path / "queue.sqlite3")
    try:
        engine = make_engine(
            csms.url,
            security_profile=SecurityProfile.TLS_BASIC_AUTH,
            authorization_key=AUTH_KEY,
            ca_file=str(tmp_path / "root.pem"),
            queue_path=queue,
        )
        events = record_events(engine)
        await engine.start()
        await accepted(csms, engine)
        for value in ("3", "1", "4"):  # no client certificate; lower; no such profile
            answer = await csms.call(call.ChangeConfiguration(key="SecurityProfile", value=value))
            assert answer.status == "Rejected", value
        requests = await sign_certificate_csms(csms)
        await engine.services.certificates.request_signing()
        csr_pem = await asyncio.wait_for(requests.get(), 5)
        answer = await csms.call(
            call.CertificateSigned(certificate_chain=pem(sign_csr(csr_pem, root)))
        )
        assert answer.status == "Accepted"
        # profile 2: the new certificate waits for profile 3, the link stays
        await csms.call(call.GetConfiguration(key=["SecurityProfile"]))
        assert csms.connection_count == 1

        answer = await csms.call(call.ChangeConfiguration(key="SecurityProfile", value="3"))
        assert answer.status == "Accepted"
        async with asyncio.timeout(15):
            while engine.config.get("SecurityProfile") != "2" or not csms.sessions:
                await asyncio.sleep(0.01)
        await wait_state(engine, ConnectionState.ACCEPTED)
        assert csms.connection_count == 2  # profile 3 never got in: 401 without Basic auth
        config = await csms.call(call.GetConfiguration(key=["SecurityProfile"]))
        assert config.configuration_key[0]["value"] == "2"
        infos = [info for kind, info in events if kind == "ReconfigurationOfSecurityParameters"]
        assert infos[-2:] == [
            "SecurityProfile 2 -> 3",
            "SecurityProfile 3 failed to connect, back to 2",
        ]
        saved = await engine.journal.load_document("configuration")
        assert saved["SecurityProfile"] == "2"
        assert await engine.journal.load_document("security_profile_fallback") is None
    finally:
        await csms.stop()


async def test_security_profile_prerequisites(make_engine: EngineFactory, tmp_path: Path) -> None:
    """What each profile needs (libocpp's checks); a raise still on trial survives a restart
    and falls back when the new profile cannot connect."""
    options: dict[str, Any] = {
        "security_profile": SecurityProfile.BASIC_AUTH,
        "authorization_key": AUTH_KEY,
        "queue_path": str(tmp_path / "queue.sqlite3"),
    }
    engine = make_engine("wss://localhost:1/ocpp", **options)  # nothing listens there
    await engine.start()
    engine.go_offline()  # no dial counts against the trial below
    switch = engine.profile_switch
    assert switch.missing(0) == "a security profile is never lowered"
    assert switch.missing(1) is None
    no_root = "no CentralSystemRootCertificate installed and no CA file"
    assert switch.missing(2) == no_root
    assert switch.missing(3) == no_root
    assert await engine.services.configuration.change("SecurityProfile", "2") == "Rejected"
    root = root_ca("CSMS root")
    assert await engine.services.certificates.install(CSMS_ROOT, root.pem) == "Accepted"
    assert switch.missing(2) is None
    assert switch.missing(3) == "no client certificate"
    assert await engine.services.configuration.change("SecurityProfile", "2") == "Accepted"
    # the previous profile is durable before the new one
    assert await engine.journal.load_document("security_profile_fallback") == 1
    assert (await engine.journal.load_document("configuration"))["SecurityProfile"] == "2"
    await engine.stop()

    again = make_engine("wss://localhost:1/ocpp", **options)
    await again.start()
    assert again.profile_switch.fallback == 1  # still on trial after the restart
    async with asyncio.timeout(10):
        while again.config.get("SecurityProfile") != "1":
            await asyncio.sleep(0.01)
    assert (await again.journal.load_document("configuration"))["SecurityProfile"] == "1"
    assert await again.journal.load_document("security_profile_fallback") is None


async def test_signed_certificate_files_removed_by_hand(
    make_engine: EngineFactory, tmp_path: Path
) -> None:
    """A journal that names client files which are gone still starts (without them)."""
    queue = str(tmp_path / "queue.sqlite3")
    journal = Journal(queue)
    await journal.open()
    gone = [str(tmp_path / "gone.pem"), str(tmp_path / "gone.key")]
    await journal.save_document("certificates", {"roots": [], "client": gone, "pending_key": None})
    await journal.close()
    engine = make_engine("ws://127.0.0.1:9/ocpp", queue_path=queue)
    await engine.start()
    assert engine.services.certificates.client_files() is None


def failing_saves(engine: ChargePointEngine, key: str) -> list[bool]:
    """Make the journal refuse to save document ``key`` while the returned flag holds."""
    journal = engine.journal
    save = journal.save_document
    failing = [True]

    async def save_document(name: str, value: Any) -> None:
        if name == key and failing[0]:
            raise JournalError("disk full")
        await save(name, value)

    journal.save_document = save_document  # type: ignore[method-assign]
    return failing


async def test_security_profile_raise_not_saved_starts_no_trial(
    make_engine: EngineFactory, tmp_path: Path
) -> None:
    """A SecurityProfile raise whose configuration save fails is Rejected and leaves nothing
    behind: no trial (so no false fall back), no ReconfigurationOfSecurityParameters event,
    no fallback document that a restart would take for a trial."""
    options: dict[str, Any] = {
        "security_profile": SecurityProfile.BASIC_AUTH,
        "authorization_key": AUTH_KEY,
        "queue_path": str(tmp_path / "queue.sqlite3"),
    }
    engine = make_engine("wss://localhost:1/ocpp", **options)
    await engine.start()
    engine.go_offline()
    assert await engine.services.certificates.install(CSMS_ROOT, root_ca("root").pem) == (
        "Accepted"
    )
    events = record_events(engine)
    failing = failing_saves(engine, "configuration")
    assert await engine.services.configuration.change("SecurityProfile", "2") == "Rejected"
    assert engine.config.get("SecurityProfile") == "1"
    assert engine.profile_switch.fallback is None
    assert events == []
    assert await engine.journal.load_document("security_profile_fallback") is None
    failing[0] = False
    assert await engine.services.configuration.change("SecurityProfile", "2") == "Accepted"
    assert engine.profile_switch.fallback == 1
    assert events == [("ReconfigurationOfSecurityParameters", "SecurityProfile 1 -> 2")]


async def test_certificate_signed_not_saved_can_be_sent_again(
    make_engine: EngineFactory, tmp_path: Path
) -> None:
    """CertificateSigned whose journal save fails is Rejected with the pending key still in
    place and no new files left behind: the CSMS's retry is Accepted."""
    engine = make_engine("ws://127.0.0.1:9/ocpp", queue_path=str(tmp_path / "queue.sqlite3"))
    await engine.start()
    engine.go_offline()
    certificates = engine.services.certificates
    root = root_ca("CSMS root")
    assert await certificates.install(CSMS_ROOT, root.pem) == "Accepted"
    with pytest.raises(ConnectionError):  # offline: the CSR never leaves, the key is kept
        await certificates.request_signing()
    key_path = str(tmp_path / "queue.sqlite3.csr-key.pem")
    key = pki.load_private_key(key_path)
    chain = pem(sign_csr(pki.build_csr(key, "", "CP1"), root))
    before = sorted(os.listdir(tmp_path))
    failing = failing_saves(engine, "certificates")
    assert await certificates.signed(chain) == "Rejected"
    assert sorted(os.listdir(tmp_path)) == before  # the key is where it was, no new pair
    assert certificates.client_files() is None
    failing[0] = False
    assert await certificates.signed(chain) == "Accepted"
    client = certificates.client_files()
    assert client is not None
    assert pki.key_matches(pki.load_chain(Path(client[0]).read_text())[0], key)
    assert pki.load_private_key(client[1]).private_numbers() == key.private_numbers()
    assert stat.S_IMODE(os.stat(client[1]).st_mode) == 0o600
    assert not os.path.exists(key_path)  # the pending key is gone once the pair is durable
