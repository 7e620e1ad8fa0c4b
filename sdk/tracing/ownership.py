"""One model call is one stream: which adapter records a call when several see it.

A model call can pass through two adapters at once: the engine's (or LangChain's) ``ChatOpenAI`` reports its run
to the tracing handler and then calls the ``openai`` client, which ``instrument_openai()`` also traces. Both
would record the same call. The rule: the outermost adapter that knows the call records it, the inner one stays
silent. When the handler starts an LLM run it *offers* the run's recorder in the current context; the first
``openai`` call made in that context before the run has recorded a chunk *takes* the offer and records nothing
of its own (it may still tell the run's recorder when the response headers arrived).

The offer lives in a ``ContextVar``, so it reaches exactly the code the model run executes (the same thread or
asyncio task, and contexts copied from it) and nothing running elsewhere. It is valid once, and only while the
run has neither ended nor recorded a chunk: the model's own request always comes before its first chunk, while
code in the consumer's loop body (which may call ``openai`` itself, and must be recorded) only runs after the
first chunk was handed over. Nothing needs resetting: a stale offer is an ended or already taken one.
"""

from __future__ import annotations

from contextvars import ContextVar

from streamscope.tracing.streams import StreamRecorder

__all__ = ["offer", "take"]


class _Offer:
    __slots__ = ("rec", "taken")

    def __init__(self, rec: StreamRecorder) -> None:
        self.rec = rec
        self.taken = False


_offer: ContextVar[_Offer | None] = ContextVar("streamscope_llm_offer", default=None)


def offer(rec: StreamRecorder) -> None:
    """An LLM run recorded by ``rec`` starts here: the model's own client call in this context is part of it."""
    _offer.set(_Offer(rec))


def take() -> StreamRecorder | None:
    """The recorder of the LLM run this client call belongs to (once), or None: then record the call yourself."""
    found = _offer.get()
    if found is None or found.taken:
        return None
    rec = found.rec
    if rec.ended or rec.recorded:
        return None
    found.taken = True
    return rec
