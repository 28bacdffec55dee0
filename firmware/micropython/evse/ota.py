# Over-the-air update of the evse package: the MQTT command, the HTTP download (streamed to
# flash in chunks), the bundle check (manifest, sha256 of every file, HMAC-SHA256 signature
# when a key is configured) and the staging; otaboot swaps it in at the next boot. Imported
# only when an update command arrives (it costs no heap otherwise). No machine/network import.
import hashlib
import json
import os
from binascii import hexlify

import otaboot

SIG_PREFIX = "ocpp_cp-ota-v1\n"
CHUNK = 1024
MAX_BUNDLE = 512 * 1024
MAX_MANIFEST = 4096
MAX_FILES = 40
TIMEOUT_S = 10  # connecting, and a download that stalls this long fails
POLL_MS = 50  # receive timeout of one step: a stalled server never holds the worker longer
HEALTHY_TICKS = 50  # safety-loop passes before a trial may confirm
_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_."
_HEX = "0123456789abcdef"


def hexdigest(h):
    return hexlify(h.digest()).decode()


def hmac_sha256(key, msg):
    """RFC 2104 over hashlib.sha256 (MicroPython's ESP32 image has no hmac module)."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key + bytes(64 - len(key))
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    inner.update(msg)
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    outer.update(inner.digest())
    return outer.digest()


def signed_text(version, files):
    """What the signature covers: the version and every file's name and sha256, sorted."""
    lines = [SIG_PREFIX, version, "\n"]
    for name in sorted(files):
        lines.append(name + " " + files[name] + "\n")
    return "".join(lines).encode()


def sign(key, version, files):
    return hexlify(hmac_sha256(key.encode(), signed_text(version, files))).decode()


def _same(a, b):
    """Constant-time comparison of two strings."""
    if len(a) != len(b):
        return False
    d = 0
    for i in range(len(a)):
        d |= ord(a[i]) ^ ord(b[i])
    return d == 0


def _is_sha(v):
    if not isinstance(v, str) or len(v) != 64:
        return False
    return all(ch in _HEX for ch in v)


def check_name(name):
    if not isinstance(name, str) or not 4 <= len(name) <= 40 or name[0] == ".":
        return False
    if not (name.endswith(".mpy") or name.endswith(".py")):
        return False
    return all(ch in _NAME_CHARS for ch in name)


def check_manifest(doc, key):
    """(version, files) of a valid manifest, else ValueError with the reason."""
    if not isinstance(doc, dict):
        raise ValueError("manifest is not an object")  # noqa: TRY004 - one error kind: refused
    version = doc.get("version")
    files = doc.get("files")
    if not isinstance(version, str) or not 1 <= len(version) <= 32:
        raise ValueError("manifest version missing")
    if not isinstance(files, dict) or not 1 <= len(files) <= MAX_FILES:
        raise ValueError("manifest files missing")
    for name, sha in files.items():
        if not check_name(name):
            raise ValueError(f"bad file name in manifest: {name!r}")
        if not _is_sha(sha):
            raise ValueError("bad sha256 for " + name)
    for mod in ("__init__", "app"):
        if mod + ".mpy" not in files and mod + ".py" not in files:
            raise ValueError("bundle lacks " + mod)
    if key:
        sig = doc.get("hmac")
        if not isinstance(sig, str):
            raise ValueError("bundle is not signed")
        if not _same(sig, sign(key, version, files)):
            raise ValueError("bad signature")
    return version, files


def parse_url(url):
    """(host, port, path) of an http:// URL, else ValueError."""
    if not isinstance(url, str) or not 8 < len(url) <= 256 or not url.startswith("http://"):
        raise ValueError("url must be http://host[:port]/path")
    for ch in url:
        if ch <= " " or ch == "\x7f":
            raise ValueError("url has spaces or control characters")
    rest = url[7:]
    i = rest.find("/")
    hostport, path = (rest, "/") if i < 0 else (rest[:i], rest[i:])
    host, port = hostport, 80
    if ":" in hostport:
        host, p = hostport.rsplit(":", 1)
        try:
            port = int(p)
        except ValueError:
            raise ValueError("bad port in url") from None
        if not 0 < port < 65536:
            raise ValueError("bad port in url")
    if not host or "@" in host:
        raise ValueError("bad host in url")
    return host, port, path


def parse_command(text):
    """The update command (JSON on <base>/ota/set): {"url": "http://...", "sha256": optional
    sha256 of the bundle, "version": optional expected version, "id": optional, echoed in
    every status of this update, across the reboot}."""
    try:
        doc = json.loads(text)
    except ValueError:
        raise ValueError("ota command is not JSON") from None
    if not isinstance(doc, dict):
        raise ValueError("ota command is not an object")  # noqa: TRY004 - one error kind
    parse_url(doc.get("url"))
    sha = doc.get("sha256")
    if sha is not None and not _is_sha(sha):
        raise ValueError("sha256 must be 64 lowercase hex digits")
    for k in ("version", "id"):
        v = doc.get(k)
        if v is not None and (not isinstance(v, str) or not 1 <= len(v) <= 40):
            raise ValueError("bad " + k)
    return doc


