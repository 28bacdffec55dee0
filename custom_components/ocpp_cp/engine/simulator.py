"""A simulated charger on the engine, driven line by line from standard input.

Each OCPP frame and state change is printed as one JSON line on standard output, so a CSMS can be
checked without Home Assistant or hardware, and tests can use it as a black box. Its state (the
configuration keys, running transactions, the energy register) lives in ``--state-dir``, so a
restart continues where it stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import sys
from typing import Any

from ocpp.v16.enums import ChargePointErrorCode, Measurand

from .chargepoint import ChargePointEngine
from .hardware import ChargingLimit, EvState, NullHardware, ResetKind, UnlockOutcome
from .ocpp16.frames import OcppCallError
from .settings import FEATURE_PROFILES, EngineSettings, SecurityProfile, SettingsError
from .storage import EngineStorage, JsonDirectoryStorage

SIMULATED_MEASURANDS = frozenset(
    {
        Measurand.energy_active_import_register,
        Measurand.power_active_import,
        Measurand.current_import,
        Measurand.voltage,
    }
)

HELP = (
    "commands: plug N | unplug N | ev-charging N | ev-suspended N | swipe TAG [N] | "
    "fault N CODE | clear N | meter N WH | data-transfer VENDOR [MESSAGE] [DATA] | "
    "sign-certificate | security-event TYPE [TECH INFO] | offline | online | help | quit"
)
# How many words after the verb each command takes (fewest, most).
ARITY: dict[str, tuple[int, int]] = {
    "plug": (1, 1),
    "unplug": (1, 1),
    "ev-charging": (1, 1),
    "ev-suspended": (1, 1),
    "swipe": (1, 2),
    "fault": (2, 2),
    "clear": (1, 1),
    "meter": (2, 2),
    "data-transfer": (1, 3),
    "sign-certificate": (0, 0),
    "security-event": (1, 255),  # the tech info is the rest of the line
    "offline": (0, 0),
    "online": (0, 0),
    "help": (0, 0),
}


def emit(event: str, **data: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **data}, separators=(",", ":")) + "\n")
    sys.stdout.flush()


class SimulatedCharger(NullHardware):
    """Contactor, limit and energy register of a pretend charger; the register is persisted."""

    def __init__(self, storage: EngineStorage, voltage: float, install: bool = False) -> None:
        self.storage = storage
        self.voltage = voltage
        # --firmware-install: what a firmware installation reports (nothing is installed).
        self.install = install
        self.engine: ChargePointEngine | None = None
        self.permitted: dict[int, bool] = {}
        self.energy_wh: dict[int, float] = {}
        self.charging: dict[int, bool] = {}
        self.limit_amps: dict[int, float] = {}

    async def load(self, connectors: int) -> None:
        saved = await self.storage.async_load("simulator") or {}
        for connector_id in range(1, connectors + 1):
            self.energy_wh[connector_id] = float(saved.get(str(connector_id), 0.0))

    async def save(self) -> None:
        await self.storage.async_save("simulator", {str(k): v for k, v in self.energy_wh.items()})

    def publish(self, connector_id: int) -> None:
        """Push this connector's meter to the engine, as a real meter would."""
        if self.engine is None:
            return
        drawing = self.permitted.get(connector_id, False) and self.charging.get(connector_id, False)
        amps = self.limit_amps.get(connector_id, 0.0) if drawing else 0.0
        engine = self.engine
        engine.set_reading(
            connector_id, Measurand.energy_active_import_register, self.energy_wh[connector_id]
        )
        engine.set_reading(connector_id, Measurand.power_active_import, amps * self.voltage)
        engine.set_reading(connector_id, Measurand.current_import, amps, "L1")
        engine.set_reading(connector_id, Measurand.voltage, self.voltage, "L1-N")

    async def run_energy_model(self, period: float = 1.0) -> None:
        """The register counts what the pretend car draws (limit x voltage), so a session
        reports real Wh. Saved before the engine sees it: after a SIGKILL the register
        resumes at or above every value already sent, never below."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(period)
            now = loop.time()
            elapsed, last = now - last, now
            drawing = [
                c
                for c in self.energy_wh
                if self.permitted.get(c, False) and self.charging.get(c, False)
            ]
            for connector_id in drawing:
                watts = self.limit_amps.get(connector_id, 0.0) * self.voltage
                self.energy_wh[connector_id] += watts * elapsed / 3600
            if drawing:
                await self.save()
                for connector_id in drawing:
                    self.publish(connector_id)

    async def set_charging_permitted(self, connector_id: int, permitted: bool) -> None:
        self.permitted[connector_id] = permitted
        emit(
            "hardware", action="charging_permitted", connector_id=connector_id, permitted=permitted
        )
        self.publish(connector_id)

    async def set_charging_limit(self, connector_id: int, limit: ChargingLimit) -> None:
        self.limit_amps[connector_id] = limit.amps or 0.0
        emit(
            "hardware",
            action="limit",
            connector_id=connector_id,
            amps=limit.amps,
            watts=limit.watts,
        )
        self.publish(connector_id)

    async def install_firmware(self, path: str, sha256: str) -> bool:
        emit("hardware", action="install_firmware", path=path, sha256=sha256, ok=self.install)
        return self.install

    async def diagnostics_files(self) -> dict[str, bytes]:
        registers = {str(k): v for k, v in self.energy_wh.items()}
        return {"simulator.json": json.dumps({"energy_wh": registers}).encode()}

    async def unlock_connector(self, connector_id: int) -> UnlockOutcome:
        emit("hardware", action="unlock", connector_id=connector_id)
        return UnlockOutcome.UNLOCKED

    async def reset(self, kind: ResetKind) -> None:
        emit("hardware", action="reset", kind=kind.value)


AUTH_KEY_VARIABLE = "OCPP_CP_AUTH_KEY"
MIN_DELAY = 0.1


def delay(text: str) -> float:
    """A number of seconds, at least 0.1 (0 would dial hundreds of times a second)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < MIN_DELAY:
        raise argparse.ArgumentTypeError(f"{text} s: at least {MIN_DELAY} s")
    return value


