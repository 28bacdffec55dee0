"""A throw-away CA, server and client certificates for the TLS security profiles."""

from __future__ import annotations

import datetime
import select
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class Pki:
    ca_file: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca_file: Path

    def server_context(self, *, require_client_cert: bool = False) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.server_cert, self.server_key)
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(self.ca_file)
        return context


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    common_name: str,
    usage: x509.ObjectIdentifier,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if usage == ExtendedKeyUsageOID.SERVER_AUTH:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
        )
    return builder.sign(ca_key, hashes.SHA256()), key


def make_pki(directory: Path) -> Pki:
    ca, ca_key = _ca("ocpp_cp test CA")
    other_ca, _ = _ca("some other CA")
    server, server_key = _leaf(ca, ca_key, "localhost", ExtendedKeyUsageOID.SERVER_AUTH)
    client, client_key = _leaf(ca, ca_key, "CP1", ExtendedKeyUsageOID.CLIENT_AUTH)
    pem = serialization.Encoding.PEM
    pki = Pki(
        ca_file=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
        other_ca_file=directory / "other-ca.pem",
    )
    pki.ca_file.write_bytes(ca.public_bytes(pem))
    pki.other_ca_file.write_bytes(other_ca.public_bytes(pem))
    pki.server_cert.write_bytes(server.public_bytes(pem))
    pki.client_cert.write_bytes(client.public_bytes(pem))
    _write_key(pki.server_key, server_key)
    _write_key(pki.client_key, client_key)
    return pki


# -- a PKI to build in a test: roots, intermediates, v1 roots, expired and foreign chains ------

PEM = serialization.Encoding.PEM
type Key = ec.EllipticCurvePrivateKey


@dataclass
class Issued:
    cert: x509.Certificate
    key: Key

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(PEM).decode()


def pem(*certs: x509.Certificate) -> str:
    return "".join(c.public_bytes(PEM).decode() for c in certs)


def _period(expired: bool, days: float = 1) -> tuple[datetime.datetime, datetime.datetime]:
    now = datetime.datetime.now(datetime.UTC)
    if expired:
        return now - datetime.timedelta(days=10), now - datetime.timedelta(days=1)
    return now - datetime.timedelta(hours=1), now + datetime.timedelta(days=days)


CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def root_ca(common_name: str, *, expired: bool = False, days: float = 1) -> Issued:
    """A self-signed v3 CA (basicConstraints CA, keyCertSign)."""
    if not expired and days == 1:
        cert, key = _ca(common_name)
        return Issued(cert, key)
    key = ec.generate_private_key(ec.SECP256R1())
    start, end = _period(expired, days)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(CA_KEY_USAGE, critical=True)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert, key)


def signed_ca(common_name: str, issuer: Issued, *, expired: bool = False) -> Issued:
    """A CA certificate issued by ``issuer`` (an intermediate, or a new root cross-signed by the
    old one for AdditionalRootCertificateCheck)."""
    key = ec.generate_private_key(ec.SECP256R1())
    start, end = _period(expired)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
        .add_extension(CA_KEY_USAGE, critical=True)
        .sign(issuer.key, hashes.SHA256())
    )
    return Issued(cert, key)


def _der_element(data: bytes, at: int) -> tuple[int, int]:
    """(header length, content length) of the DER element at ``at``."""
    first = data[at + 1]
    if first < 0x80:
        return 2, first
    size = first & 0x7F
    return 2 + size, int.from_bytes(data[at + 2 : at + 2 + size], "big")


