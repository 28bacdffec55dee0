"""X.509 helpers of the 1.6 security whitepaper: hash data, chain checks, CSRs, private files.

Pure functions over ``cryptography`` objects; the certificate service decides what they mean.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

type PrivateKey = ec.EllipticCurvePrivateKey


class CertificateError(ValueError):
    """A certificate (chain) that cannot be used; the text says why (no secrets in it)."""


def load_chain(text: str) -> list[x509.Certificate]:
    """Every certificate of a PEM text, leaf first; CertificateError when there is none."""
    try:
        certificates = x509.load_pem_x509_certificates(text.encode())
    except ValueError as err:
        raise CertificateError(f"not a PEM certificate: {err}") from err
    if not certificates:
        raise CertificateError("no certificate in the text")
    return certificates


def to_pem(certificates: Iterable[x509.Certificate]) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certificates)


def _der_length(data: bytes, at: int) -> tuple[int, int]:
    """(length, offset of the content) of the DER element whose length byte is at ``at``."""
    first = data[at]
    if first < 0x80:
        return first, at + 1
    size = first & 0x7F
    return int.from_bytes(data[at + 1 : at + 1 + size], "big"), at + 1 + size


def public_key_bits(cert: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING value (what OCSP and the whitepaper hash as the key)."""
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _, content = _der_length(spki, 1)  # SEQUENCE SubjectPublicKeyInfo
    algorithm_length, algorithm_content = _der_length(spki, content + 1)
    bit_string = algorithm_content + algorithm_length  # BIT STRING subjectPublicKey
    length, value = _der_length(spki, bit_string + 1)
    return spki[value + 1 : value + length]  # first byte: number of unused bits (0)


def serial_hex(serial: int) -> str:
    """The serial as the whitepaper writes it: hexadecimal, lower case, no leading zeroes."""
    return format(serial, "x")


def hash_data(cert: x509.Certificate, issuer: x509.Certificate | None = None) -> dict[str, str]:
    """CertificateHashDataType (SHA-256): of the issuer's DER name and public key, and the
    serial. A root is its own issuer; so is a certificate whose issuer is not known here."""
    issuer_key = public_key_bits(issuer or cert)
    return {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": hashlib.sha256(cert.issuer.public_bytes()).hexdigest(),
        "issuerKeyHash": hashlib.sha256(issuer_key).hexdigest(),
        "serialNumber": serial_hex(cert.serial_number),
    }


def same_hash_data(a: dict[str, str], b: dict[str, str]) -> bool:
    """Hex compared case-insensitively, serials without leading zeroes (CSMSes differ)."""

    def norm(data: dict[str, str]) -> tuple[str, str, str, str]:
        serial = data["serialNumber"].lower().lstrip("0") or "0"
        return (
            data["hashAlgorithm"].upper(),
            data["issuerNameHash"].lower(),
            data["issuerKeyHash"].lower(),
            serial,
        )

    return norm(a) == norm(b)


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def is_self_signed(cert: x509.Certificate) -> bool:
    return signed_by(cert, cert)


def validity_error(cert: x509.Certificate, now: datetime) -> str | None:
    if now < cert.not_valid_before_utc:
        return f"certificate {cert.subject.rfc4514_string()} is not valid yet"
    if now > cert.not_valid_after_utc:
        return f"certificate {cert.subject.rfc4514_string()} expired"
    return None


def is_ca(cert: x509.Certificate) -> bool:
    """A CA by its basicConstraints; a v1 certificate (no extensions) counts when self-signed."""
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return cert.version == x509.Version.v1 and is_self_signed(cert)
    return constraints.ca


def chain_error(
    chain: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    now: datetime,
    root_kind: str = "CentralSystemRootCertificate",
) -> str | None:
    """Why ``chain`` (leaf first) does not lead to one of ``roots`` (of ``root_kind``, for the
    text), or None when it does. Every certificate must be valid now, and so must the root:
    an expired matching root is an error unless a valid one (a renewal) anchors the chain."""
    for cert in chain:
        if (problem := validity_error(cert, now)) is not None:
            return problem
    for child, parent in itertools.pairwise(chain):
        if not signed_by(child, parent):
            return f"{child.subject.rfc4514_string()} is not signed by the next certificate"
    last = chain[-1]
    anchors = [root for root in roots if last == root or signed_by(last, root)]
    problems = [validity_error(root, now) for root in anchors]
    if anchors and None not in problems:
        return problems[0]
    return None if anchors else f"the chain does not lead to an installed {root_kind}"


def new_private_key() -> PrivateKey:
    """EC P-256, as libocpp makes the charge point key."""
    return ec.generate_private_key(ec.SECP256R1())


def private_key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key(path: str) -> PrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateError("the charge point key is not an EC key")
    return key


def build_csr(key: PrivateKey, organization: str, common_name: str) -> str:
    """A PEM PKCS#10 request: O = CpoName (left out when empty), CN = the charge point."""
    attributes = []
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(attributes))
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode()


def key_matches(cert: x509.Certificate, key: PrivateKey) -> bool:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return cert.public_key().public_bytes(der, spki) == key.public_key().public_bytes(der, spki)


def write_file(path: str, data: bytes, *, private: bool = False) -> None:
    """Atomically and durably: a temporary file (0600 for a key) fsynced, then renamed."""
    temporary = f"{path}.tmp"
    mode = 0o600 if private else 0o644
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # an umask or an older file never widens it
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    sync_directory(path)


def sync_directory(path: str) -> None:
    directory = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def remove_file(path: str | None) -> None:
    if path:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
