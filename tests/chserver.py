"""Start and stop the ClickHouse engine as a server (``streamscope.collector.store.clickhouse_local``).

Tests and benchmarks share this: :func:`start` launches it on free ports (port 0) in a child process and waits
for its port file; :meth:`Server.stop` stops it by PID.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    http_port: int
    tcp_port: int
    data_dir: Path
    log: Path

    def url(self, database: str, **options: str) -> str:
        q = "&".join(f"{k}={v}" for k, v in options.items())
        return f"clickhouse://127.0.0.1:{self.http_port}/{database}" + (f"?{q}" if q else "")

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)


def start(
    workdir: Path, extra_config: str = "", timeout: float = 60.0, http_port: int = 0, tcp_port: int = 0
) -> Server:
    workdir.mkdir(parents=True, exist_ok=True)
    port_file, log = workdir / "ports.tsv", workdir / "server.log"
    port_file.unlink(missing_ok=True)  # a reused directory holds the ports of the last run
    args = [sys.executable, "-m", "streamscope.collector.store.clickhouse_local", str(workdir / "data"),
            str(port_file), str(http_port), str(tcp_port)]  # fmt: skip
    if extra_config:
        (workdir / "extra.xml").write_text(extra_config)
        args.append(str(workdir / "extra.xml"))
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while True:
        text = port_file.read_text() if port_file.exists() else ""
        fields = text.split()
        if text.endswith("\n") and len(fields) == 2:
            http, tcp = map(int, fields)
            return Server(proc, http, tcp, workdir / "data", log)
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            raise RuntimeError(f"the ClickHouse server did not start: {log.read_text()[-2000:]}")
        time.sleep(0.02)


if __name__ == "__main__":  # a quick manual check: start, print the ports, stop
    s = start(Path(os.environ.get("TMPDIR", "/tmp")) / f"chserver-{os.getpid()}")
    print(s.http_port, s.tcp_port, s.proc.pid)
    s.stop()
