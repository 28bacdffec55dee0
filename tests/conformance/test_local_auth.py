"""LocalAuthListManagement profile: GetLocalListVersion, SendLocalList and authorization from
the local list (OCPP 1.6 edition 2, sections 3.5.2, 5.10, 5.15)."""

from __future__ import annotations

from typing import Any

from .conftest import Launch
from .harness import (
    Csms,
    answered,
    assert_in_order,
    calls,
    conf,
    now_iso,
    req,
)


def entry(id_tag: str, status: str | None = "Accepted", **info: Any) -> dict[str, Any]:
    """An AuthorizationData item; ``status`` None removes the idTag (Differential)."""
    item: dict[str, Any] = {"idTag": id_tag}
    if status is not None:
        item["idTagInfo"] = {"status": status, **info}
    return item


async def send_list(csms: Csms, version: int, update: str, items: list[dict[str, Any]]) -> str:
    result = await csms.ask(
        "SendLocalList",
        {"listVersion": version, "updateType": update, "localAuthorizationList": items},
    )
    status: str = result["status"]
    return status


async def list_version(csms: Csms) -> int:
    version: int = (await csms.ask("GetLocalListVersion"))["listVersion"]
    return version


async def test_local_list_version_of_a_new_charge_point_is_zero(csms: Csms, launch: Launch) -> None:
    """GetLocalListVersion on a charge point that never received a list: 0, the empty list
    (sections 5.10, 6.28)."""
    await launch()
    assert await list_version(csms) == 0


async def test_send_local_list_full_then_differential(csms: Csms, launch: Launch) -> None:
    """SendLocalList Full then Differential: each Accepted and the version follows; the
    differential adds an idTag and removes one (an entry without idTagInfo), which the
    charge point then authorises from the list (LocalPreAuthorize: no Authorize.req) or
    online (sections 5.15, 6.41, 3.5.2, 9.1 LocalPreAuthorize)."""
    sim = await launch()
    assert await send_list(csms, 1, "Full", [entry("KEEP"), entry("DROP", "Blocked")]) == (
        "Accepted"
    )
    assert await list_version(csms) == 1
    assert await send_list(csms, 2, "Differential", [entry("ADDED"), entry("DROP", None)]) == (
        "Accepted"
    )
    assert await list_version(csms) == 2
    await csms.configure(LocalPreAuthorize=True)
    mark = csms.mark()
    await sim.do("plug 1")
    assert (await sim.do("swipe ADDED"))["result"] == "started"
    await csms.wait(answered("StartTransaction"), mark)
    assert not calls(csms.since(mark), "Authorize"), "ADDED is Accepted in the local list"
    assert (await sim.do("swipe ADDED"))["result"] == "stopped"
    await csms.wait(answered("StopTransaction"), mark)
    assert (await sim.do("swipe DROP"))["result"] == "started"
    await csms.wait(req("StartTransaction", idTag="DROP"), mark)
    assert_in_order(
        csms.since(mark),
        req("StartTransaction", idTag="ADDED"),
        req("StopTransaction"),
        req("Authorize", idTag="DROP"),
        req("StartTransaction", idTag="DROP"),
    )


async def test_differential_update_with_an_old_version_is_version_mismatch(
    csms: Csms, launch: Launch
) -> None:
    """SendLocalList Differential whose listVersion is not above the current one:
    VersionMismatch, the list and its version unchanged (sections 5.15, 6.42, 7.48)."""
    await launch()
    assert await send_list(csms, 5, "Full", [entry("KEEP")]) == "Accepted"
    assert await send_list(csms, 4, "Differential", [entry("OTHER")]) == "VersionMismatch"
    assert await send_list(csms, 5, "Differential", [entry("OTHER")]) == "VersionMismatch"
    assert await list_version(csms) == 5