def authorization_key(args: argparse.Namespace) -> str | None:
    """From --auth-key-file, else $OCPP_CP_AUTH_KEY, else --auth-key; never echoed."""
    if args.auth_key_file:
        with open(args.auth_key_file, encoding="utf-8") as source:
            return source.readline().strip() or None
    return os.environ.get(AUTH_KEY_VARIABLE) or args.auth_key


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m custom_components.ocpp_cp.engine",
        description="OCPP 1.6J charge-point simulator. " + HELP,
    )
    parser.add_argument("--url", required=True, help="CSMS base URL, ws:// or wss://")
    parser.add_argument("--id", required=True, dest="charge_point_id", help="charge point id")
    parser.add_argument("--state-dir", default=".ocpp_cp_sim", help="where state is kept")
    parser.add_argument("--connectors", type=int, default=1)
    parser.add_argument("--security-profile", type=int, choices=[0, 1, 2, 3], default=0)
    parser.add_argument(
        "--auth-key",
        help="AuthorizationKey (Basic auth password, profiles 1-2); visible to other users in "
        f"the process list: prefer --auth-key-file or ${AUTH_KEY_VARIABLE}",
    )
    parser.add_argument("--auth-key-file", help="a file whose first line is the AuthorizationKey")
    parser.add_argument("--ca-file", help="CA bundle for wss:// (default: system CAs)")
    parser.add_argument("--client-cert", help="client certificate (profile 3)")
    parser.add_argument("--client-key", help="client private key (profile 3)")
    parser.add_argument(
        "--tls-server-name", help="name the CSMS certificate carries, if not the URL's host"
    )
    parser.add_argument(
        "--tls-allow-v1-ca",
        action="store_true",
        help="accept an X.509 v1 root without basicConstraints as the --ca-file",
    )
    parser.add_argument("--serial", help="charge point serial number (BootNotification)")
    parser.add_argument(
        "--no-lock",
        type=int,
        action="append",
        default=[],
        metavar="N",
        help="connector N has a fixed cable and no lock (repeatable)",
    )
    parser.add_argument(
        "--feature-profiles",
        default=",".join(FEATURE_PROFILES),
        help="comma-separated OCPP 1.6 feature profiles to offer (Core always)",
    )
    parser.add_argument(
        "--firmware-install",
        choices=["accept", "reject"],
        default="reject",
        help="what UpdateFirmware's installation reports: Installed or InstallationFailed",
    )
    parser.add_argument(
        "--accept-measurand-lists",
        action="store_true",
        help="accept a list of several valid measurands and sample those the charger has",
    )
    parser.add_argument("--vendor", default="ocpp_cp")
    parser.add_argument("--model", default="Simulator")
    parser.add_argument("--voltage", type=float, default=230.0)
    parser.add_argument("--max-current", type=float, default=16.0)
    parser.add_argument(
        "--reconnect-delay", type=delay, default=1.0, help="first back-off, s (at least 0.1)"
    )
    parser.add_argument(
        "--call-timeout", type=delay, default=30.0, help="answer timeout, s (at least 0.1)"
    )
    parser.add_argument(
        "--no-energy-model",
        action="store_true",
        help="the energy register changes only with the meter command (by default it counts "
        "what the pretend car draws while charging)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="engine logs on stderr")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    storage = JsonDirectoryStorage(args.state_dir)
    try:
        key = authorization_key(args)
    except OSError as err:
        emit("error", setting="auth_key_file", message=f"cannot read the key file: {err.strerror}")
        return 2
    try:
        settings = EngineSettings(
            csms_url=args.url,
            charge_point_id=args.charge_point_id,
            security_profile=SecurityProfile(args.security_profile),
            authorization_key=key,
            ca_file=args.ca_file,
            client_cert_file=args.client_cert,
            client_key_file=args.client_key,
            tls_server_name=args.tls_server_name,
            tls_allow_v1_ca=args.tls_allow_v1_ca,
            vendor=args.vendor,
            model=args.model,
            number_of_connectors=args.connectors,
            measurands=SIMULATED_MEASURANDS,
            hardware_max_current=args.max_current,
            nominal_voltage=args.voltage,
            reconnect_initial_delay=args.reconnect_delay,
            reconnect_max_delay=max(args.reconnect_delay, 60.0),
            call_timeout=args.call_timeout,
            serial_number=args.serial,
            connectors_without_lock=frozenset(args.no_lock),
            feature_profiles=frozenset(
                p.strip() for p in args.feature_profiles.split(",") if p.strip()
            ),
            accept_measurand_lists=args.accept_measurand_lists,
        )
    except SettingsError as err:
        emit("error", setting=err.key, message=str(err))
        return 2
    charger = SimulatedCharger(storage, args.voltage, install=args.firmware_install == "accept")
    await charger.load(settings.number_of_connectors)

    def listener(kind: str, data: dict[str, Any]) -> None:
        if kind == "frame":
            try:
                frame: Any = json.loads(data["frame"])
            except ValueError:
                frame = data["frame"]
            emit("frame", direction=data["direction"], frame=frame)
        else:
            emit(kind, **data)

    engine = ChargePointEngine(
        settings,
        charger,
        storage,
        listener=listener,
        queue_path=os.path.join(args.state_dir, "queue.sqlite3"),
    )
    charger.engine = engine
    for connector_id in range(1, settings.number_of_connectors + 1):
        charger.publish(connector_id)
    try:
        await engine.start()
    except (OSError, ValueError) as err:  # e.g. a CA or certificate file that is not there
        emit("error", message=f"cannot start: {err}")
        await engine.stop()
        return 2
    if not args.no_energy_model:
        model = asyncio.create_task(charger.run_energy_model(), name="simulator energy model")
    try:
        await command_loop(engine, charger)
    finally:
        if not args.no_energy_model:
            model.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await model
        await engine.stop()
        await charger.save()
    return 0


async def command_loop(engine: ChargePointEngine, charger: SimulatedCharger) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            return
        text = line.decode("utf-8", "replace").strip()
        if not text or text.startswith("#"):
            continue
        if text == "quit":
            emit("command", command=text, ok=True)
            return
        try:
            result = await apply_command(engine, charger, text.split())
        except ValueError as err:
            emit("command", command=text, ok=False, error=str(err) or HELP)
        except Exception as err:  # never a traceback for a line of input
            logging.getLogger(__name__).exception("Command %r failed", text)
            emit("command", command=text, ok=False, error=f"{type(err).__name__}: {err}")
        else:
            emit("command", command=text, ok=True, result=result)


def connector_number(engine: ChargePointEngine, word: str) -> int:
    try:
        connector_id = int(word)
    except ValueError:
        raise ValueError(f"{word!r} is not a connector number") from None
    last = engine.settings.number_of_connectors
    if not 1 <= connector_id <= last:
        raise ValueError(f"no connector {connector_id}: this charge point has 1 to {last}")
    return connector_id


async def apply_command(
    engine: ChargePointEngine, charger: SimulatedCharger, words: list[str]
) -> str | None:
    verb, args = words[0], words[1:]
    if verb not in ARITY:
        raise ValueError(f"unknown command {verb!r}; {HELP}")
    fewest, most = ARITY[verb]
    if not fewest <= len(args) <= most:
        raise ValueError(f"{verb}: wrong number of arguments; {HELP}")
    if verb == "help":
        return HELP
    if verb == "offline":
        engine.go_offline()
        return None
    if verb == "online":
        engine.go_online()
        return None
    if verb == "data-transfer":
        try:
            answer = await engine.data_transfer(*args)
        except (TimeoutError, ConnectionError, OcppCallError) as err:
            raise ValueError(f"DataTransfer failed: {err or type(err).__name__}") from None
        return str(answer.get("status"))
    if verb == "sign-certificate":  # a new key and CSR: SignCertificate.req
        try:
            await engine.services.certificates.request_signing()
        except (TimeoutError, ConnectionError, OcppCallError) as err:
            raise ValueError(f"SignCertificate failed: {err or type(err).__name__}") from None
        return "sent"
    if verb == "security-event":
        entry = await engine.services.security.record(args[0], " ".join(args[1:]) or None)
        if entry is None:
            raise ValueError("the security log could not be written")
        return "critical" if entry.critical else "logged"
    if verb == "swipe":
        target = connector_number(engine, args[1]) if len(args) > 1 else None
        return await engine.swipe(args[0], target)
    connector_id = connector_number(engine, args[0])
    if verb == "plug":
        engine.set_plugged(connector_id, True)
    elif verb == "unplug":
        engine.set_plugged(connector_id, False)
    elif verb in ("ev-charging", "ev-suspended"):
        charging = verb == "ev-charging"
        charger.charging[connector_id] = charging
        engine.set_ev_state(connector_id, EvState.CHARGING if charging else EvState.SUSPENDED)
        charger.publish(connector_id)
    elif verb == "fault":
        try:
            code = ChargePointErrorCode(args[1])
        except ValueError:
            raise ValueError(f"{args[1]!r} is not an OCPP 1.6 error code") from None
        engine.set_fault(connector_id, code)
    elif verb == "clear":
        engine.clear_fault(connector_id)
    elif verb == "meter":
        try:
            value = float(args[1])
        except ValueError:
            raise ValueError(f"{args[1]!r} is not a number of Wh") from None
        if not math.isfinite(value) or value < charger.energy_wh.get(connector_id, 0.0):
            raise ValueError("the energy register is a finite number that never goes backwards")
        charger.energy_wh[connector_id] = value
        charger.publish(connector_id)
        await charger.save()
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 130
