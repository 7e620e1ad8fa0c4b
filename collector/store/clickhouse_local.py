"""Serve the ClickHouse engine of the ``chdb-core`` wheel over ClickHouse's HTTP and native TCP protocols.

For tests, benchmarks and trying the scale-out path on one machine without a ClickHouse install::

    python -m streamscope.collector.store.clickhouse_local DATA_DIR PORT_FILE [HTTP_PORT [TCP_PORT [CONFIG_XML]]]

Binds 127.0.0.1 only. Ports default to 0 (the OS picks one); once both listen, ``PORT_FILE`` holds
``HTTP<TAB>TCP``. Runs until SIGTERM/SIGKILL; the tables under ``DATA_DIR`` survive a restart. ``CONFIG_XML`` is
extra server configuration (e.g. ``<remote_servers>`` for a Distributed table across two of these).

This is clickhouse-local with its listeners started (``SYSTEM START LISTEN``), run through the module-level
``chdb._chdb.query``. Two catches: chdb's package ``__init__`` opens an embedded engine that cannot listen and
must not run first, so the extension is loaded by hand; and the statement that keeps the process alive sleeps
in one long block instead of polling, so the server costs no CPU while idle.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import os
import sys
import tempfile
import types

_KEEP_ALIVE = (
    "SELECT sum(number + sleepEachRow(3600)) FROM numbers(1000000) SETTINGS"
    " function_sleep_max_microseconds_per_block = 0, max_block_size = 1, max_execution_time = 0,"
    " interactive_delay = 3600000000"
)


def config_xml(http_port: int = 0, tcp_port: int = 0, extra: str = "") -> str:
    return (f"<clickhouse><listen_host>127.0.0.1</listen_host><http_port>{http_port}</http_port>"
            f"<tcp_port>{tcp_port}</tcp_port>{extra}</clickhouse>")  # fmt: skip


def _load_engine() -> types.ModuleType:
    spec = importlib.util.find_spec("chdb")
    if spec is None or spec.origin is None:
        raise SystemExit("the chdb-core wheel is not installed (pip install 'streamscope[clickhouse]')")
    pkgdir = os.path.dirname(spec.origin)
    pkg = types.ModuleType("chdb")
    pkg.__path__ = [pkgdir]
    sys.modules["chdb"] = pkg  # keeps chdb/__init__ (and its embedded engine) from running
    here = os.getcwd()
    os.chdir(pkgdir)
    try:
        libs = [f for f in os.listdir(pkgdir) if f.startswith("_chdb") and f.endswith(".so")]
        ctypes.CDLL(os.path.join(pkgdir, libs[0]), mode=sys.getdlopenflags() | os.RTLD_DEEPBIND)
        return importlib.import_module("chdb._chdb")
    finally:
        os.chdir(here)


def serve(data_dir: str, port_file: str, http_port: int = 0, tcp_port: int = 0, extra: str = "") -> str:
    """Serve until the process is stopped; returns clickhouse-local's exit message if it ever ends."""
    port_file = os.path.abspath(port_file)
    data_dir = os.path.abspath(data_dir)
    cfgdir = tempfile.mkdtemp(prefix="streamscope-chcfg-")
    with open(os.path.join(cfgdir, "config.xml"), "w") as f:  # clickhouse-local reads ./config.xml
        f.write(config_xml(http_port, tcp_port, extra))
    engine = _load_engine()
    os.chdir(cfgdir)
    if os.path.exists(port_file):
        os.unlink(port_file)
    sql = ("SYSTEM START LISTEN HTTP; SYSTEM START LISTEN TCP; "
           f"INSERT INTO FUNCTION file('{port_file}', 'TSV', 'http UInt16, tcp UInt16') "
           f"SELECT getServerPort('http_port'), getServerPort('tcp_port'); {_KEEP_ALIVE}")  # fmt: skip
    r = engine.query(sql, "TSV", path=data_dir)
    return str(r.error_message()) if r.has_error() else "ok"


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    ports = [int(a) for a in argv[2:4]]
    extra = ""
    if len(argv) > 4:
        with open(argv[4]) as f:
            extra = f.read()
    print(
        "clickhouse-local exited:",
        serve(argv[0], argv[1], ports[0] if ports else 0, ports[1] if len(ports) > 1 else 0, extra=extra),
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
