# ruff: noqa: PT009, PT027 - unittest assertions: these modules also run under MicroPython
# Over-the-air update: signature, manifest and command checks, the streamed download, the
# staging, and otaboot's swap, rollback and confirmation with a power loss at every step.
import json
import sys
import unittest

import fwsim
import otaboot
import otasim
from evse import ota
from evse.app import App
from evse.compat import ticks_add
from evse.net import Net
from fwsim import START, Broker, FakeHardware, FakeMQTT, FakeWlan
from otasim import NEW, OLD, Crash, crash_at, scratch, tree


class HmacTest(unittest.TestCase):
    def test_rfc4231_vectors(self):
        self.assertEqual(
            otasim.hexlify(ota.hmac_sha256(b"Jefe", b"what do ya want for nothing?")).decode(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        )
        self.assertEqual(  # a key longer than the block is hashed first
            otasim.hexlify(
                ota.hmac_sha256(
                    b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First"
                )
            ).decode(),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        )


class ManifestTest(unittest.TestCase):
    def doc(self, files=None, key=None, **extra):
        return json.loads(otasim.manifest("0.2.0", files or NEW, key, extra or None))

    def test_valid_unsigned(self):
        version, files = ota.check_manifest(self.doc(), "")
        self.assertEqual(version, "0.2.0")
        self.assertEqual(sorted(files), sorted(NEW))

    def test_signature_checked_when_a_key_is_configured(self):
        self.assertEqual(ota.check_manifest(self.doc(key="s3cret"), "s3cret")[0], "0.2.0")
        with self.assertRaises(ValueError) as cm:
            ota.check_manifest(self.doc(key="other"), "s3cret")
        self.assertEqual(str(cm.exception), "bad signature")
        with self.assertRaises(ValueError) as cm:
            ota.check_manifest(self.doc(), "s3cret")
        self.assertEqual(str(cm.exception), "bundle is not signed")

    def test_signature_covers_every_checksum(self):
        doc = self.doc(key="k")
        doc["files"]["app.py"] = "0" * 64
        with self.assertRaises(ValueError):
            ota.check_manifest(doc, "k")

    def test_refusals(self):
        for files, why in (
            ({"../x.py": b"", "__init__.py": b"", "app.py": b""}, "bad file name"),
            ({"lib/x.mpy": b"", "__init__.py": b"", "app.py": b""}, "bad file name"),
            ({"__init__.py": b""}, "bundle lacks app"),
            ({"app.mpy": b""}, "bundle lacks __init__"),
        ):
            with self.assertRaises(ValueError) as cm:
                ota.check_manifest(self.doc(files), "")
            self.assertTrue(str(cm.exception).startswith(why), str(cm.exception))
        doc = self.doc()
        doc["files"]["app.py"] = "XYZ"
        with self.assertRaises(ValueError):
            ota.check_manifest(doc, "")
        for bad in ([], {"files": {}}, {"version": "", "files": {"app.py": "0" * 64}}):
            with self.assertRaises(ValueError):
                ota.check_manifest(bad, "")


class CommandTest(unittest.TestCase):
    def test_urls(self):
        self.assertEqual(
            ota.parse_url("http://10.0.0.2:8123/a/b.tar"), ("10.0.0.2", 8123, "/a/b.tar")
        )
        self.assertEqual(ota.parse_url("http://ha.local"), ("ha.local", 80, "/"))
        for bad in (
            "https://h/x",
            "ftp://h/x",
            "http://user:pw@h/x",
            "http://h:0/x",
            "http://h:99999/x",
            "http://h:x/x",
            "http://h/a b",
            "http:///x",
            None,
            "http://" + "a" * 300,
        ):
            with self.assertRaises(ValueError):
                ota.parse_url(bad)

    def test_command(self):
        doc = ota.parse_command('{"url": "http://h/b.tar", "sha256": "' + "a" * 64 + '"}')
        self.assertEqual(doc["url"], "http://h/b.tar")
        for bad in ("nope", "[]", '{"url": "x"}', '{"url": "http://h/", "sha256": "AB"}'):
            with self.assertRaises(ValueError):
                ota.parse_command(bad)


def run_gen(gen):
    steps = 0
    for _ in gen:
        steps += 1
    return steps


class DownloadTest(unittest.TestCase):
    def setUp(self):
        self.saved = sys.modules.get("socket")

    def tearDown(self):
        if self.saved is None:
            sys.modules.pop("socket", None)
        else:
            sys.modules["socket"] = self.saved

    def fetch(self, fake, cmd=None):
        sys.modules["socket"] = fake
        root = scratch()
        u = ota.Updater(root, "", cmd or {"url": "http://127.0.0.1:8000/b.tar"}, "0.1.0")
        dl = root + "/" + otaboot.DL
        err = None
        try:
            steps = run_gen(u._download(dl))
        except (OSError, ValueError) as e:
            err = str(e)
            steps = None
        return u, dl, err, steps

    def test_streamed_in_chunks(self):
        body = otasim.bundle("0.2.0", NEW)
        fake = otasim.FakeSocketModule(otasim.http_200(body), chunk=700)
        u, dl, err, steps = self.fetch(fake)
        self.assertIsNone(err)
        self.assertEqual(otasim.read(dl), body)
        self.assertEqual(u.received, len(body))
        self.assertTrue(steps > len(body) // 1024)  # one step per chunk
        self.assertEqual(fake.requests[0].split(b"\r\n")[0], b"GET /b.tar HTTP/1.0")
        self.assertEqual(fake.addr, ("127.0.0.1", 8000))
        self.assertEqual(fake.closed, 1)
        self.assertEqual(fake.timeouts, [ota.TIMEOUT_S, ota.POLL_MS / 1000])

    def test_bundle_checksum(self):
        body = otasim.bundle("0.2.0", NEW)
        ok = {"url": "http://h/b", "sha256": otasim.sha(body)}
        self.assertIsNone(self.fetch(otasim.FakeSocketModule(otasim.http_200(body)), ok)[2])
        bad = {"url": "http://h/b", "sha256": otasim.sha(body + b"x")}
        err = self.fetch(otasim.FakeSocketModule(otasim.http_200(body)), bad)[2]
        self.assertEqual(err, "bundle sha256 mismatch")

    def test_interrupted(self):
        body = otasim.bundle("0.2.0", NEW)
        resp = otasim.http_200(body)
        fake = otasim.FakeSocketModule(resp, cut=len(resp) - 1000)
        err = self.fetch(fake)[2]
        self.assertEqual(err, f"download interrupted at {len(body) - 1000} of {len(body)} bytes")
        self.assertEqual(fake.closed, 1)

    def test_a_slow_server_is_waited_for_step_by_step(self):
        body = otasim.bundle("0.2.0", NEW)
        resp = otasim.http_200(body)
        fake = otasim.FakeSocketModule(resp, stall_at=len(resp) // 2, stalls=30)
        u, dl, err, steps = self.fetch(fake)
        self.assertIsNone(err)
        self.assertEqual(otasim.read(dl), body)
        self.assertEqual(fake.stalls, 0)  # every timeout was one step, then it went on

    def test_a_stalled_server_fails_the_download(self):
        body = otasim.bundle("0.2.0", NEW)
        resp = otasim.http_200(body)
        fake = otasim.FakeSocketModule(resp, stall_at=len(resp) // 2, stalls=10**6)
        u, dl, err, steps = self.fetch(fake)
        self.assertTrue(err.startswith("download stalled at "), err)
        polls = ota.TIMEOUT_S * 1000 // ota.POLL_MS
        self.assertEqual(fake.stalls, 10**6 - polls)
        fake = otasim.FakeSocketModule(resp, stall_at=0, stalls=10**6)
        self.assertEqual(self.fetch(fake)[2], "no response")

    def test_http_errors(self):
        for resp, why in (
            (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", "HTTP 404 Not Found"),
            (otasim.http_200(b"abc", length=False), "no Content-Length"),
            (b"HTTP/1.1 200 OK\r\nContent-Le", "connection closed before the response"),
            (b"", "connection closed before the response"),
        ):
            self.assertEqual(self.fetch(otasim.FakeSocketModule(resp))[2], why)
        self.assertIsNotNone(self.fetch(otasim.FakeSocketModule(b"", fail_connect=True))[2])


class StagingTest(unittest.TestCase):
    def stage(self, data, key="", version=None, root=None):
        if root is None:
            root = scratch()
        otasim.install_package(root, OLD)
        dl = root + "/" + otaboot.DL
        otasim.write(dl, data)
        u = ota.Updater(root, key, {"url": "http://h/b", "version": version}, "0.1.0")
        err = None
        try:
            run_gen(u._install(dl))
        except (OSError, ValueError) as e:
            err = str(e)
        return root, err

    def test_staged(self):
        root, err = self.stage(otasim.bundle("0.2.0", NEW, key="k"), key="k")
        self.assertIsNone(err)
        self.assertEqual(tree(root + "/" + otaboot.NEW), NEW)
        st = otaboot.read_state(root)
        self.assertEqual((st["phase"], st["version"], st["old"]), ("staged", "0.2.0", "0.1.0"))
        self.assertEqual(tree(root + "/lib/evse"), OLD)

    def test_refused_bundles_stage_nothing(self):
        good = otasim.bundle("0.2.0", NEW)
        man = otasim.manifest("0.2.0", NEW)
        cases = (
            (otasim.bundle("0.2.0", NEW, tamper="app.py"), "", "sha256 mismatch: app.py"),
            (otasim.bundle("0.2.0", NEW), "k", "bundle is not signed"),
            (otasim.bundle("0.2.0", NEW, key="x"), "k", "bad signature"),
            (good[:2048], "", "bundle truncated"),
            (otasim.tar([("app.py", b"x")]), "", "bundle does not start with its manifest"),
            (otasim.tar([("manifest.json", b"{")]), "", "manifest is not JSON"),
            (
                otasim.tar([("manifest.json", man), ("evil.py", b"x")]),
                "",
                "unexpected file in bundle: evil.py",
            ),
            (
                otasim.tar([("manifest.json", man), ("app.py", NEW["app.py"])]),
                "",
                "bundle lacks files of its manifest",
            ),
        )
        for data, key, why in cases:
            root, err = self.stage(data, key=key)
            self.assertEqual(err, why)
            # what the updater does on failure: the partial staging goes
            otaboot.rmtree(root + "/" + otaboot.NEW)
            self.assertEqual(otaboot.read_state(root)["phase"], "idle")
            self.assertEqual(tree(root + "/lib/evse"), OLD)

    def test_expected_version(self):
        self.assertEqual(
            self.stage(otasim.bundle("0.2.0", NEW), version="0.3.0")[1],
            "bundle is version 0.2.0, not 0.3.0",
        )

    def test_power_loss_while_staging_leaves_the_installed_package(self):
        data = otasim.bundle("0.2.0", NEW)
        k = 0
        while True:
            log = []
            root = scratch()
            otaboot._hook = crash_at(k, log)
            try:
                self.stage(data, root=root)
            except Crash:
                pass
            finally:
                otaboot._hook = None
            if not log:
                break
            st = otaboot.boot(root)
            if log == ["commit state staged"]:
                # the first state file ever: its complete temporary copy counts (FAT window),
                # and everything was staged before it was written
                self.assertEqual(st["phase"], "trial")
                self.assertEqual(tree(root + "/lib/evse"), NEW)
            else:
                self.assertEqual(st["phase"], "idle", log)
                self.assertEqual(tree(root + "/lib/evse"), OLD)
            self.assertIsNone(tree(root + "/" + otaboot.NEW))
            k += 1
        self.assertEqual(k, len(NEW) + 2)  # each file, the state (2 ops)


def staged_root():
    root = scratch()
    otasim.install_package(root, OLD)
    os_new = root + "/" + otaboot.NEW
    import os

    os.mkdir(os_new)
    for name, data in NEW.items():
        otasim.write(os_new + "/" + name, data)
    otaboot.mark_staged(root, "0.2.0", "0.1.0")
    return root


def boot_with_crash(root, k):
    log = []
    otaboot._hook = crash_at(k, log)
    try:
        otaboot.boot(root)
    except Crash:
        pass
    finally:
        otaboot._hook = None
    return log


class BootTest(unittest.TestCase):
    def test_swap_then_confirm(self):
        root = staged_root()
        st = otaboot.boot(root)
        self.assertEqual((st["phase"], st["boots"], st["version"]), ("trial", 1, "0.2.0"))
        self.assertEqual(tree(root + "/lib/evse"), NEW)
        self.assertEqual(tree(root + "/" + otaboot.OLD), OLD)
        self.assertEqual(otaboot.confirm(root)["version"], "0.2.0")
        self.assertIsNone(otaboot.confirm(root))
        self.assertIsNone(tree(root + "/" + otaboot.OLD))
        st = otaboot.boot(root)
        self.assertEqual((st["phase"], st["status"], st["version"]), ("idle", "Installed", "0.2.0"))
        self.assertEqual(tree(root + "/lib/evse"), NEW)

    def test_unconfirmed_trial_rolls_back(self):
        root = staged_root()
        otaboot.boot(root)
        st = otaboot.boot(root)  # the trial did not confirm
        self.assertEqual(
            (st["phase"], st["status"], st["version"]), ("idle", "InstallationFailed", "0.1.0")
        )
        self.assertEqual(st["error"], "version 0.2.0 did not confirm; rolled back")
        self.assertEqual(tree(root + "/lib/evse"), OLD)
        for name in (otaboot.NEW, otaboot.OLD, otaboot.BAD):
            self.assertIsNone(tree(root + "/" + name))
        self.assertEqual(otaboot.boot(root)["status"], "InstallationFailed")  # stays

    def test_power_loss_at_every_step_of_the_swap(self):
        k = 0
        while True:
            root = staged_root()
            log = boot_with_crash(root, k)
            if not log:
                break
            st = otaboot.boot(root)  # power is back
            self.assertEqual((st["phase"], st["boots"]), ("trial", 1), log)
            self.assertEqual(tree(root + "/lib/evse"), NEW, log)
            self.assertEqual(tree(root + "/" + otaboot.OLD), OLD, log)
            self.assertIsNone(tree(root + "/" + otaboot.NEW), log)
            k += 1
        self.assertEqual(k, 6)  # 2 renames, the trial state (2 ops), the boot count (2 ops)

    def test_power_loss_at_every_step_of_the_rollback(self):
        k = 0
        while True:
            root = staged_root()
            otaboot.boot(root)
            log = boot_with_crash(root, k)
            if not log:
                break
            st = otaboot.boot(root)
            self.assertEqual((st["phase"], st["status"]), ("idle", "InstallationFailed"), log)
            self.assertEqual(tree(root + "/lib/evse"), OLD, log)
            for name in (otaboot.NEW, otaboot.OLD, otaboot.BAD):
                self.assertIsNone(tree(root + "/" + name), log)
            k += 1
        self.assertGreaterEqual(k, 6)  # 2 renames, the state, removing the rejected files

    def test_power_loss_at_every_step_of_the_confirmation(self):
        k = 0
        while True:
            root = staged_root()
            otaboot.boot(root)
            log = []
            otaboot._hook = crash_at(k, log)
            try:
                otaboot.confirm(root)
            except Crash:
                pass
            finally:
                otaboot._hook = None
            if not log:
                break
            committed = otaboot.read_state(root)["phase"] == "idle"
            st = otaboot.boot(root)
            if committed:  # Installed, whatever of the old package was left is removed
                self.assertEqual(st["status"], "Installed", log)
                self.assertEqual(tree(root + "/lib/evse"), NEW, log)
            else:  # not durably confirmed: the trial's second boot rolls back
                self.assertEqual(st["status"], "InstallationFailed", log)
                self.assertEqual(tree(root + "/lib/evse"), OLD, log)
            self.assertIsNone(tree(root + "/" + otaboot.OLD), log)
            k += 1
        self.assertGreaterEqual(k, 4)

    def test_state_file_survives_a_torn_write(self):
        root = scratch()
        otaboot.write_state(root, {"phase": "idle", "status": "Installed"})
        otasim.write(root + "/" + otaboot.STATE + ".tmp", b'{"phase": "tri')  # torn
        self.assertEqual(otaboot.read_state(root)["status"], "Installed")
        # FAT renames by remove + rename: a complete temporary file alone is the new state
        import os

        os.remove(root + "/" + otaboot.STATE)
        otasim.write(root + "/" + otaboot.STATE + ".tmp", b'{"phase": "staged", "version": "9"}')
        self.assertEqual(otaboot.read_state(root)["phase"], "staged")
        self.assertEqual(otaboot.read_state(scratch()), {"phase": "idle"})


class Rig:
    """App + Net on fake hardware and MQTT, with a file system root and a scripted socket."""

    def __init__(self, root, boot=None, store=None, **cfg):
        cfg.setdefault("ota", {"confirm_s": 30})
        self.cfg = fwsim.config(**cfg)
        self.hw = FakeHardware(store=store)  # `store`: the NVS, kept across a reboot
        self.t = 0
        self.now = START
        self.app = App(self.cfg, self.hw, self.now, root=root, boot=boot)
        self.broker = Broker()
        self.net = Net(self.app, self.cfg, FakeWlan(), lambda: FakeMQTT(self.broker))
        self.closed_during = []

    def run(self, ms, tick=20):
        end = self.t + ms
        while self.t < end and not self.app.reboot:
            self.hw.t = self.t
            self.app.tick(self.now)
            u = self.net.ota
            if u is not None and u.status is not None and self.hw.contactor:
                self.closed_during.append(self.t)
            if self.t % 1000 == 0:
                self.app.housekeeping(self.now)
            self.net.service(self.now)
            self.t += tick
            self.now = ticks_add(self.now, tick)

    def statuses(self):
        return [json.loads(p)["status"] for t, p, _ in self.broker.log if t == "ocpp_cp/evse1/ota"]


def squeeze(seq):
    """Consecutive repeats dropped."""
    out = []
    for x in seq:
        if not out or out[-1] != x:
            out.append(x)
    return out


class AppUpdateTest(unittest.TestCase):
    def setUp(self):
        self.saved = sys.modules.get("socket")

    def tearDown(self):
        if self.saved is None:
            sys.modules.pop("socket", None)
        else:
            sys.modules["socket"] = self.saved

    def test_update_while_charging_holds_the_contactor_open_then_installs(self):
        root = scratch()
        otasim.install_package(root, OLD)
        body = otasim.bundle("0.2.0", NEW)
        sys.modules["socket"] = otasim.FakeSocketModule(otasim.http_200(body))
        r = Rig(root)
        r.hw.car.state = "B"
        r.run(500)
        r.hw.car.state = "C"
        r.hw.car.leave_c_ms = 300
        r.run(2000)
        self.assertTrue(r.hw.contactor)
        cmd = {"url": "http://127.0.0.1:8000/b.tar", "sha256": otasim.sha(body), "id": "req-1"}
        r.broker.inbound.append(("ocpp_cp/evse1/ota/set", json.dumps(cmd)))
        r.run(200)
        self.assertTrue(r.app.hold)
        self.assertFalse(r.app.evse.enabled)
        r.broker.inbound.append(("ocpp_cp/evse1/charging/set", "ON"))  # refused
        r.run(10000)
        self.assertTrue(r.app.reboot)  # the safety loop ends, outputs safe, board reset
        self.assertFalse(r.hw.contactor)
        self.assertEqual(r.closed_during, [])  # the download waited for the contactor to open
        self.assertEqual(squeeze(r.statuses()), ["Downloading", "Downloaded", "Installing"])
        self.assertTrue(len(r.statuses()) > 4)  # progress while downloading
        last = json.loads(r.broker.retained["ocpp_cp/evse1/ota"])
        self.assertEqual(
            (last["version"], last["received"], last["size"]), ("0.2.0", len(body), len(body))
        )
        self.assertFalse(r.app.evse.enabled)
        self.assertEqual(otaboot.read_state(root)["phase"], "staged")

        # The reboot: otaboot swaps, the new version holds charging until it confirms.
        st = otaboot.boot(root)
        self.assertEqual(tree(root + "/lib/evse"), NEW)
        r2 = Rig(root, boot=st)
        self.assertTrue(r2.app.trial and r2.app.hold)
        r2.hw.car.state = "C"
        r2.run(500)
        self.assertEqual(r2.statuses(), ["Installing"])  # republished at connect
        self.assertFalse(r2.hw.contactor)
        r2.run(1500)
        self.assertFalse(r2.app.trial)
        self.assertEqual(r2.statuses(), ["Installing", "Installed"])
        last = json.loads(r2.broker.retained["ocpp_cp/evse1/ota"])
        self.assertEqual((last["version"], last["id"]), ("0.2.0", "req-1"))
        for topic, payload, _retain in r.broker.log + r2.broker.log:
            if topic == "ocpp_cp/evse1/ota":  # every status of this update, across the reboot
                self.assertEqual(json.loads(payload)["id"], "req-1")
        self.assertEqual(otaboot.read_state(root)["status"], "Installed")
        self.assertFalse(r2.app.hold)
        r2.run(3000)
        self.assertTrue(r2.hw.contactor)  # charging again once confirmed

    def test_a_limit_command_during_the_hold_keeps_charging_enabled_across_the_update(self):
        # The hold forces charging off; persisting the limit must not persist that as the
        # user's choice, or the new version (and a rollback) boots with charging disabled.
        root = scratch()
        otasim.install_package(root, OLD)
        body = otasim.bundle("0.2.0", NEW)
        # a slow server: the update lasts past a housekeeping pass
        resp = otasim.http_200(body)
        sys.modules["socket"] = otasim.FakeSocketModule(resp, stall_at=0, stalls=100)
        store = fwsim.Store()
        r = Rig(root, store=store)
        r.run(200)
        r.broker.inbound.append(("ocpp_cp/evse1/ota/set", '{"url": "http://h/b.tar"}'))
        r.run(100)
        self.assertTrue(r.app.hold)
        r.broker.inbound.append(("ocpp_cp/evse1/current_limit/set", "10"))
        r.run(10000)
        self.assertTrue(r.app.reboot)
        self.assertEqual(store.get("lim"), 100)  # the limit was persisted during the hold
        self.assertEqual(store.get("en"), 1)  # and the user's enabled setting stayed
        st = otaboot.boot(root)
        r2 = Rig(root, boot=st, store=store)
        r2.broker.inbound.append(("ocpp_cp/evse1/current_limit/set", "12"))
        r2.run(2000)
        self.assertFalse(r2.app.trial)
        self.assertEqual(store.get("en"), 1)
        self.assertTrue(r2.app.evse.enabled)
        self.assertEqual(r2.app.evse.setpoint, 120)
        r2.hw.car.state = "B"
        r2.run(500)
        r2.hw.car.state = "C"
        r2.run(3000)
        self.assertTrue(r2.hw.contactor)  # charging again once confirmed

    def test_refused_command_and_failed_download_release_the_hold(self):
        root = scratch()
        otasim.install_package(root, OLD)
        r = Rig(root)
        r.run(100)
        r.broker.inbound.append(("ocpp_cp/evse1/ota/set", '{"url": "ftp://h/x"}'))
        r.run(200)
        self.assertEqual(r.statuses(), ["DownloadFailed"])
        self.assertFalse(r.app.hold)
        sys.modules["socket"] = otasim.FakeSocketModule(b"HTTP/1.0 404 Not Found\r\n\r\n")
        r.broker.inbound.append(("ocpp_cp/evse1/ota/set", '{"url": "http://h/x"}'))
        r.run(500)
        self.assertEqual(r.statuses(), ["DownloadFailed", "Downloading", "DownloadFailed"])
        self.assertEqual(
            json.loads(r.broker.retained["ocpp_cp/evse1/ota"])["error"], "HTTP 404 Not Found"
        )
        self.assertFalse(r.app.hold)
        self.assertTrue(r.app.evse.enabled)
        self.assertFalse(r.app.reboot)

    def test_the_update_code_leaves_the_heap_once_the_update_is_over(self):
        # evse.ota (and the otaboot it imports) load only for an update: once it is refused,
        # failed or confirmed they are dropped again, as evse.disco and evse.config are.
        import evse

        names = ("evse.ota", "otaboot")
        saved = [sys.modules.get(n) for n in names]

        def loaded():
            return [n for n in names if n in sys.modules]

        def unload():  # as on the device: neither is loaded until an update command
            for n in names:
                sys.modules.pop(n, None)
            if "ota" in evse.__dict__:
                del evse.ota

        try:
            unload()
            root = scratch()
            otasim.install_package(root, OLD)
            r = Rig(root)
            r.run(100)
            self.assertEqual(loaded(), [])
            r.broker.inbound.append(("ocpp_cp/evse1/ota/set", '{"url": "ftp://h/x"}'))
            r.run(200)
            self.assertEqual(r.statuses(), ["DownloadFailed"])
            self.assertEqual(loaded(), [])  # refused
            resp = otasim.http_200(b"x" * 100)
            sys.modules["socket"] = otasim.FakeSocketModule(resp, stall_at=0, stalls=20)
            r.broker.inbound.append(("ocpp_cp/evse1/ota/set", '{"url": "http://h/x"}'))
            r.run(200)
            self.assertEqual(loaded(), list(names))  # while it runs
            r.run(1000)
            self.assertEqual(r.statuses()[-1], "InstallationFailed")
            self.assertEqual(loaded(), [])  # failed
            root = staged_root()
            st = otaboot.boot(root)
            unload()
            r = Rig(root, boot=st)
            r.run(200)
            self.assertEqual(loaded(), list(names))  # on trial
            r.run(1800)
            self.assertEqual(r.statuses(), ["Installing", "Installed"])
            self.assertEqual(loaded(), [])  # confirmed
        finally:
            for i in range(len(names)):  # no zip(strict=) in MicroPython
                sys.modules[names[i]] = saved[i]
            evse.ota = ota

    def test_trial_that_never_confirms_restarts_for_the_rollback(self):
        root = staged_root()
        st = otaboot.boot(root)
        r = Rig(root, boot=st, ota={"confirm_s": 5})
        r.net.wlan.up = False  # never reaches the broker: never healthy
        r.run(10000)
        self.assertTrue(r.app.reboot)
        self.assertTrue(4000 <= r.t <= 6100, r.t)
        st = otaboot.boot(root)
        self.assertEqual(st["status"], "InstallationFailed")
        self.assertEqual(tree(root + "/lib/evse"), OLD)
        r2 = Rig(root, boot=st)
        r2.run(200)
        self.assertEqual(r2.statuses(), ["InstallationFailed"])
        self.assertFalse(r2.app.hold)
