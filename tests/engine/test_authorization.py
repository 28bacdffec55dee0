"""Local authorization list, authorization cache and the offline rules, through a real CSMS."""

from __future__ import annotations

from pathlib import Path

from ocpp.v16 import call

from custom_components.ocpp_cp.engine import ConnectionState, MemoryStorage
from custom_components.ocpp_cp.engine.authorization import effective_status
from tests.csms import TestCsms

from .conftest import EngineFactory
from .test_core import accepted_engine, wait_state
from .test_durability import configure


def entry(tag: str, status: str = "Accepted", **extra: str) -> dict[str, object]:
    return {"id_tag": tag, "id_tag_info": {"status": status, **extra}}


async def test_send_local_list_full_differential_and_restart(
    csms: TestCsms, make_engine: EngineFactory, tmp_path: Path
) -> None:
    queue = str(tmp_path / "q.sqlite3")
    engine = await accepted_engine(csms, make_engine, queue_path=queue)
    assert (await csms.call(call.GetLocalListVersion())).list_version == 0
    full = call.SendLocalList(
        list_version=3,
        update_type="Full",
        local_authorization_list=[entry("CARD1"), entry("Card2", "Blocked")],
    )
    assert (await csms.call(full)).status == "Accepted"
    assert (await csms.call(call.GetLocalListVersion())).list_version == 3
    stale = call.SendLocalList(list_version=3, update_type="Differential")
    assert (await csms.call(stale)).status == "VersionMismatch"
    diff = call.SendLocalList(
        list_version=4,
        update_type="Differential",
        local_authorization_list=[{"id_tag": "CARD2"}, entry("CARD3")],  # remove 2, add 3
    )
    assert (await csms.call(diff)).status == "Accepted"
    assert set(engine.local_list.entries) == {"card1", "card3"}
    too_many = call.SendLocalList(
        list_version=5,
        update_type="Full",
        local_authorization_list=[entry(f"T{n}") for n in range(501)],
    )
    assert (await csms.call(too_many)).status == "Failed"
    await engine.stop()

    again = make_engine(csms.url, queue_path=queue)
    await again.start()
    assert again.local_list.version == 4
    assert set(again.local_list.entries) == {"card1", "card3"}
    await wait_state(again, ConnectionState.ACCEPTED)
    await configure(csms, LocalAuthListEnabled="false")
    assert (await csms.call(call.GetLocalListVersion())).list_version == -1
    assert (await csms.call(full)).status == "NotSupported"


async def test_offline_rules(csms: TestCsms, make_engine: EngineFactory, tmp_path: Path) -> None:
    engine = await accepted_engine(
        csms, make_engine, queue_path=str(tmp_path / "q.sqlite3"), number_of_connectors=2
    )
    await csms.call(
        call.SendLocalList(
            list_version=1,
            update_type="Full",
            local_authorization_list=[
                entry("GOOD"),
                entry("BAD", "Blocked"),
                entry("OLD", expiry_date="2020-01-01T00:00:00Z"),
            ],
        )
    )
    await configure(csms, LocalAuthorizeOffline="true", AllowOfflineTxForUnknownId="true")
    engine.go_offline()
    await wait_state(engine, ConnectionState.DISCONNECTED)
    engine.set_plugged(1, True)
    assert await engine.authorize("BAD") is False  # known and blocked: never "unknown"
    assert await engine.authorize("OLD") is False  # expired
    assert await engine.authorize("STRANGER") is True  # unknown, allowed by configuration
    assert await engine.swipe("good") == "started"  # idTags compare case-insensitively
    engine.go_online()
    start = await csms.wait_for("StartTransaction")
    assert start["id_tag"] == "good"
    assert csms.actions("Authorize") == []  # nothing was asked while offline


async def test_cache_and_pre_authorize(
    csms: TestCsms, make_engine: EngineFactory, tmp_path: Path
) -> None:
    queue = str(tmp_path / "q.sqlite3")
    storage = MemoryStorage()  # configuration keys survive the restart too
    engine = await accepted_engine(csms, make_engine, queue_path=queue, storage=storage)
    await configure(
        csms,
        AuthorizationCacheEnabled="true",
        LocalAuthorizeOffline="true",
        LocalPreAuthorize="true",
    )
    assert await engine.authorize("FRIEND") is True  # online: Authorize.req, then cached
    assert csms.actions("Authorize") == [{"id_tag": "FRIEND"}]
    assert engine.auth_cache.lookup("friend") == {"status": "Accepted"}
    await engine.stop()

    again = make_engine(csms.url, queue_path=queue, storage=storage)
    await again.start()
    await wait_state(again, ConnectionState.ACCEPTED)
    assert again.auth_cache.lookup("FRIEND") == {"status": "Accepted"}  # persisted
    again.go_offline()
    await wait_state(again, ConnectionState.DISCONNECTED)
    assert await again.authorize("FRIEND") is True  # offline, from the cache
    again.go_online()
    await wait_state(again, ConnectionState.ACCEPTED)
    assert (await csms.call(call.ClearCache())).status == "Accepted"
    again.go_offline()
    await wait_state(again, ConnectionState.DISCONNECTED)
    assert await again.authorize("FRIEND") is False  # cache cleared, unknown not allowed


def test_expiry_makes_an_entry_expired() -> None:
    assert effective_status({"status": "Accepted", "expiryDate": "2999-01-01T00:00:00Z"}) == (
        "Accepted"
    )
    assert effective_status({"status": "Accepted", "expiryDate": "2001-01-01T00:00:00Z"}) == (
        "Expired"
    )
    assert effective_status({"status": "Blocked"}) == "Blocked"
