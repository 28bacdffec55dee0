"""scripts/build_firmware_bundle.py: what it writes is what the firmware's installer accepts
(signed and unsigned), and a bundle signed with another key is refused."""

from __future__ import annotations

import hashlib
import json
import sys
import tarfile
from pathlib import Path

import otaboot
import otasim
import pytest
from evse import ota

from tests.firmware.conftest import FIRMWARE, ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import build_firmware_bundle


def stage(bundle: Path, key: str, tmp_path: Path) -> str | None:
    root = tmp_path / "fs"
    root.mkdir(parents=True)
    otasim.install_package(str(root), otasim.OLD)
    dl = root / otaboot.DL
    dl.write_bytes(bundle.read_bytes())
    updater = ota.Updater(str(root), key, {"url": "http://h/b"}, "0.1.0")
    try:
        for _ in updater._install(str(dl)):
            pass
    except ValueError as err:
        return str(err)
    return None


def test_unsigned_bundle_of_mpy_files(tmp_path: Path) -> None:
    out = tmp_path / "b.tar"
    assert build_firmware_bundle.main(["-o", str(out)]) == 0
    with tarfile.open(out) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        app = tar.extractfile("app.mpy").read()  # type: ignore[union-attr]
    expected = sorted(
        p.stem + ".mpy" for p in (FIRMWARE / "evse").glob("*.py") if p.name != "_host.py"
    )
    assert names == ["manifest.json", *expected]
    assert sorted(manifest["files"]) == expected
    assert manifest["files"]["app.mpy"] == hashlib.sha256(app).hexdigest()
    assert app[:1] == b"M"  # an .mpy header, not source
    assert "hmac" not in manifest
    assert stage(out, "", tmp_path) is None
    assert sorted(p.name for p in (tmp_path / "fs" / otaboot.NEW).iterdir()) == expected
    assert stage(out, "k", tmp_path / "2") == "bundle is not signed"


def test_signed_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("correct horse\n")
    out = tmp_path / "b.tar"
    assert build_firmware_bundle.main(["-o", str(out), "--key-file", str(key_file)]) == 0
    assert stage(out, "correct horse", tmp_path / "1") is None
    assert stage(out, "another key", tmp_path / "2") == "bad signature"
    monkeypatch.setenv(build_firmware_bundle.KEY_ENV, "from env")
    out2 = tmp_path / "b2.tar"
    assert build_firmware_bundle.main(["-o", str(out2)]) == 0
    assert stage(out2, "from env", tmp_path / "3") is None
    # Reproducible: the same inputs give the same bytes.
    out3 = tmp_path / "b3.tar"
    assert build_firmware_bundle.main(["-o", str(out3)]) == 0
    assert out3.read_bytes() == out2.read_bytes()
