"""The ingest pipeline's batching across writer threads (an in-memory store held at its first write)."""

from __future__ import annotations

import threading
import time

import pytest
from factories import llm_trace

from streamscope.collector.model import IngestBatch
from streamscope.collector.pipeline import Ingestor
from streamscope.collector.store.memory import MemoryStore


class HeldStore(MemoryStore):
    """Records the size of every write; the first write waits until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.entered = threading.Event()
        self.sizes: list[int] = []

    def write(self, batch: IngestBatch) -> None:
        first = not self.entered.is_set()
        self.entered.set()
        if first:
            assert self.release.wait(30)
        super().write(batch)
        self.sizes.append(len(batch))


@pytest.mark.parametrize("gather", [True, False])
def test_with_gather_a_second_writer_gathers_while_a_write_is_in_flight(gather: bool) -> None:
    store = HeldStore()
    ingestor = Ingestor(store, writers=2, gather=gather)
    try:
        first = ingestor.submit(llm_trace(2))
        assert store.entered.wait(10)  # the first write is in flight (held)
        tickets = []
        for _ in range(5):
            tickets.append(ingestor.submit(llm_trace(2)))
            time.sleep(0.1)  # each request arrives while the first write is still in flight
        store.release.set()
        assert first.wait(10) and all(t.wait(10) for t in tickets)
        one = len(llm_trace(2))
        if gather:  # the second writer gathered all five, and wrote them once the first write ended
            assert store.sizes == [one, 5 * one]
        else:  # the second writer took the first one that came (and wrote it beside the held write)
            assert store.sizes[0] == one and len(store.sizes) > 2
        assert store.counts()["streams"] == 6
    finally:
        store.release.set()
        ingestor.close()


def test_with_a_linger_a_small_batch_waits_for_more_until_it_has_the_rows_it_wants() -> None:
    """No write in flight: the first request waits (up to a linger far longer than the test allows), the two
    that come next join it, and the write starts once the batch holds ``linger_rows``."""
    store = HeldStore()
    store.release.set()
    one = len(llm_trace(2))
    ingestor = Ingestor(store, writers=2, gather=True, linger=60.0, linger_rows=3 * one)
    try:
        tickets = [ingestor.submit(llm_trace(2))]
        time.sleep(0.2)
        assert not store.entered.is_set()  # still lingering
        tickets += [ingestor.submit(llm_trace(2)) for _ in range(2)]
        assert all(t.wait(10) for t in tickets)  # the third request filled the batch: no 60 s wait
        assert store.sizes == [3 * one]
    finally:
        ingestor.close()


def test_a_lingering_batch_is_written_when_the_linger_ends() -> None:
    store = HeldStore()
    store.release.set()
    ingestor = Ingestor(store, writers=2, gather=True, linger=0.3, linger_rows=1_000_000)
    try:
        ticket = ingestor.submit(llm_trace(2))
        assert ticket.wait(10)
        assert store.sizes == [len(llm_trace(2))]
    finally:
        ingestor.close()
