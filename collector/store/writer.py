"""SQLite with its writes in a process of their own, so that committing rows never waits for the GIL.

In one process the writer thread shares the GIL with the receivers: every ``sqlite3_step`` releases it, and
getting it back can take a switch interval while a receiver decodes. With the writes in a child process, the
receivers decode on one core while the child inserts and commits on the other.

:class:`SQLiteProcessStore` is a :class:`SQLiteStore` (reads, retention and aggregates queries run here, on
WAL readers) whose :meth:`write` hands the batch to the child and returns once the child has committed it: the
same durability as the in-process store. Span rows travel as plain tuples (the cheapest thing to pickle), chunk
rows column by column (``chunk_columns.pack``). With
:meth:`SQLiteProcessStore.write_observed` the child also turns the committed batch into metric observations
(``metrics.BatchObserver``) and sends them back with its answer: that work then runs on the writer's core
instead of under the receivers' GIL. The
child ignores SIGINT/SIGTERM (the parent drains and stops it) and exits when its pipe closes, so a parent killed
with ``kill -9`` does not leave it behind. If the child dies, the write in progress raises (its requests are
answered 503 and retried by the exporters) and the next write starts a new child.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import operator
import os
import pickle
import signal
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from typing import Any

from streamscope.collector import chunk_columns
from streamscope.collector.chunk_columns import Groups
from streamscope.collector.gc_tuning import tune_gc
from streamscope.collector.metrics import BatchObserver, Observation
from streamscope.collector.model import IngestBatch, LiveStream, Stream
from streamscope.collector.store.sqlite import SpanRows, SQLiteStore, span_rows

# Streams and in-flight streams cross to the child as tuples of their fields (taken in C; pickling the dataclasses
# themselves calls a Python __getstate__ per object) and are rebuilt there; spans as their table rows.
_stream_fields = operator.attrgetter(*(f.name for f in dataclasses.fields(Stream)))
_live_fields = operator.attrgetter(*(f.name for f in dataclasses.fields(LiveStream)))
log = logging.getLogger(__name__)
_STOP = b"stop"
_OK = b"ok"
ANSWER_TIMEOUT = 120.0  # s: a commit takes well under a second; receivers answer 503 after 8 s anyway


class WriterProcessError(RuntimeError):
    """The writer process failed to store a batch (or died while storing it)."""


class SQLiteProcessStore(SQLiteStore):
    """``answer_timeout``: seconds to wait for the child's answer to a batch before taking it for hung (stopped, or
    stuck in a write that does not finish): it is killed, the batches in flight fail (their requests get 503 and
    are retried) and the next write starts a new child. Its transaction rolls back, so nothing half-written stays.
    """

    def __init__(
        self, path: str, *, synchronous: str = "FULL", answer_timeout: float = ANSWER_TIMEOUT
    ) -> None:
        # creates (or converts) the schema here, before the child opens the database
        super().__init__(path, synchronous=synchronous)
        self._lock = threading.Lock()  # sending, and starting or dropping the child
        self._turns = threading.Condition()  # reading answers in the order the batches were sent
        self._sent = self._answered = 0  # batches sent to / answered by the current child
        self._generation = 0  # bumped when a child is dropped: writers waiting on it give up
        self._proc: subprocess.Popen[bytes] | None = None
        self._send: Connection | None = None
        self._recv: Connection | None = None
        self._answer_timeout = answer_timeout
        self._start()

    def _start(self) -> None:
        to_child_r, to_child_w = os.pipe()
        to_parent_r, to_parent_w = os.pipe()
        cmd = [sys.executable, "-m", __name__, str(to_child_r), str(to_parent_w), self.path, self._sync]
        try:
            self._proc = subprocess.Popen(cmd, pass_fds=(to_child_r, to_parent_w), stdin=subprocess.DEVNULL)
        finally:
            os.close(to_child_r)
            os.close(to_parent_w)
        self._send = Connection(to_child_w, readable=False)
        self._recv = Connection(to_parent_r, writable=False)

    def _drop_child(self) -> None:
        with self._turns:
            self._generation += 1
            self._sent = self._answered = 0
            self._turns.notify_all()
        for conn in (self._send, self._recv):
            if conn is not None:
                conn.close()
        self._send = self._recv = None
        if self._proc is not None:
            with contextlib.suppress(OSError):
                self._proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):  # a process stuck in the kernel dies later
                self._proc.wait(10)
            self._proc = None

    @property
    def writer_pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def write(self, batch: IngestBatch, rows: SpanRows | None = None, chunks: Groups | None = None) -> None:
        if chunks is not None:  # rows again: they cross as one flat list of fields
            batch = dataclasses.replace(batch, chunks=tuple(r for g in chunks.values() for r in g.rows()))
        if len(batch) or (rows is not None and rows.rows):
            self._write(batch, False, rows)

    def write_observed(self, batch: IngestBatch) -> Observation:
        """:meth:`write`, and return the batch's metric observations, made by the child once it has committed
        (the child keeps the observer's state: what it has counted)."""
        if not len(batch):
            return [], []
        reply = self._write(batch, True)
        observed: Observation = pickle.loads(reply[len(_OK) :])
        return observed

    def _write(self, batch: IngestBatch, observe: bool, rows: SpanRows | None = None) -> bytes:
        """Send the batch, wait for the child's answer after its commit; the answer (``ok`` + observations)."""
        payload = encode_batch(batch, self.clock(), observe, rows)
        with self._lock:  # send in turn; the child commits (and answers) in the order it received
            if self._closed:
                raise RuntimeError("store is closed")
            if self._send is None:
                self._start()
            assert self._send is not None
            send, recv, generation = self._send, self._recv, self._generation
            try:
                send.send_bytes(payload)
            except OSError as e:
                self._drop_child()
                raise WriterProcessError("the writer process died; the batch may not be stored") from e
            turn = self._sent
            self._sent += 1
        with self._turns:  # then read our answer: the one after the answers of the batches sent before ours
            while self._answered != turn and self._generation == generation:
                self._turns.wait()
            alive = self._generation == generation
        if not alive:  # the child died while an earlier batch was being written
            raise WriterProcessError("the writer process died; the batch may not be stored")
        try:
            assert recv is not None
            if not recv.poll(self._answer_timeout):  # only the writer whose turn it is reads
                with self._lock:
                    if self._generation == generation:
                        self._drop_child()
                raise WriterProcessError(
                    f"the writer process did not answer within {self._answer_timeout:g} s and "
                    "was restarted; the batch may not be stored"
                )
            reply = recv.recv_bytes()
        except (OSError, EOFError) as e:
            with self._lock:
                if self._generation == generation:
                    self._drop_child()
            raise WriterProcessError("the writer process died; the batch may not be stored") from e
        with self._turns:
            if self._generation == generation:
                self._answered += 1
            self._turns.notify_all()
        if not reply.startswith(_OK):
            raise WriterProcessError(reply.decode("utf-8", "replace"))
        return reply

    def close(self) -> None:
        with self._lock:
            if self._send is not None:
                with contextlib.suppress(OSError):
                    self._send.send_bytes(_STOP)
                if self._proc is not None:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self._proc.wait(30)
                self._drop_child()
        super().close()


def encode_batch(batch: IngestBatch, clock: int, observe: bool, rows: SpanRows | None = None) -> memoryview:
    """The message that carries a batch to the child (with the parent's clock and whether to observe it). Spans
    travel as their rows (attribute maps as JSON text: one string to pickle instead of a dict, and nothing left to
    encode in the child; each resource and scope once, the rows hold its id); ``rows``, when given, in place of
    ``batch.spans``. Chunk rows travel column by column (``chunk_columns.pack``): no tuple per row to build here,
    to pickle, or to rebuild in the child, which uses them as columns."""
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, pickle.HIGHEST_PROTOCOL)
    pickler.fast = True  # no memo: nothing in a batch refers to itself, and memoising every row costs 20%
    spans = span_rows(batch.spans) if rows is None else rows
    pickler.dump((clock, observe, list(spans.rows), dict(spans.origins), spans.inline,
                  list(map(_stream_fields, batch.streams)),
                  chunk_columns.pack(batch.chunks), list(map(_live_fields, batch.live))))  # fmt: skip
    return buf.getbuffer()


