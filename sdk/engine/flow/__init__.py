"""Flow control for chunk streams: re-chunking, bounded buffering, rate limits, timeouts, stall detection
and an interruption guard.

Every stage works on a sync iterable, an async iterable, and (as a runnable) inside a pipeline::

    from streamscope.engine import flow

    for piece in flow.rechunk(chunk_size=20)(model.stream("hi")): ...
    async for piece in flow.apply(model.astream("hi"), flow.timeout(per_chunk=5), flow.guard()): ...
    chain = prompt | model | flow.rechunk(chunk_size=20) | parser
"""

from streamscope.engine.flow._stage import FlowStage, apply, is_async_source
from streamscope.engine.flow.buffer import AsyncBufferedStream, Buffer, BufferedStream, BufferStats, buffer
from streamscope.engine.flow.combine import chunk_size_of, combine_chunks
from streamscope.engine.flow.errors import StreamTimeoutError
from streamscope.engine.flow.guard import AsyncGuardedStream, Guard, GuardedStream, Reason, StreamEnd, guard
from streamscope.engine.flow.ratelimit import RateLimit, rate_limit
from streamscope.engine.flow.rechunk import Rechunk, rechunk
from streamscope.engine.flow.stall import (
    AsyncStallMonitor,
    DetectStalls,
    Stall,
    StallMonitor,
    StallState,
    detect_stalls,
)
from streamscope.engine.flow.timeout import TIMEOUT_CANCEL_MESSAGE, Timeout, timeout

__all__ = [
    "TIMEOUT_CANCEL_MESSAGE",
    "AsyncBufferedStream",
    "AsyncGuardedStream",
    "AsyncStallMonitor",
    "Buffer",
    "BufferStats",
    "BufferedStream",
    "DetectStalls",
    "FlowStage",
    "Guard",
    "GuardedStream",
    "RateLimit",
    "Reason",
    "Rechunk",
    "Stall",
    "StallMonitor",
    "StallState",
    "StreamEnd",
    "StreamTimeoutError",
    "Timeout",
    "apply",
    "buffer",
    "chunk_size_of",
    "combine_chunks",
    "detect_stalls",
    "guard",
    "is_async_source",
    "rate_limit",
    "rechunk",
    "timeout",
]
