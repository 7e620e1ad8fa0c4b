"""Where a span comes from (its resource and instrumentation scope), stored once for the SQLite store.

Every span of one exporter repeats the same resource map (``service.name``, SDK name and version, host, ...) and
the same scope name: as JSON in every spans row they were about 40 % of a generic span's bytes, written to the WAL
and checkpointed with each span. Instead the ``span_origins`` table holds each (resource, scope) pair once and a
spans row holds its id in ``origin``.

An origin's id is a 64-bit hash of the pair (:func:`origin_id`), so the process that makes the rows needs no
database round trip, and a re-delivered span maps to the same id. Ids are checked, not trusted: before the rows
are inserted, :meth:`OriginTable.store` inserts each origin not stored yet and compares the stored pair of an id it
has not seen in this process. A pair whose id is already taken by a different pair (a hash collision) is not
mapped: its spans keep their resource and scope in their own row (``origin`` NULL), as rows written before this
table existed do, and readers take the row's own columns whenever ``origin`` is NULL.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Mapping

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS span_origins (id INTEGER PRIMARY KEY, resource TEXT, scope TEXT NOT NULL);"
)

#: A span's resource (JSON text, or None for an empty resource) and its scope name.
Origin = tuple[str | None, str]

_KNOWN_MAX = 10_000  # ids the writer remembers as checked; past that it forgets them all and checks again


def origin_id(resource: str | None, scope: str) -> int:
    """The id of a (resource, scope) pair: the first 8 bytes of its BLAKE2b hash as a signed 64-bit integer (what
    an SQLite INTEGER holds). JSON text has no raw NUL, so the NUL after the resource separates the two."""
    text = ("r" + resource if resource is not None else "n") + "\0" + scope
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little", signed=True)


def migrate(con: sqlite3.Connection) -> None:
    """Create the table and give a spans table written before it the ``origin`` column (NULL in old rows, which
    keep their resource and scope in their own columns). Idempotent."""
    con.executescript(SCHEMA)
    if "origin" not in {r[1] for r in con.execute("PRAGMA table_info(spans)")}:
        con.execute("ALTER TABLE spans ADD COLUMN origin INTEGER")


class OriginTable:
    """The writer's view of ``span_origins``: the stored pairs it has read or inserted, by id."""

    def __init__(self) -> None:
        self._known: dict[int, Origin] = {}

    def forget(self) -> None:
        """After a rolled-back transaction: the origins it inserted are gone again."""
        self._known.clear()

    def store(self, con: sqlite3.Connection, origins: Mapping[int, Origin]) -> set[int]:
        """Insert the origins not stored yet (inside the caller's write transaction); return the ids that belong
        to a different stored pair (their spans must carry their own resource and scope)."""
        collided: set[int] = set()
        for oid, pair in origins.items():
            stored = self._known.get(oid)
            if stored is None:
                row = con.execute("SELECT resource, scope FROM span_origins WHERE id = ?", (oid,)).fetchone()
                if row is None:
                    con.execute("INSERT INTO span_origins VALUES (?,?,?)", (oid, *pair))
                stored = pair if row is None else (row[0], row[1])
                if len(self._known) >= _KNOWN_MAX:
                    self._known.clear()
                self._known[oid] = stored
            if stored != pair:
                collided.add(oid)
        return collided
