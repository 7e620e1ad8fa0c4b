"""Run ``streamscope collector`` as a real subprocess on free ports; stop it by PID."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx


@dataclass
class CollectorProcess:
    proc: subprocess.Popen[str]
    http_port: int
    grpc_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start_collector(db: str, *extra: str) -> CollectorProcess:
    cmd = [
        sys.executable,
        "-m",
        "streamscope",
        "collector",
        "--db",
        db,
        "--http-port",
        "0",
        "--grpc-port",
        "0",
        *extra,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    ports: dict[str, int] = {}
    deadline = time.monotonic() + 30
    while len(ports) < 2 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.fullmatch(r"listening on (http|grpc)://127\.0\.0\.1:(\d+)\n", line)
        assert m, f"unexpected output line {line!r}"
        ports[m.group(1)] = int(m.group(2))
    if len(ports) < 2:
        proc.kill()
        proc.wait()
        raise RuntimeError("collector did not start")
    c = CollectorProcess(proc, ports["http"], ports["grpc"])
    with httpx.Client(timeout=5) as client:
        assert client.get(f"{c.url}/healthz").status_code == 200
    return c
