"""A tiny central system for the demo: accepts every charge point and logs every OCPP frame.

Built on the ``ocpp`` library's CSMS side. It answers everything a charge point sends with a
friendly default (BootNotification Accepted, idTags Accepted, incrementing transaction ids), and
reads commands on stdin to call the charge point: ``start TAG``, ``stop TXID``, ``reset``,
``get KEY``, ``set KEY VALUE``, ``trigger MESSAGE``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.server import ServerConnection, serve

LOGGER = logging.getLogger("demo.csms")
TRANSACTION_IDS = itertools.count(1)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class LoggingConnection:
    def __init__(self, websocket: ServerConnection, name: str) -> None:
        self.websocket = websocket
        self.name = name

    async def recv(self) -> str:
        message = await self.websocket.recv()
        text = message if isinstance(message, str) else message.decode()
        LOGGER.info("%s -> CSMS %s", self.name, text)
        return text

    async def send(self, message: str) -> None:
        LOGGER.info("CSMS -> %s %s", self.name, message)
        await self.websocket.send(message)


class DemoCsmsSide(ChargePoint):  # type: ignore[misc]
    @on(Action.boot_notification)
    def on_boot(self, **_: Any) -> Any:
        return call_result.BootNotification(current_time=now(), interval=300, status="Accepted")

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> Any:
        return call_result.Heartbeat(current_time=now())

    @on(Action.status_notification)
    def on_status(self, **_: Any) -> Any:
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, **_: Any) -> Any:
        return call_result.Authorize(id_tag_info={"status": "Accepted"})

    @on(Action.start_transaction)
    def on_start(self, **_: Any) -> Any:
        return call_result.StartTransaction(
            transaction_id=next(TRANSACTION_IDS), id_tag_info={"status": "Accepted"}
        )

    @on(Action.stop_transaction)
    def on_stop(self, **_: Any) -> Any:
        return call_result.StopTransaction(id_tag_info={"status": "Accepted"})

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> Any:
        return call_result.MeterValues()

    @on(Action.data_transfer)
    def on_data_transfer(self, **_: Any) -> Any:
        return call_result.DataTransfer(status="Accepted")


CONNECTED: dict[str, DemoCsmsSide] = {}


async def handle(websocket: ServerConnection) -> None:
    name = websocket.request.path.rsplit("/", 1)[-1] if websocket.request else "?"
    side = DemoCsmsSide(name, LoggingConnection(websocket, name))
    CONNECTED[name] = side
    LOGGER.info("%s connected", name)
    try:
        await side.start()
    except Exception:  # the connection closed
        LOGGER.info("%s disconnected", name)
    finally:
        CONNECTED.pop(name, None)


def command_payload(words: list[str]) -> Any:
    verb, args = words[0], words[1:]
    if verb == "start":
        return call.RemoteStartTransaction(id_tag=args[0] if args else "DEMO")
    if verb == "stop":
        return call.RemoteStopTransaction(transaction_id=int(args[0]))
    if verb == "reset":
        return call.Reset(type="Soft")
    if verb == "get":
        return call.GetConfiguration(key=args or None)
    if verb == "set":
        return call.ChangeConfiguration(key=args[0], value=args[1])
    if verb == "trigger":
        return call.TriggerMessage(requested_message=args[0])
    raise ValueError(
        "commands: start TAG | stop TXID | reset | get [KEY] | set KEY VALUE | trigger MSG"
    )


async def commands() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async for raw in reader:
        words = raw.decode().split()
        if not words:
            continue
        try:
            payload = command_payload(words)
            side = next(iter(CONNECTED.values()))
        except (ValueError, IndexError) as err:
            LOGGER.warning("%s", err)
            continue
        except StopIteration:
            LOGGER.warning("no charge point connected")
            continue
        LOGGER.info("result: %s", await side.call(payload))


async def main() -> None:
    parser = argparse.ArgumentParser(description="Demo CSMS that logs every OCPP frame")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--stdin", action="store_true", help="read commands from stdin")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("ocpp").setLevel(logging.WARNING)
    async with serve(handle, "127.0.0.1", args.port, subprotocols=["ocpp1.6"]):  # type: ignore[list-item]
        LOGGER.info("demo CSMS listening on ws://127.0.0.1:%s/ocpp", args.port)
        if args.stdin:
            await commands()
        else:
            await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