def _der(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        return bytes([tag, length]) + content
    size = (length.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + length.to_bytes(size, "big") + content


def v1_root(common_name: str) -> Issued:
    """A self-signed X.509 v1 root: no version field, no extensions (no basicConstraints), as
    some CSMS PKIs still have. ``cryptography`` only builds v3, so the TBS is rewritten."""
    key = ec.generate_private_key(ec.SECP256R1())
    start, end = _period(False)
    v3 = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .sign(key, hashes.SHA256())
    )
    der = v3.public_bytes(serialization.Encoding.DER)
    header, _ = _der_element(der, 0)
    tbs_header, tbs_length = _der_element(der, header)
    tbs_content = der[header + tbs_header : header + tbs_header + tbs_length]
    algorithm_at = header + tbs_header + tbs_length
    algorithm_header, algorithm_length = _der_element(der, algorithm_at)
    algorithm = der[algorithm_at : algorithm_at + algorithm_header + algorithm_length]
    assert tbs_content[0] == 0xA0  # [0] EXPLICIT version v3: drop it (v1 is the default)
    version_header, version_length = _der_element(tbs_content, 0)
    tbs = _der(0x30, tbs_content[version_header + version_length :])
    signature = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    cert = x509.load_der_x509_certificate(
        _der(0x30, tbs + algorithm + _der(0x03, b"\x00" + signature))
    )
    assert cert.version == x509.Version.v1
    return Issued(cert, key)


def server_leaf(
    issuer: Issued, name: str = "localhost", *, expired: bool = False, aki: bool = True
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    start, end = _period(expired)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
    )
    if aki:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    return Issued(builder.sign(issuer.key, hashes.SHA256()), key)


def sign_csr(csr_pem: str, issuer: Issued, *, expired: bool = False) -> x509.Certificate:
    """What a CSMS CA does with SignCertificate.req: a client certificate for the CSR's key."""
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    assert csr.is_signature_valid
    start, end = _period(expired)
    return (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(issuer.cert.subject)
        .public_key(csr.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
        .sign(issuer.key, hashes.SHA256())
    )


def tls_server(
    directory: Path,
    leaf: Issued,
    chain: tuple[x509.Certificate, ...] = (),
    *,
    client_ca: tuple[x509.Certificate, ...] = (),
) -> ssl.SSLContext:
    """A server context presenting ``leaf`` (+ ``chain``); requiring a client certificate
    signed by one of ``client_ca`` when given."""
    cert_file = directory / f"server-{leaf.cert.serial_number}.pem"
    key_file = directory / f"server-{leaf.cert.serial_number}.key"
    cert_file.write_text(pem(leaf.cert, *chain))
    _write_key(key_file, leaf.key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    if client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=pem(*client_ca))
    return context


def client_leaf(issuer: Issued, common_name: str = "CP1") -> Issued:
    cert, key = _leaf(issuer.cert, issuer.key, common_name, ExtendedKeyUsageOID.CLIENT_AUTH)
    return Issued(cert, key)


def write_pair(
    directory: Path, name: str, issued: Issued, *chain: x509.Certificate
) -> tuple[str, str]:
    """(certificate chain file, key file) of ``issued``."""
    cert_file, key_file = directory / f"{name}.pem", directory / f"{name}.key"
    cert_file.write_text(pem(issued.cert, *chain))
    _write_key(key_file, issued.key)
    return str(cert_file), str(key_file)


class TlsFront:
    """A TLS terminator (as nginx in front of a CSMS) on blocking sockets in threads: unlike
    an asyncio TLS server it sends the TLS alert when it refuses a client certificate. Plain
    bytes go on to ``backend_port``; the client certificates it saw are kept."""

    def __init__(self, context: ssl.SSLContext, backend_port: int) -> None:
        self.context = context
        self.backend_port = backend_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.peer_certs: list[dict[str, Any]] = []
        self.refusals: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def url(self, path: str = "/ocpp") -> str:
        return f"wss://localhost:{self.port}{path}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as err:
            self.refusals.append(getattr(err, "reason", None) or str(err))
            conn.close()
            return
        self.peer_certs.append(tls.getpeercert() or {})
        backend = socket.create_connection(("127.0.0.1", self.backend_port), timeout=5)
        tls.settimeout(None)
        backend.settimeout(None)
        sockets: list[socket.socket] = [tls, backend]
        try:
            while not self._stop.is_set():
                waiting = 0 if tls.pending() else 0.2  # TLS may hold decrypted bytes
                readable, _, _ = select.select(sockets, [], [], waiting)
                if tls.pending() and tls not in readable:
                    readable.append(tls)
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    (backend if source is tls else tls).sendall(data)
        except OSError:
            return
        finally:
            for sock in sockets:
                sock.close()

    def close(self) -> None:
        self._stop.set()
        self.listener.close()
        for thread in self._threads:
            thread.join(2)
