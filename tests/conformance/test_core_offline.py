"""Core profile: the authorization cache, ClearCache, and transactions while offline
(OCPP 1.6 edition 2, sections 3.5 and 3.7)."""

from __future__ import annotations

import asyncio

from .conftest import Launch
from .harness import (
    Csms,
    answered,
    assert_in_order,
    begin,
    calls,
    conf,
    req,
)
from .sim import Simulator


async def stop_session(csms: Csms, sim: Simulator, tag: str = "TAG1") -> None:
    """Stop the transaction with ``tag`` and unplug."""
    mark = csms.mark()
    assert (await sim.do(f"swipe {tag}"))["result"] == "stopped"
    await sim.do("unplug 1")
    await csms.wait(answered("StopTransaction"), mark)
    await csms.wait(req("StatusNotification", connectorId=1, status="Available"), mark)


async def test_cached_tag_starts_a_transaction_offline(csms: Csms, launch: Launch) -> None:
    """Authorization cache: an idTag accepted online is remembered; offline, with
    LocalAuthorizeOffline true, it starts a transaction from the cache while an unknown one is
    refused; the queued StartTransaction/StopTransaction go out after reconnecting
    (sections 3.5.1, 3.5.4, 3.7, 9.1 AuthorizationCacheEnabled, LocalAuthorizeOffline)."""
    sim = await launch()
    await csms.configure(AuthorizationCacheEnabled=True, LocalAuthorizeOffline=True)
    await begin(csms, sim, "CACHED")
    await stop_session(csms, sim, "CACHED")
    await sim.do("offline")
    await sim.wait_event("state", state="disconnected")
    mark = csms.mark()
    await sim.do("plug 1")
    assert (await sim.do("swipe STRANGER"))["result"] == "rejected"
    assert (await sim.do("swipe CACHED"))["result"] == "started"
    await sim.do("meter 1 700")
    assert (await sim.do("swipe CACHED"))["result"] == "stopped"
    await sim.do("unplug 1")
    assert not calls(csms.since(mark)), "nothing can reach the CSMS while offline"
    await sim.do("online")
    await csms.wait(answered("StopTransaction"), mark)
    frames = csms.since(mark)
    assert not calls(frames, "Authorize"), "the cached idTag needs no Authorize.req"
    assert not calls(frames, "BootNotification")
    assert_in_order(
        frames,
        req("StartTransaction", idTag="CACHED", meterStart=0),
        answered("StartTransaction", transactionId=1002),
        req("StopTransaction", transactionId=1002, meterStop=700),
    )
    assert [f.payload["idTag"] for f in calls(frames, "StartTransaction")] == ["CACHED"]


async def test_cached_tag_with_local_pre_authorize_starts_without_authorize(
    csms: Csms, launch: Launch
) -> None:
    """LocalPreAuthorize true: an idTag Accepted in the authorization cache starts at once,
    without an Authorize.req (sections 3.5.1, 9.1 LocalPreAuthorize)."""
    sim = await launch()
    await csms.configure(AuthorizationCacheEnabled=True, LocalPreAuthorize=True)
    mark = csms.mark()
    await begin(csms, sim, "CACHED")
    await stop_session(csms, sim, "CACHED")
    assert len(calls(csms.since(mark), "Authorize")) == 1
    second = csms.mark()
    await begin(csms, sim, "CACHED")
    frames = csms.since(second)
    assert not calls(frames, "Authorize"), "a cached, Accepted idTag is pre-authorized"
    assert_in_order(
        frames,
        req("StatusNotification", connectorId=1, status="Preparing"),
        req("StartTransaction", idTag="CACHED"),
    )


async def test_clear_cache_forgets_cached_tags(csms: Csms, launch: Launch) -> None:
    """ClearCache: Accepted, and an idTag that was cached must be authorised online again
    (sections 5.4, 3.5.1)."""
    sim = await launch()
    await csms.configure(AuthorizationCacheEnabled=True, LocalPreAuthorize=True)
    await begin(csms, sim, "CACHED")
    await stop_session(csms, sim, "CACHED")
    mark = csms.mark()
    result = await csms.ask("ClearCache")
    assert result == {"status": "Accepted"}
    await begin(csms, sim, "CACHED")
    assert_in_order(
        csms.since(mark),
        conf("ClearCache", status="Accepted"),
        req("Authorize", idTag="CACHED"),
        req("StartTransaction", idTag="CACHED"),
    )


async def test_offline_transaction_is_delivered_in_order_with_the_real_transaction_id(
    csms: Csms, launch: Launch
) -> None:
    """A transaction started and stopped offline (AllowOfflineTxForUnknownId true): after
    reconnecting, StartTransaction, its sampled MeterValues and StopTransaction are delivered
    in chronological order, the later ones with the transactionId of StartTransaction.conf
    (sections 3.7, 3.5.4, 4.7, 9.1 AllowOfflineTxForUnknownId)."""
    sim = await launch()
    await csms.configure(AllowOfflineTxForUnknownId=True, MeterValueSampleInterval=1)
    await sim.do("meter 1 100")
    await sim.do("offline")
    await sim.wait_event("state", state="disconnected")
    mark = csms.mark()
    await sim.do("plug 1")
    assert (await sim.do("swipe NEWTAG"))["result"] == "started"
    await sim.do("ev-charging 1")
    await asyncio.sleep(1.4)
    await sim.do("meter 1 250")
    await asyncio.sleep(1.0)
    assert (await sim.do("swipe NEWTAG"))["result"] == "stopped"
    await sim.do("unplug 1")
    await sim.do("online")
    await csms.wait(answered("StopTransaction"), mark)
    frames = csms.since(mark)
    transaction = calls(frames, "StartTransaction", "MeterValues", "StopTransaction")
    actions = [f.action for f in transaction]
    assert actions[0] == "StartTransaction" and actions[-1] == "StopTransaction", actions
    assert actions.count("MeterValues") >= 1, f"sampled values taken offline are kept: {actions}"
    assert_in_order(
        frames,
        req("StartTransaction", idTag="NEWTAG", meterStart=100),
        answered("StartTransaction", transactionId=1001),
        req("MeterValues", transactionId=1001),
        req("StopTransaction", transactionId=1001, meterStop=250),
    )
    meter_values = calls(frames, "MeterValues")
    assert all(f.payload.get("transactionId") == 1001 for f in meter_values)
    stamps = [
        f.payload.get("timestamp") or f.payload["meterValue"][0]["timestamp"] for f in transaction
    ]
    assert stamps == sorted(stamps), "transaction messages in chronological order"


async def test_connection_loss_during_a_transaction_delivers_the_stop_after_reconnect(
    csms: Csms, launch: Launch
) -> None:
    """Connection lost during a transaction that then ends: StopTransaction is queued and
    delivered after reconnecting, with the transactionId and the final register
    (sections 3.7, 4.10)."""
    sim = await launch()
    transaction_id = await begin(csms, sim)
    await sim.do("offline")
    await sim.wait_event("state", state="disconnected")
    mark = csms.mark()
    await sim.do("meter 1 900")
    await sim.do("unplug 1")
    await sim.wait_event("transaction", change="stopped")
    await sim.do("online")
    await csms.wait(answered("StopTransaction"), mark)
    frames = csms.since(mark)
    assert not calls(frames, "BootNotification", "StartTransaction")
    assert_in_order(
        frames,
        req(
            "StopTransaction", transactionId=transaction_id, meterStop=900, reason="EVDisconnected"
        ),
        answered("StopTransaction"),
    )
    assert len(calls(frames, "StopTransaction")) == 1