def _octal(b):
    s = b.split(b"\0", 1)[0].strip()
    return int(s, 8) if s else 0


def _recv(s, n):
    """Data; b"" at the end of the stream; None when nothing came within POLL_MS."""
    try:
        return s.recv(n)
    except OSError as e:
        # CPython: TimeoutError; MicroPython: OSError(ETIMEDOUT) (EAGAIN on some ports)
        if type(e).__name__ == "TimeoutError" or (e.args and e.args[0] in (11, 110, 116)):
            return None
        raise OSError("download interrupted: " + str(e)) from None


class Updater:
    """One update, run as a generator stepped by the network worker: each step does a bounded
    amount of work (one chunk), so neither the MQTT link nor an asyncio safety loop starves.
    `status` follows OCPP's FirmwareStatus: Downloading, Downloaded, DownloadFailed,
    Installing (staged; the device reboots), InstallationFailed."""

    def __init__(self, root, key, cmd, current):
        self.root = root
        self.key = key
        self.cmd = cmd
        self.current = current
        self.status = None
        self.error = None
        self.version = cmd.get("version")
        self.received = 0
        self.size = None
        self.reboot = False
        self.done = False
        self.changed = False
        self._tenths = 0
        self._gen = self._run()

    def doc(self):
        d = {"status": self.status, "version": self.version}
        if self.cmd.get("id"):
            d["id"] = self.cmd["id"]
        if self.error:
            d["error"] = self.error
        if self.size:
            d["received"] = self.received
            d["size"] = self.size
        return json.dumps(d)

    def _set(self, status, error=None):
        self.status = status
        self.error = error
        self.changed = True

    def step(self):
        """One bounded step; never raises."""
        if self.done:
            return
        try:
            next(self._gen)
        except StopIteration:
            self.done = True
        except Exception as e:  # a bug here must not take the network worker down
            self._set("InstallationFailed", "internal error: " + repr(e))
            self.done = True

    def _run(self):
        self._set("Downloading")
        yield
        dl = otaboot.path(self.root, otaboot.DL)
        try:
            yield from self._download(dl)
        except (OSError, ValueError) as e:
            otaboot.rmtree(dl)
            self._set("DownloadFailed", str(e))
            return
        self._set("Downloaded")
        yield
        self._set("Installing")
        yield
        try:
            yield from self._install(dl)
        except (OSError, ValueError) as e:
            otaboot.rmtree(otaboot.path(self.root, otaboot.NEW))
            self._set("InstallationFailed", str(e))
            return
        finally:
            otaboot.rmtree(dl)
        self.reboot = True  # status stays Installing: the trial boot reports Installed

    def _download(self, dl):
        import socket

        host, port, path = parse_url(self.cmd["url"])
        ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
        s = socket.socket(ai[0], ai[1], ai[2])
        try:
            s.settimeout(TIMEOUT_S)
            s.connect(ai[-1])
            req = f"GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n"
            s.send(req.encode())
            s.settimeout(POLL_MS / 1000)
            stalled = 0
            head = b""
            while b"\r\n\r\n" not in head:
                data = _recv(s, 512)
                if data is None:
                    stalled += 1
                    if stalled * POLL_MS >= TIMEOUT_S * 1000:
                        raise OSError("no response")
                    yield
                    continue
                if not data:
                    raise OSError("connection closed before the response")
                head += data
                if len(head) > 4096:
                    raise OSError("response headers too long")
            head, body = head.split(b"\r\n\r\n", 1)
            lines = head.decode().split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) < 2 or parts[1] != "200":
                raise OSError("HTTP " + " ".join(parts[1:]))
            size = None
            for line in lines[1:]:
                k, _, v = line.partition(":")
                if k.strip().lower() == "content-length":
                    size = int(v.strip())
            if size is None:
                raise OSError("no Content-Length")
            if not 0 < size <= MAX_BUNDLE:
                raise OSError(f"bundle too large: {size} bytes")
            self.size = size
            h = hashlib.sha256()
            got = 0
            with open(dl, "wb") as f:
                while True:
                    if body:
                        f.write(body)
                        h.update(body)
                        got += len(body)
                        self.received = got
                        if got * 10 // size != self._tenths:  # progress in 10 % steps
                            self._tenths = got * 10 // size
                            self.changed = True
                        yield
                    if got >= size:
                        break
                    body = _recv(s, CHUNK)
                    if body is None:
                        stalled += 1
                        if stalled * POLL_MS >= TIMEOUT_S * 1000:
                            raise OSError(f"download stalled at {got} of {size} bytes")
                        yield
                        continue
                    stalled = 0
                    if not body:
                        break
            if got != size:
                raise OSError(f"download interrupted at {got} of {size} bytes")
            want = self.cmd.get("sha256")
            if want and hexdigest(h) != want:
                raise ValueError("bundle sha256 mismatch")
        finally:
            s.close()

    def _install(self, dl):
        root = self.root
        if not otaboot.exists(otaboot.path(root, otaboot.PKG)):
            raise OSError("no installed package to roll back to")
        new = otaboot.path(root, otaboot.NEW)
        for name in (otaboot.NEW, otaboot.OLD, otaboot.BAD):
            otaboot.rmtree(otaboot.path(root, name))
        os.mkdir(new)
        with open(dl, "rb") as f:
            name, size = self._header(f)
            if name != "manifest.json" or size > MAX_MANIFEST:
                raise ValueError("bundle does not start with its manifest")
            raw = f.read((size + 511) // 512 * 512)[:size]
            try:
                doc = json.loads(raw)
            except ValueError:
                raise ValueError("manifest is not JSON") from None
            version, files = check_manifest(doc, self.key)
            if self.version is not None and version != self.version:
                raise ValueError(f"bundle is version {version}, not {self.version}")
            self.version = version
            self.changed = True
            seen = {}
            while True:
                name, size = self._header(f)
                if name is None:
                    break
                if name not in files or name in seen:
                    raise ValueError("unexpected file in bundle: " + name)
                seen[name] = 1
                h = hashlib.sha256()
                left = size
                otaboot._op("stage " + name)
                with open(new + "/" + name, "wb") as out:
                    while left > 0:
                        block = f.read(512)
                        if len(block) != 512:
                            raise ValueError("bundle truncated")
                        part = block[:left] if left < 512 else block
                        out.write(part)
                        h.update(part)
                        left -= len(part)
                        yield
                if hexdigest(h) != files[name]:
                    raise ValueError("sha256 mismatch: " + name)
            if len(seen) != len(files):
                raise ValueError("bundle lacks files of its manifest")
        otaboot.mark_staged(root, version, self.current, self.cmd.get("id"))

    @staticmethod
    def _header(f):
        """(name, size) of the next tar member, (None, 0) at the end of the archive."""
        block = f.read(512)
        if len(block) != 512:
            raise ValueError("bundle truncated")
        if block == bytes(512):
            return None, 0
        if block[156:157] not in (b"0", b"\0"):
            raise ValueError("bundle holds something else than files")
        name = block[:100].split(b"\0", 1)[0].decode()
        return name, _octal(block[124:136])


def service(net, now):
    """The network worker's update step: starts an update from a command, steps it, publishes
    its status on <base>/ota (retained) and restarts the board once it is staged. Charging is
    held off (contactor open) from the command to the confirmation of the new version."""
    app = net.app
    cmd = net.ota_cmd
    if cmd is not None:
        net.ota_cmd = None
        if net.ota is not None:
            err = "an update is already running"
        elif app.trial:
            err = "the running version is on trial"
        else:
            err = None
            try:
                doc = parse_command(cmd)
            except ValueError as e:
                err = str(e)
        if err is not None:
            doc = {"status": "DownloadFailed", "error": err}
            try:  # noqa: SIM105 - no contextlib in MicroPython; the command's id where it has one
                doc["id"] = str(json.loads(cmd)["id"])[:40]
            except Exception:
                pass
            _publish(net, json.dumps(doc))
            return
        from evse import VERSION

        net.ota = Updater(app.root, app.cfg["ota"]["key"], doc, VERSION)
        app.inbox.append(("hold", True))
    u = net.ota
    if u is None:
        return
    if u.status is None and (not app.hold or app.evse.contactor):
        return  # wait until the safety loop holds charging off and the contactor is open
    u.step()
    if u.changed:
        u.changed = False
        _publish(net, u.doc())
    if u.done:
        net.ota = None
        if u.reboot:
            app.reboot = True
        else:
            app.inbox.append(("hold", False))


def confirm(net):
    """A trial version is healthy (its safety loop runs and it reached the broker): it
    becomes the installed version, charging is allowed again."""
    app = net.app
    st = otaboot.confirm(app.root) or {}
    app.trial = False
    app.inbox.append(("hold", False))
    doc = {"status": "Installed", "version": st.get("version")}
    if st.get("id"):
        doc["id"] = st["id"]
    _publish(net, json.dumps(doc))


def _publish(net, doc):
    net.app.ota_doc = doc
    net.client.publish(net.t_ota, doc, retain=True)
