"""SQLiteProcessStore: writes in a child process (the contract suite runs on it too: test_store_contract.py)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import llm_trace
from proc import start_collector

from streamscope.collector.model import Filters, IngestBatch
from streamscope.collector.store.writer import SQLiteProcessStore, WriterProcessError


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteProcessStore]:
    s = SQLiteProcessStore(str(tmp_path / "db.sqlite"))
    yield s
    s.close()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            out += [int(p) for p in f.read().split()]
    return out


def test_writes_are_stored_by_the_child_and_read_here(store: SQLiteProcessStore) -> None:
    b = llm_trace(5)
    store.write(b)
    assert store.writer_pid is not None and store.writer_pid != os.getpid()
    (st,) = store.streams(Filters(), 10)
    assert [c.index for c in store.chunks(st.span_id)] == [0, 1, 2, 3, 4]


def test_a_dead_child_fails_the_write_and_the_next_write_starts_a_new_one(store: SQLiteProcessStore) -> None:
    first, second = llm_trace(2), llm_trace(3)
    store.write(first)
    old = store.writer_pid
    assert old is not None
    os.kill(old, signal.SIGKILL)
    assert _gone_within(old, 5)
    with pytest.raises(WriterProcessError, match="died"):
        store.write(second)
    store.write(second)  # what an exporter's retry does
    assert store.writer_pid not in (None, old)
    assert len(store.streams(Filters(), 10)) == 2


def test_a_failed_write_is_reported_and_the_child_keeps_serving(store: SQLiteProcessStore) -> None:
    bad = IngestBatch(chunks=(("ab" * 8, 1),))  # type: ignore[arg-type]  # a row with 2 of its 8 columns
    with pytest.raises(WriterProcessError, match="could not store the batch"):
        store.write(bad)
    pid = store.writer_pid
    store.write(llm_trace(1))
    assert store.writer_pid == pid
    assert len(store.streams(Filters(), 10)) == 1


def test_close_stops_the_child(tmp_path: Path) -> None:
    s = SQLiteProcessStore(str(tmp_path / "db.sqlite"))
    s.write(llm_trace(1))
    pid = s.writer_pid
    assert pid is not None
    s.close()
    assert _gone_within(pid, 5)
    with pytest.raises(RuntimeError, match="closed"):
        s.write(llm_trace(1))


def test_a_killed_collector_leaves_no_writer_behind(tmp_path: Path) -> None:
    c = start_collector(str(tmp_path / "c.db"))
    try:
        (writer,) = _children(c.proc.pid)
        c.proc.kill()  # kill -9: no clean-up code runs in the collector
        c.proc.wait(10)
        assert _gone_within(writer, 10), "the writer process outlived its collector"
    finally:
        c.stop()


def test_concurrent_writers_are_answered_in_order_and_all_stored(store: SQLiteProcessStore) -> None:
    """Two writers (as the collector runs): the second batch is sent while the first is being committed."""
    batches = [llm_trace(3) for _ in range(40)]
    errors: list[BaseException] = []

    def write(mine: list[IngestBatch]) -> None:
        try:
            for b in mine:
                store.write(b)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(batches[i::2],)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len(store.streams(Filters(), 100)) == 40
    assert store.counts()["chunks"] == 120


def test_a_child_dying_under_two_pending_writes_fails_both_then_recovers(store: SQLiteProcessStore) -> None:
    store.write(llm_trace(1))
    pid = store.writer_pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # the child stops reading: both writes below are in flight
    results: list[object] = []

    def write() -> None:
        try:
            store.write(llm_trace(2))
            results.append("stored")
        except WriterProcessError as e:
            results.append(e)

    threads = [threading.Thread(target=write) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    os.kill(pid, signal.SIGKILL)
    for t in threads:
        t.join(30)
    assert len(results) == 2 and all(isinstance(r, WriterProcessError) for r in results)
    store.write(llm_trace(4))
    assert store.writer_pid not in (None, pid)
    assert sorted(st.chunk_count or 0 for st in store.streams(Filters(), 10)) == [1, 4]


def test_a_hung_child_is_replaced_and_the_write_fails_instead_of_waiting_forever(tmp_path: Path) -> None:
    # a child's start-up (its imports) counts against the answer timeout: a loaded machine can stretch it past 1 s,
    # so the 1 s applies only to the stopped child's batch
    s = SQLiteProcessStore(str(tmp_path / "db.sqlite"), answer_timeout=60.0)
    try:
        s.write(llm_trace(1))
        pid = s.writer_pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # alive, but never answers
        s._answer_timeout = 1.0
        with pytest.raises(WriterProcessError, match="did not answer within 1 s"):
            s.write(llm_trace(2))
        assert _gone_within(pid, 10)  # killed, not left stopped behind
        s._answer_timeout = 60.0
        s.write(llm_trace(3))  # the exporter's retry: a new child
        assert s.writer_pid not in (None, pid)
        assert sorted(st.chunk_count or 0 for st in s.streams(Filters(), 10)) == [
            1,
            3,
        ]  # the unanswered batch was never stored
    finally:
        s.close()