def decode_batch(msg: bytes) -> tuple[int, bool, IngestBatch, SpanRows, Groups]:
    """:func:`encode_batch` undone, in the child: the batch without its spans and chunks, their rows, and the
    chunk rows by stream as columns."""
    clock, observe, rows, origins, inline, streams, chunks, live = pickle.loads(msg)
    batch = IngestBatch((), tuple(Stream(*f) for f in streams), (), tuple(LiveStream(*f) for f in live))
    groups = chunk_columns.by_stream(chunk_columns.unpack(chunks))
    return clock, observe, batch, SpanRows(rows, origins, inline), groups


def _serve(read_fd: int, write_fd: int, path: str, synchronous: str) -> None:
    """The child: store every batch that arrives, answer ``ok`` or the error, until told to stop or EOF."""
    for sig in (signal.SIGINT, signal.SIGTERM):  # the parent drains the queue and then stops us
        signal.signal(sig, signal.SIG_IGN)
    recv, send = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    store = SQLiteStore(path, synchronous=synchronous)
    tune_gc()
    now = [0]
    store.clock = lambda: now[0]  # the parent's clock, sent with each batch
    observer = BatchObserver()
    try:
        while True:
            try:
                msg = recv.recv_bytes()
            except (EOFError, OSError):
                return
            if msg == _STOP:
                return
            try:
                now[0], observe, batch, rows, chunks = decode_batch(msg)
                store.write(batch, rows, chunks)
            except Exception as e:  # answer it; the parent raises it in the ingest pipeline (503, retried)
                reply: Any = f"the writer process could not store the batch: {type(e).__name__}: {e}"
                send.send_bytes(reply.encode("utf-8", "replace")[:4096])
                continue
            if not observe:
                send.send_bytes(_OK)
                continue
            try:
                observed: Observation = observer.observe(batch, chunk_columns.index_gaps(chunks))
            except Exception:  # committed all the same: answer ok, without these metrics
                log.exception("metrics observation failed")
                observed = ([], [])
            send.send_bytes(_OK + pickle.dumps(observed, pickle.HIGHEST_PROTOCOL))
    finally:
        store.close()


if __name__ == "__main__":
    _serve(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4])
