"""The journal on its own: one commit per state change, guards, order, restart, corruption."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from pathlib import Path

import pytest

from custom_components.ocpp_cp.engine import journal as journal_module
from custom_components.ocpp_cp.engine.journal import Journal, JournalError, Outbound


def meter(n: int) -> Outbound:
    return Outbound(f"m{n}", "MeterValues", {"n": n})


async def opened(path: Path | str) -> Journal:
    journal = Journal(path)
    await journal.open()
    return journal


async def test_a_start_is_the_transaction_and_its_message_in_one_commit(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    journal = await opened(path)
    local, seq = await journal.start_transaction(
        1, {"id_tag": "A"}, Outbound("s1", "StartTransaction", {"idTag": "A"})
    )
    for n in range(3):
        assert await journal.record(local, {"id_tag": "A", "n": n}, meter(n))
    await journal.close()

    again = await opened(path)
    messages = await again.messages()
    assert [m.unique_id for m in messages] == ["s1", "m0", "m1", "m2"]  # unique ids kept
    assert messages[0].seq == seq
    assert [m.tx_local_id for m in messages] == [local] * 4
    (tx,) = await again.transactions()
    assert (tx.local_id, tx.connector_id, tx.document, tx.ended) == (
        local,
        1,
        {"id_tag": "A", "n": 2},
        False,
    )
    assert again.pending == 4
    await again.close()


async def test_a_stop_happens_once_and_nothing_follows_it() -> None:
    journal = await opened(":memory:")
    local, _ = await journal.start_transaction(1, {}, Outbound("s", "StartTransaction", {}))
    first = await journal.stop_transaction(local, {"end": 1}, Outbound("x1", "StopTransaction", {}))
    second = await journal.stop_transaction(
        local, {"end": 2}, Outbound("x2", "StopTransaction", {})
    )
    assert first and second is None
    assert await journal.record(local, {"late": True}, meter(9)) is None
    assert await journal.record(local, None, meter(10)) is None
    assert [m.unique_id for m in await journal.messages()] == ["s", "x1"]
    (tx,) = await journal.transactions()
    assert tx.ended and tx.document == {"end": 1}
    await journal.close()


async def test_confirming_a_start_never_revives_an_ended_transaction() -> None:
    """The landed store rewrote ended=1 back to 0 when a late StartTransaction.conf came in."""
    journal = await opened(":memory:")
    local, seq = await journal.start_transaction(1, {"a": 1}, Outbound("s", "StartTransaction", {}))
    await journal.stop_transaction(local, {"a": 2}, Outbound("x", "StopTransaction", {}))
    await journal.confirm_start(seq, local, 41, {"a": 3, "transaction_id": 41})
    (tx,) = await journal.transactions()
    assert (tx.ended, tx.transaction_id, tx.document) == (True, 41, {"a": 2})
    assert [m.unique_id for m in await journal.messages()] == ["x"]
    await journal.close()


async def test_a_transaction_id_outside_64_bits_writes_nothing() -> None:
    journal = await opened(":memory:")
    local, seq = await journal.start_transaction(1, {}, Outbound("s", "StartTransaction", {}))
    with pytest.raises(ValueError, match="64-bit"):
        await journal.confirm_start(seq, local, 2**63, {})
    assert [m.unique_id for m in await journal.messages()] == ["s"]
    (tx,) = await journal.transactions()
    assert tx.transaction_id is None
    await journal.confirm_start(seq, local, 2**63 - 1, {})
    (tx,) = await journal.transactions()
    assert tx.transaction_id == 2**63 - 1
    await journal.close()


async def test_a_failed_commit_leaves_nothing_half_written(tmp_path: Path) -> None:
    journal = await opened(tmp_path / "j.sqlite3")
    local, _ = await journal.start_transaction(1, {}, Outbound("s", "StartTransaction", {}))
    bad = Outbound("bad", "MeterValues", {})
    bad.text = None  # type: ignore[assignment]  # NOT NULL: the insert fails after the update
    with pytest.raises(JournalError):
        await journal.record(local, {"updated": True}, bad)
    (tx,) = await journal.transactions()
    assert tx.document == {}  # the document update was rolled back with the failed insert
    assert [m.unique_id for m in await journal.messages()] == ["s"]
    await journal.close()


async def test_a_discarded_start_is_remembered(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    journal = await opened(path)
    local, seq = await journal.start_transaction(1, {}, Outbound("s", "StartTransaction", {}))
    await journal.discard_start(seq, local)
    await journal.close()
    again = await opened(path)
    (tx,) = await again.transactions()
    assert tx.start_discarded and tx.transaction_id is None and not tx.ended
    assert await again.messages() == []
    await again.close()


async def test_acknowledged_but_not_flushed_is_resent_after_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    journal = await opened(path)
    local, seq = await journal.start_transaction(1, {}, Outbound("u1", "StartTransaction", {}))
    journal.acknowledge(seq)
    assert await journal.messages() == []  # acknowledged ones are not handed out again
    crashed = await opened(path)  # a crash before the grouped delete: at-least-once
    assert [m.unique_id for m in await crashed.messages()] == ["u1"]
    await crashed.close()
    await journal.close()  # flushes the delete
    reopened = await opened(path)
    assert await reopened.messages() == []
    await reopened.close()


async def test_ended_transactions_are_pruned_only_after_delivery() -> None:
    journal = await opened(":memory:")
    local, start = await journal.start_transaction(1, {}, Outbound("s", "StartTransaction", {}))
    await journal.confirm_start(start, local, 7, {})
    stop = await journal.stop_transaction(local, {"x": 1}, Outbound("x", "StopTransaction", {}))
    assert stop is not None
    await journal.flush()
    (tx,) = await journal.transactions()
    assert (tx.transaction_id, tx.ended, tx.document) == (7, True, {"x": 1})
    journal.acknowledge(stop)
    await journal.flush()
    assert await journal.transactions() == []
    await journal.close()


async def test_pages_stream_the_backlog_in_order() -> None:
    journal = await opened(":memory:")
    local, _ = await journal.start_transaction(1, {}, Outbound("s", "StartTransaction", {}))
    for n in range(10):
        await journal.record(local, None, meter(n))
    first, highest = await journal.page(0, 4)
    assert [m.unique_id for m in first] == ["s", "m0", "m1", "m2"]
    rest, _ = await journal.page(first[-1].seq, 100)
    assert [m.unique_id for m in rest] == [f"m{n}" for n in range(3, 10)]
    assert highest == rest[-1].seq
    await journal.close()


async def test_thinning_drops_every_second_meter_value_never_start_or_stop() -> None:
    journal = await opened(":memory:")
    local, head = await journal.start_transaction(1, {}, Outbound("s", "StartTransaction", {}))
    for n in range(6):
        await journal.record(local, None, meter(n))
    await journal.stop_transaction(local, {}, Outbound("x", "StopTransaction", {}))
    assert await journal.thin(head) == 3
    assert [m.unique_id for m in await journal.messages()] == ["s", "m1", "m3", "m5", "x"]
    assert journal.pending == 5
    await journal.close()


async def test_documents(tmp_path: Path) -> None:
    journal = await opened(tmp_path / "q.sqlite3")
    assert await journal.load_document("auth_cache") is None
    await journal.save_document("auth_cache", {"A": "Accepted"})
    await journal.save_document("auth_cache", {"B": "Blocked"})
    assert await journal.load_document("auth_cache") == {"B": "Blocked"}
    await journal.close()


async def test_a_file_of_the_first_release_gains_the_new_column(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(journal_module.SCHEMA)
    db.execute("INSERT INTO transactions (connector_id, document) VALUES (1, '{}')")
    db.commit()
    db.close()
    journal = await opened(path)
    (tx,) = await journal.transactions()
    assert not tx.start_discarded and not tx.ended
    await journal.close()


async def test_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    journal = Journal(path)
    with pytest.raises(JournalError) as err:
        await journal.open()
    assert "is unusable" in str(err.value)
    assert str(path) in str(err.value)
    await journal.close()


async def test_unwritable_directory_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    blocker = folder / "queue.sqlite3"
    blocker.mkdir()  # a directory where the file should be: cannot be opened, even as root
    journal = Journal(blocker)
    with pytest.raises(JournalError) as err:
        await journal.open()
    assert "cannot be opened" in str(err.value) or "is unusable" in str(err.value)
    await journal.close()
    assert stat.S_ISDIR(blocker.stat().st_mode)


async def test_idle_file_is_closed_and_reopened_on_demand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal_module, "IDLE_CLOSE", 0.05)
    journal = await opened(tmp_path / "q.sqlite3")
    local, _ = await journal.start_transaction(1, {}, Outbound("s", "StartTransaction", {}))
    async with asyncio.timeout(10):  # closed by a timer, then on the worker thread
        while journal._db is not None:
            await asyncio.sleep(0.02)
    assert journal._db is None  # an idle charge point holds no SQLite connection
    await journal.record(local, None, meter(1))  # opens again by itself
    assert [m.unique_id for m in await journal.messages()] == ["s", "m1"]
    await journal.close()


async def test_a_file_from_before_the_security_log_gets_its_tables_on_open(tmp_path: Path) -> None:
    """The security event tables are part of SCHEMA: a journal written before they existed
    gets them when it is opened, with its data kept."""
    path = tmp_path / "journal.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, unique_id TEXT NOT NULL,"
        " action TEXT NOT NULL, payload TEXT NOT NULL, tx_local_id INTEGER,"
        " attempts INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE documents (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO documents VALUES ('configuration', '{\"a\": 1}');"
    )
    db.close()
    journal = await opened(path)
    tables = await journal.execute(
        lambda db: {row[0] for row in db.execute("SELECT name FROM sqlite_master")}, atomic=False
    )
    assert {"security_log", "security_outbox", "transactions"} <= tables
    assert await journal.load_document("configuration") == {"a": 1}
    await journal.close()
