"""SignedUpdateFirmware checks (OCPP 1.6 security whitepaper, edition 3, section 4).

The signing certificate (PEM, optionally followed by its intermediates) must chain to one of the
ManufacturerRootCertificates and be valid now; the signature (base64) is RSA PKCS#1 v1.5 or
ECDSA over the SHA-256 of the firmware file, as libocpp checks it (it hashes the file and
verifies the signature of that digest with the certificate's public key).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from . import pki


class CertificateProblem(Exception):
    """The signing certificate cannot be trusted; str() says why (no secret in it)."""


def check_signing_certificate(
    pem: str, roots: list[x509.Certificate], now: datetime
) -> x509.Certificate:
    """The signing certificate when it chains to one of ``roots`` and every certificate of the
    chain (and its root) is valid at ``now``; CertificateProblem otherwise. The same check as
    CertificateSigned's (pki.chain_error)."""
    try:
        chain = pki.load_chain(pem)
    except pki.CertificateError:
        raise CertificateProblem("the signing certificate is not a PEM certificate") from None
    if not roots:
        raise CertificateProblem("no ManufacturerRootCertificate is installed")
    problem = pki.chain_error(chain, roots, now, root_kind="ManufacturerRootCertificate")
    if problem is not None:
        raise CertificateProblem(problem)
    return chain[0]


def file_sha256(path: Path) -> bytes:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(64 * 1024):
            digest.update(chunk)
    return digest.digest()


def signature_valid(certificate: x509.Certificate, signature_b64: str, path: Path) -> bool:
    """The base64 ``signature`` is the certificate key's signature of the file's SHA-256."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    digest = file_sha256(path)
    prehashed = utils.Prehashed(hashes.SHA256())
    key = certificate.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, digest, padding.PKCS1v15(), prehashed)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, digest, ec.ECDSA(prehashed))
        else:
            return False
    except InvalidSignature:
        return False
    return True