async def test_full_update_with_an_empty_list_sets_version_zero(csms: Csms, launch: Launch) -> None:
    """SendLocalList Full with an empty list empties it; GetLocalListVersion then answers 0,
    which stands for an empty list (sections 5.10, 5.15)."""
    await launch()
    assert await send_list(csms, 3, "Full", [entry("KEEP")]) == "Accepted"
    assert await list_version(csms) == 3
    assert await send_list(csms, 4, "Full", []) == "Accepted"
    assert await list_version(csms) == 0
    assert await send_list(csms, 6, "Full", [entry("KEEP")]) == "Accepted"
    result = await csms.ask("SendLocalList", {"listVersion": 7, "updateType": "Full"})
    assert result == {"status": "Accepted"}
    assert await list_version(csms) == 0


async def test_local_authorize_offline_uses_the_local_list(csms: Csms, launch: Launch) -> None:
    """Offline, LocalAuthorizeOffline true: an idTag Accepted in the local list starts a
    transaction, a Blocked one and one whose expiryDate has passed are refused; with
    LocalAuthorizeOffline false even the Accepted one is refused. The transaction is
    delivered after reconnecting (sections 3.5.2, 3.5.4, 3.7, 9.1 LocalAuthorizeOffline)."""
    sim = await launch()
    items = [entry("GOOD"), entry("BAD", "Blocked"), entry("OLD", expiryDate=now_iso(-3600))]
    assert await send_list(csms, 1, "Full", items) == "Accepted"
    await csms.configure(LocalAuthorizeOffline=False)
    await sim.do("plug 1")
    await sim.do("offline")
    await sim.wait_event("state", state="disconnected")
    assert (await sim.do("swipe GOOD"))["result"] == "rejected", "LocalAuthorizeOffline false"
    events = sim.mark()
    await sim.do("online")
    await sim.wait_event("state", events, state="accepted")
    await csms.configure(LocalAuthorizeOffline=True)
    await sim.do("offline")
    await sim.wait_event("state", events, state="disconnected")
    mark = csms.mark()
    assert (await sim.do("swipe BAD"))["result"] == "rejected"
    assert (await sim.do("swipe OLD"))["result"] == "rejected", "an expired entry is refused"
    assert (await sim.do("swipe GOOD"))["result"] == "started"
    assert (await sim.do("swipe GOOD"))["result"] == "stopped"
    await sim.do("online")
    await csms.wait(answered("StopTransaction"), mark)
    frames = csms.since(mark)
    assert not calls(frames, "Authorize")
    assert [f.payload["idTag"] for f in calls(frames, "StartTransaction")] == ["GOOD"]
    assert_in_order(
        frames,
        req("StartTransaction", idTag="GOOD"),
        answered("StartTransaction"),
        req("StopTransaction", transactionId=1001),
    )


async def test_charge_point_without_the_local_list_profile(csms: Csms, launch: Launch) -> None:
    """A charge point without LocalAuthListManagement (--feature-profiles Core): SendLocalList
    answered NotSupported, GetLocalListVersion -1, LocalAuthListEnabled an unknown key, the
    profile absent from SupportedFeatureProfiles (sections 5.10, 5.15, 7.48, 9.2)."""
    await launch("--feature-profiles", "Core")
    mark = csms.mark()
    assert await send_list(csms, 1, "Full", [entry("KEEP")]) == "NotSupported"
    assert await list_version(csms) == -1
    result = await csms.ask("GetConfiguration", {"key": ["LocalAuthListEnabled"]})
    assert result.get("unknownKey") == ["LocalAuthListEnabled"]
    assert not result.get("configurationKey")
    everything = await csms.configuration()
    assert not {"LocalAuthListEnabled", "LocalAuthListMaxLength", "SendLocalListMaxLength"} & set(
        everything
    )
    profiles = everything["SupportedFeatureProfiles"]["value"].split(",")
    assert "LocalAuthListManagement" not in profiles
    assert_in_order(
        csms.since(mark),
        conf("SendLocalList", status="NotSupported"),
        conf("GetLocalListVersion", listVersion=-1),
    )
