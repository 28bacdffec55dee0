"""Seeded random sessions with a SIGKILL in each episode, at random or at a lifecycle point.

Each episode drives the charge point towards one kill point (right after ``transaction
started``, while the CSMS sits on a StartTransaction, right after its answer, while offline,
right after ``transaction stopped``, in the middle of a backlog drain, right after an accepted
configuration/availability/local list/profile change, or anywhere), kills it there (or, if the
point never came, at the end of the episode), lets the world move on (cars leave or arrive)
and restarts the charge point on the same state directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from .kill_checker import Frame
from .kill_csms import CsmsCallError
from .kill_harness import KillRun, ProcessGone, is_tx, tx_default_profile

EPISODE_SECONDS = 8.0
BACKLOG_SECONDS = 6.0  # offline with sessions on both connectors: ~12 MeterValues queued
# (kind, how many per run); the rest of the kills are random ones.
LIFECYCLE = (
    *((f"started:{ms}", 1) for ms in range(6)),
    ("start-seen", 4),
    ("start-answered", 4),
    ("offline", 4),
    *((f"stopped:{ms}", 1) for ms in range(6)),
    ("backlog", 2),
    ("change:configuration", 2),
    ("change:availability", 2),
    ("change:local-list", 2),
    ("change:profile", 2),
)
SETTINGS = {
    "AllowOfflineTxForUnknownId": "true",  # sessions go on while the CSMS is away
    "MeterValueSampleInterval": "1",  # plenty of MeterValues to queue and to drain
    "TransactionMessageRetryInterval": "1",  # retries inside the run's time budget
    # Injected CALLERRORs (at most 2 per episode) never exhaust the attempts: a StartTransaction
    # refused every time is legitimately discarded, which is not what this run is about.
    "TransactionMessageAttempts": "10",
}
_FAILURES = (ProcessGone, TimeoutError, ConnectionError, CsmsCallError)


def on_start(kill: Callable[[], None]) -> Callable[[Frame], bool]:
    """A CSMS hook that kills on the first StartTransaction frame it sees, then goes away."""

    def hook(frame: Frame) -> bool:
        if frame.action == "StartTransaction":
            kill()
            return True
        return False

    return hook


class Chaos:
    def __init__(self, run: KillRun, rng: random.Random) -> None:
        self.run = run
        self.rng = rng
        self.stats: Counter[str] = Counter()
        self.inoperative: set[int] = set()
        self.list_version = 0
        self.elapsed = 0.0

    async def setup(self) -> None:
        await self.run.launch()
        await self.run.wait_accepted()
        await self.run.configure(**SETTINGS)

    def schedule(self, kills: int) -> list[str]:
        kinds = [kind for kind, count in LIFECYCLE for _ in range(count)]
        kinds += ["random"] * max(0, kills - len(kinds))
        self.rng.shuffle(kinds)
        return kinds

    async def play(self, kills: int, budget: float) -> None:
        """``kills`` episodes; after ``budget`` s only the lifecycle ones still run."""
        began = time.monotonic()
        for kind in self.schedule(kills):
            if kind == "random" and time.monotonic() - began > budget:
                self.stats["skipped (time budget)"] += 1
                continue
            await self.episode(kind)
        self.elapsed = time.monotonic() - began

    def summary(self) -> str:
        hits = ", ".join(f"{kind}: {count}" for kind, count in sorted(self.stats.items()))
        return f"{self.run.kills} kills in {self.elapsed:.0f}s ({hits})"

    # -- one episode --------------------------------------------------------------------

    async def episode(self, kind: str) -> None:
        run = self.run
        sim = run.sim
        limit = EPISODE_SECONDS + (BACKLOG_SECONDS + 8 if kind == "backlog" else 0)
        if kind in ("random", "start-seen") and self.rng.random() < 0.25:
            action = self.rng.choice(["StartTransaction", "MeterValues", "StopTransaction"])
            run.csms.errors[action] = self.rng.randint(1, 2)  # InternalError, then retried
        with contextlib.suppress(*_FAILURES):
            async with asyncio.timeout(limit):
                if kind not in ("random", "offline"):
                    await sim.command("online")  # a random episode may have left it offline
                    await run.wait_accepted(5)
                await self.drive(kind)
                await sim.wait_exit(limit)
        hit = not sim.alive
        await run.kill()
        name = kind.split(":")[0]
        self.stats[name if name == "random" else f"{name} {'at the point' if hit else 'late'}"] += 1
        run.csms.reset_behaviour()
        sim.hooks.clear()
        for c in run.connector_ids():  # the world goes on while the charger is dead
            if run.world.plugged[c] and self.rng.random() < 0.3:
                run.world.plugged[c] = run.world.charging[c] = False
        with contextlib.suppress(*_FAILURES):
            await run.restart()

    async def drive(self, kind: str) -> None:
        run, rng, sim = self.run, self.rng, self.run.sim
        name, _, arg = kind.partition(":")
        if name == "started":
            c = await self.free_connector()
            sim.kill_on(is_tx("started", c), int(arg) / 1000)
            await self.start_session(c)
        elif name == "start-seen":
            run.csms.delays["StartTransaction"] = 2.0
            delay = rng.uniform(0, 0.05)
            run.csms.on_cp_call.append(on_start(lambda: sim.kill_after(delay)))
            await self.start_session(await self.free_connector())
        elif name == "start-answered":
            run.csms.after_answer.append(on_start(sim.kill))
            await self.start_session(await self.free_connector())
        elif name == "offline":
            await self.offline()
        elif name == "stopped":
            await self.stop_something(int(arg))
        elif name == "backlog":
            await self.backlog()
        elif name == "change":
            await self.change(arg)
        else:
            sim.kill_after(rng.uniform(0.0, 2.5))
            while sim.alive:
                await self.random_action()

    # -- building blocks ------------------------------------------------------------------

    async def free_connector(self) -> int:
        """The lowest operative connector without a transaction (one is stopped if need be),
        so a swipe starts there."""
        run, sim = self.run, self.run.sim
        usable = [c for c in run.connector_ids() if c not in self.inoperative] or [1]
        for c in usable:
            if sim.running(c) is None:
                return c
        c = usable[0]
        mark = len(sim.events)
        await run.cmd(f"unplug {c}")
        await sim.wait_for(is_tx("stopped", c), after=mark, timeout=3)
        return c

    async def start_session(self, c: int, *, remote: bool | None = None) -> None:
        run, rng = self.run, self.rng
        tag = run.world.new_tag()
        await run.cmd(f"plug {c}")
        if remote is None:
            remote = run.csms.connection is not None and rng.random() < 0.3
        if remote:
            await run.call("RemoteStartTransaction", {"connectorId": c, "idTag": tag}, timeout=3)
        else:
            await run.cmd(f"swipe {tag}")
        if rng.random() < 0.7:
            await run.cmd(f"ev-charging {c}")

    async def meter(self, c: int) -> None:
        await self.run.cmd(f"meter {c} {self.run.world.energy[c] + self.rng.randint(1, 400)}")

    async def offline(self) -> None:
        run, rng, sim = self.run, self.rng, self.run.sim
        await sim.command("offline")
        if rng.random() < 0.5:
            change = rng.choice(["started", "stopped"])
            sim.kill_on(is_tx(change), rng.randint(0, 5) / 1000)
        else:
            sim.kill_after(rng.uniform(0.2, 2.0))
        while sim.alive:
            c = await self.free_connector()
            await self.start_session(c, remote=False)
            for _ in range(rng.randint(0, 3)):
                await self.meter(c)
                await asyncio.sleep(rng.uniform(0, 0.3))
            if rng.random() < 0.6:
                await run.cmd(f"unplug {c}")

    async def stop_something(self, ms: int) -> None:
        run, rng, sim = self.run, self.rng, self.run.sim
        running = [c for c in run.connector_ids() if sim.running(c) is not None]
        if running:
            c = rng.choice(running)
        else:
            c = await self.free_connector()
            mark = len(sim.events)
            await self.start_session(c)
            await sim.wait_for(is_tx("started", c), after=mark, timeout=4)
            if rng.random() < 0.5:
                await sim.wait_for(is_tx("confirmed", c), after=mark, timeout=4)
        await self.meter(c)
        sim.kill_on(is_tx("stopped", c), ms / 1000)
        state = sim.running(c)
        tag = state.get("id_tag") if state is not None else None
        if tag and rng.random() < 0.3:
            run.reused_tags.add(tag)
            await run.cmd(f"swipe {tag}")
        else:
            await run.cmd(f"unplug {c}")

    async def backlog(self) -> None:
        """Sessions on every connector, a few seconds offline, then a kill mid-drain."""
        run, rng, sim = self.run, self.rng, self.run.sim
        for c in run.connector_ids():
            if c not in self.inoperative and sim.running(c) is None:
                mark = len(sim.events)
                await self.start_session(c, remote=False)
                await sim.wait_for(is_tx("started", c), after=mark, timeout=4)
                await run.cmd(f"ev-charging {c}")
        await sim.command("offline")
        for _ in range(int(BACKLOG_SECONDS / 0.5)):
            for c in run.connector_ids():
                await self.meter(c)
            await asyncio.sleep(0.5)
        run.csms.delays["MeterValues"] = 0.02
        count, target = [0], rng.randint(1, 8)

        def hook(frame: Frame) -> bool:
            if frame.action == "MeterValues" and frame.incarnation == sim.incarnation:
                count[0] += 1
                if count[0] >= target:
                    sim.kill()
                    return True
            return False

        run.csms.on_cp_call.append(hook)
        await sim.command("online")

    async def change(self, what: str) -> None:
        run, rng, sim = self.run, self.rng, self.run.sim
        action: str
        payload: dict[str, Any]
        if what == "configuration":
            key = rng.choice(
                ["MeterValueSampleInterval", "ConnectionTimeOut", "LocalAuthorizeOffline"]
            )
            value = {
                "MeterValueSampleInterval": rng.choice(["1", "2"]),
                "ConnectionTimeOut": str(rng.randint(30, 120)),
                "LocalAuthorizeOffline": rng.choice(["true", "false"]),
            }[key]
            action, payload = "ChangeConfiguration", {"key": key, "value": value}
        elif what == "availability":
            operative = 2 in self.inoperative or rng.random() < 0.3
            kind = "Operative" if operative else "Inoperative"
            action, payload = "ChangeAvailability", {"connectorId": 2, "type": kind}
        elif what == "local-list":
            self.list_version += 1
            entry = {"idTag": f"LIST{self.list_version}", "idTagInfo": {"status": "Accepted"}}
            action = "SendLocalList"
            payload = {
                "listVersion": self.list_version,
                "updateType": "Full",
                "localAuthorizationList": [entry],
            }
        else:
            action, payload = "SetChargingProfile", tx_default_profile(rng.randint(6, 15))

        def kill_if_promised(frame: Frame) -> None:
            if frame.payload.get("status") in ("Accepted", "Scheduled"):
                sim.kill()

        answer = await run.call(action, payload, on_answer=kill_if_promised, timeout=4)
        if action == "ChangeAvailability" and answer.get("status") in ("Accepted", "Scheduled"):
            if payload["type"] == "Operative":
                self.inoperative.discard(2)
            else:
                self.inoperative.add(2)

    async def random_action(self) -> None:
        run, rng, sim = self.run, self.rng, self.run.sim
        c = rng.choice(list(run.connector_ids()))
        roll = rng.random()
        if roll < 0.15:
            await run.cmd(f"plug {c}")
        elif roll < 0.25:
            await run.cmd(f"unplug {c}")
        elif roll < 0.35:
            await run.cmd(f"ev-charging {c}")
        elif roll < 0.40:
            await run.cmd(f"ev-suspended {c}")
        elif roll < 0.55:
            await self.start_session(await self.free_connector())
        elif roll < 0.62:
            state = sim.running(c)
            if state is not None and state.get("id_tag"):
                run.reused_tags.add(state["id_tag"])  # it may start a session if it ended
                await run.cmd(f"swipe {state['id_tag']}")
        elif roll < 0.80:
            await self.meter(c)
        elif roll < 0.86:
            await sim.command("offline")
        elif roll < 0.92:
            await sim.command("online")
        else:
            await asyncio.sleep(rng.uniform(0, 0.5))
