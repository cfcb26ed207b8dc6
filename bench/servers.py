"""The loopback providers, each in a child process of its own.

A provider is another machine: running the fake in the benchmark's own process would make the
client and the server share one GIL, and the figure would measure that contention. So
`python -m bench.servers postmark --latency 0.05` starts `tests.fakes.FakePostmark` (a threaded
HTTP/1.1 server with keep-alive) and `… smtp` starts `tests.fakes.FakeSmtp` (aiosmtpd), prints
`READY <url-or-port>` and serves until its stdin closes. Both the engine and the baseline of a
figure talk to the same server process. The child's counters are printed on exit (`STATS …`),
so a figure can check that every message arrived.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bench.common import PYTHON, ROOT


@dataclass
class ServerHandle:
    address: str  # the base URL (postmark) or the port (smtp)
    proc: subprocess.Popen[str]
    stats: dict[str, Any] = field(default_factory=dict)


@contextmanager
def serve(kind: str, *, latency: float = 0.0) -> Iterator[ServerHandle]:
    """Start the fake `kind` in a child process; stop it (and read its counters) on exit."""
    proc = subprocess.Popen(
        [PYTHON, "-m", "bench.servers", kind, "--latency", str(latency)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("READY "):
        proc.kill()
        raise RuntimeError(f"the fake {kind} server did not start: {line!r}")
    handle = ServerHandle(line.split(" ", 1)[1], proc)
    try:
        yield handle
    finally:
        try:
            proc.stdin.close()
        except OSError:
            pass
        out = proc.stdout.read()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for raw in out.splitlines():
            if raw.startswith("STATS "):
                handle.stats = json.loads(raw[6:])


def _main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["postmark", "smtp"])
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.kind == "postmark":
        from tests.fakes.postmark_server import FakePostmark

        server = FakePostmark(latency=args.latency, rules={})
        server.start()
        print(f"READY {server.url}", flush=True)
        sys.stdin.read()
        stats = {
            "requests": server.requests,
            "received": len(server.received),
            "accepted": len(server.accepted),
            "connections": server.connections,
            "max_concurrent": server.max_concurrent,
        }
        server.stop()
    else:
        from tests.fakes.smtp_server import FakeSmtp

        smtp = FakeSmtp(latency=args.latency)
        smtp.start()
        print(f"READY {smtp.port}", flush=True)
        sys.stdin.read()
        stats = {
            "received": len(smtp.messages),
            "connections": smtp.connections,
            "max_open_connections": smtp.max_open_connections,
        }
        smtp.stop()
    print("STATS " + json.dumps(stats), flush=True)


if __name__ == "__main__":
    _main()
