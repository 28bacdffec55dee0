"""A tiny central system for the demo: accepts every charge point and logs every OCPP frame.

Built on the ``ocpp`` library's CSMS side. It answers everything a charge point sends with a
friendly default (BootNotification Accepted, idTags Accepted, increasing transaction ids) and
prints every frame. With ``--log-file`` it also appends every frame to that file as one JSON line:
``{"time": ..., "charge_point": "DEMO1", "direction": "cp->csms" | "csms->cp", "frame": [...]}``
(plus ``{"event": "connected" | "disconnected", ...}`` lines).

It calls the charge point when told to, with the same commands from three places:

* a line on stdin (``--stdin``): ``start [TAG]``, ``stop [TXID]``, ``reset``, ``get [KEY]``,
  ``set KEY VALUE``, ``trigger MESSAGE``, ``limit AMPS`` (a TxDefaultProfile), ``clear``
  (ClearChargingProfile), ``autostart SECONDS`` (0: off), ``help``;
* an HTTP request on the same port: ``GET /control?cmd=start+DEMO`` answers the result as JSON;
* by itself: ``--auto-start S`` sends RemoteStartTransaction when a connector has been Preparing
  for S seconds without a transaction; ``--meter-interval S`` sets MeterValueSampleInterval (and
  asks for more measurands) after every BootNotification, as most central systems do.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import os
import stat
import sys
import time
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

LOGGER = logging.getLogger("demo.csms")
# Distinct from one run to the next, so a restarted CSMS never reuses an id.
TRANSACTION_IDS = itertools.count(int(time.time()) - 1_700_000_000)
# Asked for after boot when --meter-interval is set; the charge point rejects a list with a
# measurand it cannot supply, so the shorter default list is the fallback.
RICH_MEASURANDS = (
    "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Current.Offered,Voltage,SoC"
)
BASIC_MEASURANDS = "Energy.Active.Import.Register,Power.Active.Import,Current.Offered"
HELP = (
    "commands: start [TAG] | stop [TXID] | reset | get [KEY] | set KEY VALUE | "
    "trigger MESSAGE | limit AMPS | clear | autostart SECONDS | help"
)
HTTP_TIMEOUT = 40.0


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FrameLog:
    """Every frame as one JSON line, flushed at once (tests and tail -f read it live)."""

    def __init__(self, path: Path | None) -> None:
        self._file: TextIO | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.write(json.dumps({"time": now(), **record}) + "\n")
            self._file.flush()


class LoggingConnection:
    def __init__(self, websocket: ServerConnection, name: str, frames: FrameLog) -> None:
        self.websocket = websocket
        self.name = name
        self.frames = frames

    def _log(self, direction: str, text: str) -> None:
        arrow = f"{self.name} -> CSMS" if direction == "cp->csms" else f"CSMS -> {self.name}"
        LOGGER.info("%s %s", arrow, text)
        try:
            frame: Any = json.loads(text)
        except ValueError:
            frame = text
        self.frames.write({"charge_point": self.name, "direction": direction, "frame": frame})

    async def recv(self) -> str:
        message = await self.websocket.recv()
        text = message if isinstance(message, str) else message.decode()
        self._log("cp->csms", text)
        return text

    async def send(self, message: str) -> None:
        self._log("csms->cp", message)
        await self.websocket.send(message)


class DemoCsmsSide(ChargePoint):  # type: ignore[misc]
    """Friendly answers; follows connector statuses and transactions for ``--auto-start``."""

    def __init__(self, name: str, connection: LoggingConnection, server: DemoCsms) -> None:
        super().__init__(name, connection)
        self.server = server
        self.statuses: dict[int, str] = {}
        # connector -> transaction id; kept across reconnects, as a real CSMS keeps them
        self.transactions = server.transactions.setdefault(name, {})
        self.tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    @on(Action.boot_notification)
    def on_boot(self, **_: Any) -> Any:
        return call_result.BootNotification(current_time=now(), interval=300, status="Accepted")

    @after(Action.boot_notification)
    def after_boot(self, **_: Any) -> None:
        if self.server.meter_interval > 0:
            self.spawn(self.configure())

    async def configure(self) -> None:
        """What central systems do after a boot: shorter sampling, more measurands."""
        await asyncio.sleep(1)  # not on the one-shot probe of a config flow, which hangs up
        try:
            await self.call(
                call.ChangeConfiguration(
                    key="MeterValueSampleInterval", value=str(self.server.meter_interval)
                )
            )
            for measurands in (RICH_MEASURANDS, BASIC_MEASURANDS):
                result = await self.call(
                    call.ChangeConfiguration(key="MeterValuesSampledData", value=measurands)
                )
                if getattr(result, "status", None) == "Accepted":
                    break
        except Exception as err:  # the charge point went away (e.g. a config-flow probe)
            LOGGER.debug("%s: configuration after boot failed: %r", self.id, err)

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> Any:
        return call_result.Heartbeat(current_time=now())

    @on(Action.status_notification)
    def on_status(self, connector_id: int, status: str, **_: Any) -> Any:
        self.statuses[connector_id] = status
        if status == "Preparing" and self.server.auto_start > 0 and connector_id > 0:
            self.spawn(self.auto_start(connector_id))
        return call_result.StatusNotification()

    async def auto_start(self, connector_id: int) -> None:
        """Start a session on a connector that stays Preparing (plugged in, nobody started)."""
        await asyncio.sleep(self.server.auto_start)
        if self.statuses.get(connector_id) != "Preparing" or connector_id in self.transactions:
            return
        LOGGER.info(
            "%s: connector %s is still Preparing after %s s: RemoteStartTransaction",
            self.id,
            connector_id,
            self.server.auto_start,
        )
        with contextlib.suppress(Exception):
            await self.call(call.RemoteStartTransaction(id_tag="DEMO", connector_id=connector_id))

    @on(Action.authorize)
    def on_authorize(self, **_: Any) -> Any:
        return call_result.Authorize(id_tag_info={"status": "Accepted"})

    @on(Action.start_transaction)
    def on_start(self, connector_id: int, **_: Any) -> Any:
        transaction_id = next(TRANSACTION_IDS)
        self.transactions[connector_id] = transaction_id
        return call_result.StartTransaction(
            transaction_id=transaction_id, id_tag_info={"status": "Accepted"}
        )

    @on(Action.stop_transaction)
    def on_stop(self, transaction_id: int, **_: Any) -> Any:
        for connector_id, running in list(self.transactions.items()):
            if running == transaction_id:
                del self.transactions[connector_id]
        return call_result.StopTransaction(id_tag_info={"status": "Accepted"})

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> Any:
        return call_result.MeterValues()

    @on(Action.data_transfer)
    def on_data_transfer(self, **_: Any) -> Any:
        return call_result.DataTransfer(status="Accepted")


def tx_default_profile(amps: float) -> dict[str, Any]:
    return {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": amps}],
        },
    }


def command_payload(words: list[str], side: DemoCsmsSide) -> Any:
    verb, args = words[0].lower(), words[1:]
    if verb == "start":
        return call.RemoteStartTransaction(id_tag=args[0] if args else "DEMO", connector_id=1)
    if verb == "stop":
        if args:
            return call.RemoteStopTransaction(transaction_id=int(args[0]))
        if not side.transactions:
            raise ValueError("no transaction is running")
        return call.RemoteStopTransaction(transaction_id=next(iter(side.transactions.values())))
    if verb == "reset":
        return call.Reset(type="Soft")
    if verb == "get":
        return call.GetConfiguration(key=args or None)
    if verb == "set" and len(args) == 2:
        return call.ChangeConfiguration(key=args[0], value=args[1])
    if verb == "trigger" and args:
        return call.TriggerMessage(requested_message=args[0])
    if verb == "limit" and args:
        return call.SetChargingProfile(
            connector_id=0, cs_charging_profiles=tx_default_profile(float(args[0]))
        )
    if verb == "clear":
        return call.ClearChargingProfile()
    raise ValueError(HELP)


def set_auto_start(server: DemoCsms, args: list[str]) -> dict[str, Any]:
    try:
        server.auto_start = float(args[0])
    except (IndexError, ValueError):
        return {"ok": False, "error": "autostart SECONDS (0: off)"}
    return {"ok": True, "result": f"auto-start after {server.auto_start:g} s in Preparing"}


class DemoCsms:
    def __init__(self, auto_start: float, meter_interval: int, frames: FrameLog) -> None:
        self.auto_start = auto_start
        self.meter_interval = meter_interval
        self.frames = frames
        self.connected: dict[str, DemoCsmsSide] = {}
        # Running transactions per charge point, across its connections.
        self.transactions: dict[str, dict[int, int]] = {}

    async def handle(self, websocket: ServerConnection) -> None:
        name = websocket.request.path.rsplit("/", 1)[-1] if websocket.request else "?"
        side = DemoCsmsSide(name, LoggingConnection(websocket, name, self.frames), self)
        self.connected[name] = side
        LOGGER.info("%s connected", name)
        self.frames.write({"event": "connected", "charge_point": name})
        try:
            await side.start()
        except Exception:  # the connection closed
            LOGGER.info("%s disconnected", name)
        finally:
            self.frames.write({"event": "disconnected", "charge_point": name})
            if self.connected.get(name) is side:
                del self.connected[name]
            for task in list(side.tasks):
                task.cancel()

    async def run_command(self, line: str) -> dict[str, Any]:
        words = line.split()
        if not words:
            return {"ok": False, "error": "empty command"}
        if words[0].lower() == "help":
            return {"ok": True, "help": HELP}
        if words[0].lower() == "autostart":
            return set_auto_start(self, words[1:])
        if not self.connected:
            return {"ok": False, "error": "no charge point is connected"}
        side = next(reversed(self.connected.values()))  # the latest to connect
        try:
            payload = command_payload(words, side)
        except ValueError as err:
            return {"ok": False, "error": str(err)}
        try:
            result = await side.call(payload, suppress=False)
        except Exception as err:
            return {"ok": False, "error": repr(err)}
        return {"ok": True, "result": str(result)}

    async def read_stdin(self) -> None:
        """Commands typed in the terminal; an empty or closed stdin just ends this loop."""
        try:
            mode = os.fstat(sys.stdin.fileno()).st_mode
        except (OSError, ValueError):
            return
        if not (sys.stdin.isatty() or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
            return  # /dev/null or a file: nothing to wait for
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        async for raw in reader:
            line = raw.decode(errors="replace").strip()
            if line:
                outcome = await self.run_command(line)
                LOGGER.info("%s: %s", line, outcome.get("result") or outcome.get("help") or outcome)

    async def process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        """Plain HTTP on the same port: GET /control?cmd=... runs one command."""
        parts = urlsplit(request.path)
        if parts.path != "/control":
            return None  # the WebSocket handshake goes on
        line = " ".join(parse_qs(parts.query).get("cmd", [""]))
        try:
            outcome = await asyncio.wait_for(self.run_command(line), HTTP_TIMEOUT)
        except TimeoutError:
            outcome = {"ok": False, "error": "timed out"}
        LOGGER.info("HTTP %s: %s", line, outcome)
        response = connection.respond(HTTPStatus.OK, json.dumps(outcome) + "\n")
        response.headers["Content-Type"] = "application/json"
        return response


async def main() -> None:
    parser = argparse.ArgumentParser(description="Demo CSMS that logs every OCPP frame")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--stdin", action="store_true", help="read commands from stdin")
    parser.add_argument(
        "--log-file", type=Path, help="append every frame to this file (JSON lines)"
    )
    parser.add_argument(
        "--auto-start",
        type=float,
        default=0,
        metavar="S",
        help="RemoteStartTransaction after S seconds in Preparing (0: never)",
    )
    parser.add_argument(
        "--meter-interval",
        type=int,
        default=0,
        metavar="S",
        help="set MeterValueSampleInterval to S after every boot (0: leave it)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    logging.getLogger("ocpp").setLevel(logging.WARNING)
    logging.getLogger("websockets").setLevel(logging.ERROR)
    csms = DemoCsms(args.auto_start, args.meter_interval, FrameLog(args.log_file))
    async with serve(
        csms.handle,
        "127.0.0.1",
        args.port,
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        process_request=csms.process_request,
    ):
        LOGGER.info("demo CSMS listening on ws://127.0.0.1:%s/ocpp", args.port)
        if args.stdin:
            await csms.read_stdin()
        await asyncio.Future()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
