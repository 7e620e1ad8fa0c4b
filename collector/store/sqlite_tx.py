"""The SQLite store's transactions: how long a connection waits for a busy database, and one context manager per
kind of transaction (every BEGIN / COMMIT / ROLLBACK of the store goes through here).

- :func:`write_transaction`: ``BEGIN IMMEDIATE`` (takes the write lock up front, waiting up to the connection's
  busy timeout for another writer, e.g. the writer process while retention deletes), ``COMMIT`` when the block
  ends, ``ROLLBACK`` when it raises. The exception passes through unchanged, even when SQLite has already rolled
  the transaction back itself (an interrupt, a full disk, an I/O error): then there is nothing to roll back, and
  a ``ROLLBACK`` would only replace the real error with "no transaction is active".
- :func:`read_snapshot`: ``BEGIN`` (deferred) so that several SELECTs see one snapshot, ended when the block ends.
- :func:`busy_timeout`: wait a different time for a busy database inside a block (a WAL checkpoint waits less).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

#: How long a statement waits for a lock another connection holds before it fails with "database is locked".
BUSY_TIMEOUT_S = 30.0


def configure(con: sqlite3.Connection) -> None:
    """Every connection of the store waits :data:`BUSY_TIMEOUT_S` for a busy database."""
    con.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")


@contextmanager
def write_transaction(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction on ``con`` (opened with ``isolation_level=None``): see the module docstring."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


@contextmanager
def read_snapshot(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One read snapshot for the statements inside the block (it writes nothing, so it always ends in COMMIT)."""
    con.execute("BEGIN")
    try:
        yield con
    finally:
        if con.in_transaction:
            con.execute("COMMIT")


@contextmanager
def busy_timeout(con: sqlite3.Connection, seconds: float) -> Iterator[sqlite3.Connection]:
    """Wait at most ``seconds`` for a busy database inside the block, then :data:`BUSY_TIMEOUT_S` again."""
    con.execute(f"PRAGMA busy_timeout={int(seconds * 1000)}")
    try:
        yield con
    finally:
        configure(con)
