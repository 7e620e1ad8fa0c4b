"""How far past ``--max-db-size`` the database and its WAL get under sustained ingest (issue 18, item 12).

    .venv/bin/python bench/size_bound.py [--limit 5MB] [--seconds 20] [--senders 4]

Starts ``streamscope collector --max-db-size LIMIT`` as a subprocess on free ports, has ``--senders`` threads post
collector-ingest bodies (bench/collector_ingest.py, 512 spans each) as fast as it answers, samples the size of
the database file plus its WAL every 50 ms, and prints the ingest rate, the peak size and the peak as a
multiple of the limit. Exits non-zero on a harness error (the collector did not start or stored nothing).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from collector_ingest import BodyPool
from streamscope.collector.retention import parse_size


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", default="5MB")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--senders", type=int, default=4)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        db = os.path.join(d, "s.db")
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamscope", "collector", "--db", db, "--http-port", "0", "--grpc-port", "0",
             "--max-db-size", args.limit],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        url = None
        for _ in range(5):
            m = re.match(r"listening on (http://\S+)", proc.stdout.readline())
            if m:
                url = m.group(1)
                break
        if url is None:
            proc.kill()
            print("harness error: the collector did not start")
            return 1
        pool = BodyPool(8)
        stop = threading.Event()
        sent, peak, refused = [0], [0], [0]
        lock = threading.Lock()

        def send() -> None:
            with httpx.Client(base_url=url, timeout=30) as c:
                while not stop.is_set():
                    body = pool.next()
                    r = c.post("/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"})
                    if r.status_code == 200:
                        with lock:
                            sent[0] += len(body)
                    elif r.status_code == 503:  # the size limit (or the queue) said: retry later
                        with lock:
                            refused[0] += 1
                        time.sleep(0.05)

        def watch() -> None:
            while not stop.is_set():
                size = sum(os.path.getsize(f) for f in (db, db + "-wal") if os.path.exists(f))
                peak[0] = max(peak[0], size)
                time.sleep(0.05)

        threads = [threading.Thread(target=send) for _ in range(args.senders)] + [
            threading.Thread(target=watch)
        ]
        for t in threads:
            t.start()
        time.sleep(args.seconds)
        stop.set()
        for t in threads:
            t.join()
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(30)
        proc.stdout.close()
    if not sent[0]:
        print("harness error: nothing was stored")
        return 1
    limit = parse_size(args.limit)
    print(f"--max-db-size {args.limit}, {args.senders} senders for {args.seconds:g} s"
          " (wall clock; other processes share this machine)")  # fmt: skip
    print(f"ingest {sent[0] / 1e6 / args.seconds:.1f} MB/s of OTLP protobuf; peak database + WAL "
          f"{peak[0] / 1e6:.1f} MB = {peak[0] / limit:.2f}x the limit; {refused[0]} requests answered 503")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
