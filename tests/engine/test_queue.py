"""The durable message store on its own: commits, order, restart, grouped removal, corruption."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest

from custom_components.ocpp_cp.engine import queue as queue_module
from custom_components.ocpp_cp.engine.queue import MessageStore, QueueStorageError


async def test_messages_survive_a_reopen_in_order(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite3"
    store = MessageStore(path)
    await store.open()
    local = await store.begin_transaction(1, {"id_tag": "A"})
    for n in range(5):
        await store.append(f"u{n}", "MeterValues", {"n": n}, local)
    first = (await store.messages())[0]
    store.acknowledge(first.seq)
    await store.close()

    again = MessageStore(path)
    await again.open()
    messages = await again.messages()
    assert [m.unique_id for m in messages] == ["u1", "u2", "u3", "u4"]  # the unique id is kept
    assert [m.payload["n"] for m in messages] == [1, 2, 3, 4]
    (tx,) = await again.transactions()
    assert (tx.local_id, tx.connector_id, tx.document) == (local, 1, {"id_tag": "A"})
    await again.close()


async def test_acknowledged_but_not_flushed_is_resent_after_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite3"
    store = MessageStore(path)
    await store.open()
    seq = await store.append("u1", "StartTransaction", {}, None)
    store.acknowledge(seq)
    assert await store.messages() == []  # acknowledged ones are not handed out again
    # a crash before the grouped delete: the second process sees it again (at-least-once)
    crashed = MessageStore(path)
    await crashed.open()
    assert [m.unique_id for m in await crashed.messages()] == ["u1"]
    await crashed.close()
    await store.close()  # flushes the delete
    reopened = MessageStore(path)
    await reopened.open()
    assert await reopened.messages() == []
    await reopened.close()


async def test_ended_transactions_pruned_only_after_delivery(tmp_path: Path) -> None:
    store = MessageStore(":memory:")
    await store.open()
    local = await store.begin_transaction(1, {})
    seq = await store.append("u", "StopTransaction", {}, local)
    await store.update_transaction(local, {"x": 1}, transaction_id=7, ended=True)
    await store.prune_transactions()
    (tx,) = await store.transactions()
    assert (tx.transaction_id, tx.ended, tx.document) == (7, True, {"x": 1})
    store.acknowledge(seq)
    await store.prune_transactions()
    assert await store.transactions() == []
    await store.close()


async def test_documents(tmp_path: Path) -> None:
    store = MessageStore(tmp_path / "q.sqlite3")
    await store.open()
    assert await store.load_document("auth_cache") is None
    await store.save_document("auth_cache", {"A": "Accepted"})
    await store.save_document("auth_cache", {"B": "Blocked"})
    assert await store.load_document("auth_cache") == {"B": "Blocked"}
    await store.close()


async def test_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    store = MessageStore(path)
    with pytest.raises(QueueStorageError) as err:
        await store.open()
    assert "is unusable" in str(err.value)
    assert str(path) in str(err.value)
    await store.close()


async def test_unwritable_directory_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    blocker = folder / "queue.sqlite3"
    blocker.mkdir()  # a directory where the file should be: cannot be opened, even as root
    store = MessageStore(blocker)
    with pytest.raises(QueueStorageError) as err:
        await store.open()
    assert "cannot be opened" in str(err.value) or "is unusable" in str(err.value)
    await store.close()
    assert stat.S_ISDIR(blocker.stat().st_mode)


async def test_idle_file_is_closed_and_reopened_on_demand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queue_module, "IDLE_CLOSE", 0.05)
    store = MessageStore(tmp_path / "q.sqlite3")
    await store.open()
    await store.append("u1", "MeterValues", {"n": 1}, None)
    await asyncio.sleep(0.2)
    assert store._db is None  # an idle charge point holds no SQLite connection
    await store.append("u2", "MeterValues", {"n": 2}, None)  # opens again by itself
    assert [m.unique_id for m in await store.messages()] == ["u1", "u2"]
    await store.close()
