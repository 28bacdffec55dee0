# Helpers for the update tests, on CPython and MicroPython: a scratch directory, a tar writer
# (ustar, as tools/build_bundle.py writes with Python's tarfile), bundles, a scripted socket.
import hashlib
import os
from binascii import hexlify

import otaboot
from evse import ota

_n = [0]


def scratch():
    """A new empty directory."""
    try:
        import tempfile

        return tempfile.mkdtemp()
    except ImportError:  # MicroPython
        _n[0] += 1
        root = "/ota_scratch_" + str(_n[0])
        otaboot.rmtree(root)
        os.mkdir(root)
        return root


def write(p, data):
    with open(p, "wb") as f:
        f.write(data)


def read(p):
    with open(p, "rb") as f:
        return f.read()


def tree(p):
    """{name: bytes} of a flat directory, None if it does not exist."""
    if not otaboot.exists(p):
        return None
    return {name: read(p + "/" + name) for name in os.listdir(p)}


def install_package(root, files):
    os.mkdir(root + "/lib")
    os.mkdir(root + "/lib/evse")
    for name, data in files.items():
        write(root + "/lib/evse/" + name, data)


def sha(data):
    return hexlify(hashlib.sha256(data).digest()).decode()


def _octal(n, width):
    s = f"{n:o}"
    return ("0" * (width - 1 - len(s)) + s).encode() + b"\0"


def tar_member(name, data, typeflag=b"0"):
    h = bytearray(512)
    h[0 : len(name)] = name.encode()
    h[100:108] = b"0000644\0"
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    h[124:136] = _octal(len(data), 12)
    h[136:148] = _octal(0, 12)
    h[148:156] = b"        "
    h[156:157] = typeflag
    h[257:263] = b"ustar\0"
    h[263:265] = b"00"
    h[148:156] = _octal(sum(h), 7) + b" "
    pad = (512 - len(data) % 512) % 512
    return bytes(h) + data + bytes(pad)


def tar(members):
    return b"".join(tar_member(n, d) for n, d in members) + bytes(1024)


def manifest(version, files, key=None, extra=None):
    import json

    doc = {"version": version, "files": {n: sha(d) for n, d in files.items()}}
    if key:
        doc["hmac"] = ota.sign(key, version, doc["files"])
    if extra:
        doc.update(extra)
    return json.dumps(doc).encode()


def bundle(version, files, key=None, tamper=None):
    """A bundle (tar bytes): manifest.json first, then the files; `tamper` names a file whose
    content is changed after the manifest was made."""
    members = [("manifest.json", manifest(version, files, key))]
    for name, data in files.items():
        members.append((name, data + b"#" if name == tamper else data))
    return tar(members)


OLD = {"__init__.py": b"VERSION = '0.1.0'\n", "app.py": b"# old app\n", "net.py": b"# old\n"}
NEW = {"__init__.py": b"VERSION = '0.2.0'\n", "app.py": b"# new app\n" * 200, "ota.py": b"# n\n"}


class Crash(Exception):
    pass


def crash_at(k, log):
    """An otaboot hook: power is lost before the k-th change to the file system."""
    n = [0]

    def hook(what):
        if n[0] == k:
            log.append(what)
            raise Crash(what)
        n[0] += 1

    return hook


class FakeSocketModule:
    """Stands in for `socket`: one scripted HTTP response, delivered in `chunks`; `cut`
    closes the connection after that many bytes."""

    SOCK_STREAM = 1

    def __init__(self, response, chunk=700, cut=None, fail_connect=False, stall_at=None, stalls=0):
        self.response = response if cut is None else response[:cut]
        self.stall_at = stall_at  # from this offset on, `stalls` receives time out first
        self.stalls = stalls
        self.timeouts = []
        self.chunk = chunk
        self.fail_connect = fail_connect
        self.requests = []
        self.closed = 0
        self.timeout = None

    def getaddrinfo(self, host, port, af=0, type=0):
        return [(2, 1, 0, "", (host, port))]

    def socket(self, af=2, type=1, proto=0):
        return _FakeSock(self)


class _FakeSock:
    def __init__(self, mod):
        self.mod = mod
        self.pos = 0

    def settimeout(self, t):
        self.mod.timeout = t
        self.mod.timeouts.append(t)

    def connect(self, addr):
        if self.mod.fail_connect:
            raise OSError(111)
        self.mod.addr = addr

    def send(self, data):
        self.mod.requests.append(bytes(data))
        return len(data)

    def recv(self, n):
        m = self.mod
        if m.stall_at is not None and self.pos >= m.stall_at and m.stalls > 0:
            m.stalls -= 1
            raise OSError(110)  # ETIMEDOUT, as MicroPython raises it
        r = self.mod.response
        n = min(n, self.mod.chunk)
        out = r[self.pos : self.pos + n]
        self.pos += len(out)
        return out

    def close(self):
        self.mod.closed += 1


def http_200(body, length=True):
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\n"
    if length:
        head += b"Content-Length: " + str(len(body)).encode() + b"\r\n"
    return head + b"\r\n" + body
