"""The certificate store of the 1.6 security whitepaper: CSMS and manufacturer roots, and the
charge point's own key and certificate (SignCertificate / CertificateSigned).

Roots and the paths of the client files are one journal document, written before any
"Accepted". The private key lives in a file of its own (0600) beside the journal, never in the
journal, a log or an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509

from .. import pki
from ..settings import SettingsError
from .connection import ConnectionService
from .context import EngineContext

_LOGGER = logging.getLogger(__name__)

DOCUMENT_CERTIFICATES = "certificates"
CSMS_ROOT = "CentralSystemRootCertificate"
MANUFACTURER_ROOT = "ManufacturerRootCertificate"
ROOT_KINDS = (CSMS_ROOT, MANUFACTURER_ROOT)


@dataclass(frozen=True, slots=True)
class InstalledRoot:
    kind: str
    certificate: x509.Certificate
    # The CSMS root an AdditionalRootCertificateCheck replacement superseded: still trusted
    # until the next replacement, so a CSMS that has not switched its server yet stays reachable.
    fallback: bool = False

    def document(self) -> dict[str, Any]:
        return {"type": self.kind, "pem": pki.to_pem([self.certificate]), "fallback": self.fallback}


@dataclass(frozen=True, slots=True)
class ExpiringCertificate:
    kind: str  # a root kind, or "ChargePointCertificate"
    subject: str
    not_after: datetime


class CertificateService:
    def __init__(self, ctx: EngineContext, connection: ConnectionService, state_path: str) -> None:
        self.ctx = ctx
        self.connection = connection
        if state_path == ":memory:":  # a memory journal keeps nothing: neither do its files
            self._temporary = tempfile.TemporaryDirectory(prefix="ocpp_cp_pki_")
            state_path = os.path.join(self._temporary.name, "memory")
        self._prefix = state_path
        self._roots: list[InstalledRoot] = []
        self._client: tuple[str, str] | None = None  # (certificate chain file, key file)
        self._pending_key: str | None = None
        self._signing = asyncio.Lock()

    # -- what other services read -----------------------------------------------------------

    def roots(self, kind: str) -> list[x509.Certificate]:
        """The installed roots of ``kind`` (CentralSystemRootCertificate or
        ManufacturerRootCertificate), oldest first."""
        return [root.certificate for root in self._roots if root.kind == kind]

    def trust_pem(self) -> str | None:
        """The installed CSMS roots as PEM, added to the wss trust store; None if none."""
        roots = self.roots(CSMS_ROOT)
        return pki.to_pem(roots) if roots else None

    def client_files(self) -> tuple[str, str] | None:
        """(certificate chain, key) signed through CertificateSigned, or None."""
        return self._client

    def expiring(self, now: datetime, within: timedelta) -> list[ExpiringCertificate]:
        """Installed CSMS roots and the client certificate (signed through CertificateSigned,
        else the configured file) that expire within ``within``. Blocking: reads the file."""
        found = [
            ExpiringCertificate(CSMS_ROOT, c.subject.rfc4514_string(), c.not_valid_after_utc)
            for c in self.roots(CSMS_ROOT)
            if c.not_valid_after_utc - now < within
        ]
        client = self.connection.settings.client_cert_file
        if client:
            try:
                leaf = pki.load_chain(_read(client))[0]
            except (OSError, UnicodeError, pki.CertificateError):
                return found
            if leaf.not_valid_after_utc - now < within:
                subject = leaf.subject.rfc4514_string()
                found.append(
                    ExpiringCertificate("ChargePointCertificate", subject, leaf.not_valid_after_utc)
                )
        return found

    # -- persistence ------------------------------------------------------------------------

    async def restore(self) -> None:
        saved = await self.ctx.journal.load_document(DOCUMENT_CERTIFICATES)
        if not isinstance(saved, dict):
            return
        for entry in saved.get("roots", []):
            try:
                cert = pki.load_chain(entry["pem"])[0]
            except (KeyError, TypeError, pki.CertificateError):
                continue
            if entry.get("type") in ROOT_KINDS:
                self._roots.append(InstalledRoot(entry["type"], cert, bool(entry.get("fallback"))))
        client = saved.get("client")
        if isinstance(client, list) and len(client) == 2:
            files = (str(client[0]), str(client[1]))
            loop = asyncio.get_running_loop()
            if await loop.run_in_executor(None, _all_files, files):
                self._client = files
            else:  # removed by hand: the configured certificate (if any) is used instead
                _LOGGER.warning("The signed client certificate files are gone: not used")
        pending = saved.get("pending_key")
        self._pending_key = pending if isinstance(pending, str) else None

    async def _save(
        self,
        roots: list[InstalledRoot],
        client: tuple[str, str] | None,
        pending_key: str | None,
    ) -> bool:
        """Durable first, then in memory: False (nothing changed) when the journal failed."""
        document = {
            "roots": [root.document() for root in roots],
            "client": list(client) if client else None,
            "pending_key": pending_key,
        }
        if not await self.ctx.save_document(DOCUMENT_CERTIFICATES, document):
            return False
        self._roots, self._client, self._pending_key = roots, client, pending_key
        return True

    async def _reload_tls(self) -> None:
        try:
            await self.connection.load_tls()
        except SettingsError as err:  # the old context stays; the reason is in the log
            _LOGGER.error("The TLS context could not be rebuilt: %s", err)  # noqa: TRY400

    # -- InstallCertificate / DeleteCertificate / GetInstalledCertificateIds ----------------

    def _issuer(self, cert: x509.Certificate, kind: str) -> x509.Certificate | None:
        if pki.is_self_signed(cert):
            return cert
        for root in self.roots(kind):
            if root.subject == cert.issuer and pki.signed_by(cert, root):
                return root
        return None

    def hash_data(self, root: InstalledRoot) -> dict[str, str]:
        return pki.hash_data(root.certificate, self._issuer(root.certificate, root.kind))

    def installed_ids(self, kind: str) -> list[dict[str, str]]:
        return [self.hash_data(root) for root in self._roots if root.kind == kind]

    async def install(self, kind: str, pem: str) -> str:
        """InstallCertificate: Accepted once durable, Rejected for an unusable certificate or
        a full store, Failed when it could not be stored."""
        try:
            chain = pki.load_chain(pem)
        except pki.CertificateError as err:
            return self._refuse(kind, str(err))
        if len(chain) != 1:
            return self._refuse(kind, "one certificate expected")
        cert = chain[0]
        problem = pki.validity_error(cert, self.ctx.now())
        if problem is None and not pki.is_ca(cert):
            problem = "not a CA certificate"
        if problem is None and cert.subject == cert.issuer and not pki.is_self_signed(cert):
            problem = "its self-signature does not verify"
        if problem is not None:
            return self._refuse(kind, problem)
        if any(root.certificate == cert and root.kind == kind for root in self._roots):
            return "Accepted"  # installed already: nothing to change
        roots = list(self._roots)
        config = self.ctx.config
        if kind == CSMS_ROOT and config.get_bool("AdditionalRootCertificateCheck"):
            current = [r for r in roots if r.kind == CSMS_ROOT and not r.fallback]
            if current and not any(pki.signed_by(cert, r.certificate) for r in current):
                return self._refuse(kind, "not signed by the installed CSMS root")
            roots = [r for r in roots if r.kind != CSMS_ROOT]
            roots += [InstalledRoot(CSMS_ROOT, r.certificate, fallback=True) for r in current]
        roots.append(InstalledRoot(kind, cert))
        if len(roots) > config.get_int("CertificateStoreMaxLength"):
            _LOGGER.warning("InstallCertificate %s rejected: the store is full", kind)
            return "Rejected"
        if not await self._save(roots, self._client, self._pending_key):
            return "Failed"
        self.ctx.security_event(
            "ReconfigurationOfSecurityParameters",
            f"{kind} installed: {cert.subject.rfc4514_string()}",
        )
        self.ctx.emit("certificates", change="installed", kind=kind)
        if kind == CSMS_ROOT:
            await self._reload_tls()  # the next connection trusts it
        return "Accepted"

    def _refuse(self, kind: str, why: str) -> str:
        _LOGGER.warning("InstallCertificate %s rejected: %s", kind, why)
        if kind == CSMS_ROOT:
            self.ctx.security_event("InvalidCentralSystemCertificate", why[:255])
        return "Rejected"

    async def delete(self, wanted: dict[str, str]) -> str:
        """DeleteCertificate: Accepted once durable, NotFound, or Failed for the last CSMS root
        the wss connection depends on (no CA file configured besides it)."""
        match = next(
            (root for root in self._roots if pki.same_hash_data(self.hash_data(root), wanted)),
            None,
        )
        if match is None:
            return "NotFound"
        remaining = [root for root in self._roots if root is not match]
        settings = self.connection.settings
        if (
            match.kind == CSMS_ROOT
            and settings.security_profile >= 2
            and settings.ca_file is None
            and not any(root.kind == CSMS_ROOT for root in remaining)
        ):
            _LOGGER.warning("DeleteCertificate refused: the last CSMS root of a wss connection")
            return "Failed"
        if not await self._save(remaining, self._client, self._pending_key):
            return "Failed"
        subject = match.certificate.subject.rfc4514_string()
        self.ctx.security_event(
            "ReconfigurationOfSecurityParameters", f"{match.kind} deleted: {subject}"
        )
        self.ctx.emit("certificates", change="deleted", kind=match.kind)
        if match.kind == CSMS_ROOT:
            await self._reload_tls()
        return "Accepted"

    # -- SignCertificate / CertificateSigned ------------------------------------------------

    async def request_signing(self) -> None:
        """Make a new key and CSR and send SignCertificate.req (ExtendedTriggerMessage
        SignChargePointCertificate, or on demand). The key is on disk (0600) and its path
        durable before the CSR leaves; raises ConnectionError-like errors of the wire."""
        async with self._signing:
            organization = self.ctx.config.get("CpoName")
            common_name = self.ctx.settings.charge_point_id
            path = f"{self._prefix}.csr-key.pem"
            loop = asyncio.get_running_loop()
            csr = await loop.run_in_executor(
                None, _new_key_and_csr, path, organization, common_name
            )
            if not await self._save(self._roots, self._client, path):
                return
            if not organization:
                _LOGGER.warning("CpoName is empty: the CSR has no organization")
            answer = await self.ctx.call("SignCertificate", {"csr": csr})
            _LOGGER.info("SignCertificate: %s", answer.get("status"))

    async def signed(self, chain_text: str) -> str:
        """CertificateSigned: Accepted once the chain is validated and the certificate and key
        are durable; Rejected for an oversize, invalid, expired or foreign chain."""
        problem = await self._check_signed(chain_text)
        if problem is not None:
            _LOGGER.warning("CertificateSigned rejected: %s", problem)
            self.ctx.security_event("InvalidChargePointCertificate", problem[:255])
            return "Rejected"
        chain = pki.load_chain(chain_text)
        key_path = self._pending_key
        assert key_path is not None  # _check_signed made sure
        serial = pki.serial_hex(chain[0].serial_number)
        cert_file = f"{self._prefix}.client-{serial}.pem"
        key_file = f"{self._prefix}.client-{serial}.key"
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, _install_client, chain, key_path, cert_file, key_file)
        except OSError as err:
            _LOGGER.error("CertificateSigned: files not written: %s", err.strerror)  # noqa: TRY400
            return "Rejected"
        old, pair = self._client, (cert_file, key_file)
        if not await self._save(self._roots, pair, None):
            # The pending key stays where the journal says it is: a resend can still work.
            if pair != old:
                await loop.run_in_executor(None, _remove_pair, pair)
            return "Rejected"
        await loop.run_in_executor(None, pki.remove_file, key_path)
        if old is not None and old != pair:
            await loop.run_in_executor(None, _remove_pair, old)
        self.ctx.security_event(
            "ReconfigurationOfSecurityParameters",
            f"charge point certificate installed: serial {serial}",
        )
        self.ctx.emit("certificates", change="signed", kind="ChargePointCertificate")
        return "Accepted"

    async def _check_signed(self, chain_text: str) -> str | None:
        limit = self.ctx.config.get_int("CertificateSignedMaxChainSize")
        if len(chain_text) > limit:
            return f"the chain is {len(chain_text)} characters, more than {limit}"
        try:
            chain = pki.load_chain(chain_text)
        except pki.CertificateError as err:
            return str(err)
        if self._pending_key is None:
            return "no certificate signing request is pending"
        try:
            key = await asyncio.get_running_loop().run_in_executor(
                None, pki.load_private_key, self._pending_key
            )
        except (OSError, ValueError):
            return "the key of the pending request is gone"
        if not pki.key_matches(chain[0], key):
            return "the certificate is not for the key of the pending request"
        roots = self.roots(CSMS_ROOT)
        ca_file = self.ctx.settings.ca_file
        if ca_file:
            roots += await asyncio.get_running_loop().run_in_executor(None, _ca_file_roots, ca_file)
        return pki.chain_error(chain, roots, self.ctx.now())

    async def use_new_client_certificate(self) -> None:
        """After an Accepted CertificateSigned: profile 3 reconnects with it at once (libocpp
        does the same); otherwise it is used when the profile is raised to 3."""
        await self._reload_tls()
        if self.ctx.config.get_int("SecurityProfile") == 3:
            self.connection.drop()


def _read(path: str) -> str:
    with open(path, encoding="ascii") as source:
        return source.read()


def _all_files(paths: tuple[str, ...]) -> bool:
    return all(os.path.isfile(path) for path in paths)


def _ca_file_roots(ca_file: str) -> list[x509.Certificate]:
    """The CA file configured for the wss connection also anchors CertificateSigned chains."""
    with contextlib.suppress(OSError, UnicodeError, pki.CertificateError):
        return pki.load_chain(_read(ca_file))
    return []


def _new_key_and_csr(path: str, organization: str, common_name: str) -> str:
    key = pki.new_private_key()
    pki.write_file(path, pki.private_key_pem(key), private=True)
    return pki.build_csr(key, organization, common_name)


def _install_client(
    chain: list[x509.Certificate], pending_key: str, cert_file: str, key_file: str
) -> None:
    """A copy of the pending key: it is removed only once the journal names the new pair."""
    pki.write_file(cert_file, pki.to_pem(chain).encode())
    with open(pending_key, "rb") as source:
        pki.write_file(key_file, source.read(), private=True)


def _remove_pair(files: tuple[str, str]) -> None:
    for path in files:
        pki.remove_file(path)
