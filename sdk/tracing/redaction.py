"""Redaction: a user's ``redact(text) -> text`` applied to every piece of captured text before it is exported.

    streamscope.init(redact=streamscope.redact_patterns(r"[\\w.+-]+@[\\w-]+\\.[\\w.]+", r"sk-[A-Za-z0-9]{20,}"))

:class:`SafeRedactor` wraps the user's callable so that it never breaks the host app and never lets text out
unredacted: if the callable raises (or returns something other than a ``str``), the text is replaced by
:data:`REDACTION_FAILED`, the failure is logged once (type and place only: the message may quote the text) and
counted. :func:`redact_fragments` redacts a stream's chunk texts as one text and splits the result back over the
chunks, so a secret that arrived split across chunks is caught as a whole (see its docstring for the mapping).
:func:`redact_patterns` builds a redactor from regular expressions.

Where redaction runs (``docs/privacy.md``): stream text (chunk contents, output, partial output, the prompt
messages and a failed stream's exception) when the stream's span is finished, on the export thread; tool
arguments/results and the exceptions of other failed steps on the thread that records them, once per step. Never
per chunk on the consumer's thread.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections.abc import Callable, Sequence

__all__ = ["REDACTION_FAILED", "PatternRedactor", "SafeRedactor", "redact_fragments", "redact_patterns"]

logger = logging.getLogger("streamscope")

#: What a piece of text is exported as when the redact callable failed on it.
REDACTION_FAILED = "[redaction failed]"

Redact = Callable[[str], str]


class SafeRedactor:
    """The user's redact callable, made safe: never raises, always returns a ``str``.

    ``failures`` counts the texts that were exported as :data:`REDACTION_FAILED` instead.
    """

    __slots__ = ("_lock", "_warned", "failures", "fn")

    def __init__(self, fn: Redact) -> None:
        given: object = fn
        if not callable(given):
            raise TypeError(f"redact must be a callable taking and returning a str; got {fn!r}.")
        self.fn = fn
        self.failures = 0
        self._warned = False
        self._lock = threading.Lock()

    def __call__(self, text: str) -> str:
        out = self.attempt(text)
        return REDACTION_FAILED if out is None else out

    def attempt(self, text: str) -> str | None:
        """The redacted text, or None if the callable failed (logged once, counted)."""
        try:
            out: object = self.fn(text)  # typed str, but a user's callable may return anything
        except Exception as exc:
            self._failed(f"raised {type(exc).__name__}", exc.__traceback__)
            return None
        if not isinstance(out, str):
            self._failed(f"returned {type(out).__name__}, not str", None)
            return None
        return out

    def _failed(self, what: str, tb: object) -> None:
        with self._lock:
            self.failures += 1
            if self._warned:
                return
            self._warned = True
        where = ""
        if tb is not None:
            frames = traceback.extract_tb(tb)  # type: ignore[arg-type]
            if frames:
                where = f" at {frames[-1].filename}:{frames[-1].lineno}"
        # Neither the exception's message nor the text: either may hold what was to be redacted.
        logger.warning(
            "streamscope: the redact callable %s%s; the text was exported as %r instead "
            "(logged once; the app is unaffected)",
            what,
            where,
            REDACTION_FAILED,
        )

    def __repr__(self) -> str:
        return f"SafeRedactor({self.fn!r})"


def safe(fn: Redact | None) -> SafeRedactor | None:
    """``fn`` wrapped in a :class:`SafeRedactor` (unchanged if it is one already; None stays None)."""
    if fn is None or isinstance(fn, SafeRedactor):
        return fn
    return SafeRedactor(fn)


def _common_prefix(a: str, b: str) -> int:
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:  # binary search over C-level slice comparisons
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: str, b: str, limit: int) -> int:
    la, lb = len(a), len(b)
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[la - mid :] == b[lb - mid :]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def redact_fragments(redact: SafeRedactor, texts: Sequence[str]) -> tuple[list[str], str, str]:
    """Redact ``texts`` (a stream's chunk texts, in order) as one text; ``(pieces, whole, redacted)``.

    ``redacted = redact("".join(texts))`` and ``pieces`` are consecutive slices of it, one per chunk, so
    ``"".join(pieces) == redacted`` always: no piece holds anything the redactor removed from the whole text,
    even when a secret arrived split across chunks. How the redacted text is split back over the chunks:

    - unchanged: the pieces are the chunks' own texts;
    - same length as the original: at the original chunk boundaries (each piece as long as its chunk);
    - otherwise: the common prefix and suffix of original and redacted text keep their chunk boundaries; in the
      changed stretch between them positions map one to one, and the chunk where that stretch ends takes whatever
      the replacement added (or gives back what it removed), so chunk boundaries there move by the difference.

    If the redactor fails, ``redacted`` is :data:`REDACTION_FAILED` and so is every non-empty piece.
    """
    whole = "".join(texts)
    red = redact.attempt(whole)
    if red is None:
        return [REDACTION_FAILED if t else "" for t in texts], whole, REDACTION_FAILED
    if red == whole:
        return list(texts), whole, red
    n, nr = len(whole), len(red)
    ends: list[int] = []
    pos = 0
    for t in texts:
        pos += len(t)
        ends.append(pos)
    if n == nr:
        cuts = ends
    else:
        p = _common_prefix(whole, red)
        s = _common_suffix(whole, red, min(n, nr) - p)
        mid_end = nr - s  # end of the changed stretch in the redacted text
        shift = nr - n
        # monotone, and the last chunk's end (x == n) maps to nr: the pieces cover ``red`` exactly
        cuts = [x + shift if x >= n - s else (x if x <= p else min(x, mid_end)) for x in ends]
    pieces: list[str] = []
    start = 0
    for cut in cuts:
        pieces.append(red[start:cut])
        start = cut
    return pieces, whole, red


class PatternRedactor:
    """Replaces every match of each pattern, in order, by a fixed text. Made by :func:`redact_patterns`."""

    __slots__ = ("_template", "patterns", "replacement")

    def __init__(self, patterns: Sequence[re.Pattern[str]], replacement: str) -> None:
        self.patterns = tuple(patterns)
        self.replacement = replacement
        self._template = replacement.replace("\\", "\\\\")  # literal: no group references

    def __call__(self, text: str) -> str:
        for pattern in self.patterns:
            text = pattern.sub(self._template, text)
        return text

    def __repr__(self) -> str:
        return f"redact_patterns({', '.join(repr(p.pattern) for p in self.patterns)}, replacement={self.replacement!r})"


def redact_patterns(
    *patterns: str | re.Pattern[str], replacement: str = "[REDACTED]", flags: int = 0
) -> PatternRedactor:
    """A redactor that replaces every match of each regular expression by ``replacement`` (taken literally).

    Patterns are strings (compiled with ``flags``) or compiled ``re.Pattern`` objects, applied one after another::

        streamscope.init(redact=streamscope.redact_patterns(
            r"[\\w.+-]+@[\\w-]+(\\.[\\w-]+)+",          # e-mail addresses
            r"\\b(sk|pk|rk)-[A-Za-z0-9_-]{16,}",        # API keys like sk-...
        ))

    Bad patterns raise ``re.error`` here, not later.
    """
    if not patterns:
        raise ValueError("redact_patterns needs at least one pattern.")
    if not isinstance(replacement, str):
        raise TypeError(f"replacement must be a str; got {replacement!r}.")
    compiled = [p if isinstance(p, re.Pattern) else re.compile(p, flags) for p in patterns]
    return PatternRedactor(compiled, replacement)
