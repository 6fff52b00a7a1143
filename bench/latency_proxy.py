#!/usr/bin/env python3
"""A loopback proxy that makes the local emulator answer like AWS across a network: every request
waits a fixed delay before it is forwarded, and every request's start and end are recorded.

Usage: python3 bench/latency_proxy.py UPSTREAM_URL [--delay-ms 20] [--port 0]
       # binds 127.0.0.1 only; prints "ready PORT" once it listens

What it measures, for the bench (bench/bench.py, section "Real-AWS latency"):

* Each HTTP request received is held for `--delay-ms` (default 20 ms: a typical round trip to an
  AWS endpoint in the same Region), then forwarded to UPSTREAM_URL (bench/count_server.py) over a
  kept-alive connection of its own, and the answer is sent back. Clients may open many
  connections (one thread each) and keep them alive, as the AWS SDK for Rust and boto3 do, so
  requests sent at the same time wait at the same time: the delay costs a client one round trip
  per *sequential* step, not per request.
* Per request it records (start, end, `service:Action`): start when the request has been read,
  end when the answer is ready to be sent. `GET /__proxy/stats` returns the counts, the span
  from the first start to the last end, the most requests in flight at once (all, and writes
  alone: actions not named Describe*/Get*/List*), and the **critical path**: the longest chain of
  requests in which each started only after the previous one had ended. A request that started
  after another ended may have needed its answer; two that overlapped cannot have. So the chain
  is the fewest round trips the client really made one after another, whatever it made in
  parallel: its wall time through the proxy is at least chain × delay. `GET /__proxy/reset`
  clears the record; `GET /__proxy/stats?requests=1` also lists every request.

The proxy adds its own time (parsing and copying, well under a millisecond a request on
loopback) on top of the delay; the bench reports wall times as measured, so it counts there.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "te",
        "trailer", "upgrade"}
READ_PREFIXES = ("Describe", "Get", "List")


def label(headers, body: bytes, query: str) -> str:
    """`service:Action`: the service from the SigV4 scope, the action from X-Amz-Target (JSON
    protocols) or the Action field of the form body or query string (query protocols)."""
    m = _SCOPE.search(headers.get("Authorization", ""))
    service = m.group(1) if m else "unknown"
    target = headers.get("X-Amz-Target")
    if target:
        return f"{service}:{target.rsplit('.', 1)[-1]}"
    action = parse_qs(query).get("Action", [None])[0]
    if action is None and body:
        action = parse_qs(body.decode("utf-8", "replace")).get("Action", [None])[0]
    return f"{service}:{action or '?'}"


def is_write(lbl: str) -> bool:
    return not lbl.split(":", 1)[-1].startswith(READ_PREFIXES)


def critical_path(intervals: list[tuple[float, float]]) -> int:
    """The longest chain i1, i2, … with end(ik) <= start(ik+1): sorted by start, each request
    extends the longest chain among those that ended before it started."""
    done: list[tuple[float, int]] = []  # (end, chain length ending there)
    best = 0
    for start, end in sorted(intervals):
        before = max((n for e, n in done if e <= start), default=0)
        done.append((end, before + 1))
        best = max(best, before + 1)
    return best


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at the same moment (an end before a start at the same instant)."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda x: (x[0], x[1]))
    now = most = 0
    for _, d in events:
        now += d
        most = max(most, now)
    return most


class Record:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[dict] = []

    def add(self, start: float, end: float, lbl: str, status: int) -> None:
        with self.lock:
            self.requests.append({"start": start, "end": end, "label": lbl, "status": status})

    def reset(self) -> None:
        with self.lock:
            self.requests = []

    def stats(self, with_requests: bool) -> dict:
        with self.lock:
            reqs = list(self.requests)
        spans = [(r["start"], r["end"]) for r in reqs]
        writes = [(r["start"], r["end"]) for r in reqs if is_write(r["label"])]
        calls: dict[str, int] = {}
        for r in reqs:
            calls[r["label"]] = calls.get(r["label"], 0) + 1
        out = {
            "total": len(reqs),
            "calls": dict(sorted(calls.items())),
            "critical_path": critical_path(spans),
            "max_in_flight": max_overlap(spans),
            "writes": len(writes),
            "max_writes_in_flight": max_overlap(writes),
            "write_critical_path": critical_path(writes),
            "first_start": min((s for s, _ in spans), default=None),
            "last_end": max((e for _, e in spans), default=None),
            "errors": sum(1 for r in reqs if r["status"] >= 400),
        }
        if with_requests:
            out["requests"] = sorted(reqs, key=lambda r: r["start"])
        return out


class Proxy(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, upstream: str, delay_s: float) -> None:
        super().__init__(addr, Handler)
        u = urlsplit(upstream)
        self.upstream = (u.hostname, u.port or 80)
        self.delay_s = delay_s
        self.record = Record()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as AWS endpoints do
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
    server: Proxy

    def log_message(self, *args) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        self.upstream: http.client.HTTPConnection | None = None

    def finish(self) -> None:
        if self.upstream is not None:
            self.upstream.close()
        super().finish()

    def _control(self, path: str, query: str) -> bool:
        if path == "/__proxy/reset":
            self.server.record.reset()
            self._send(200, [("Content-Type", "application/json")], b'{"reset": true}')
            return True
        if path == "/__proxy/stats":
            body = json.dumps(self.server.record.stats("requests=1" in query)).encode()
            self._send(200, [("Content-Type", "application/json")], body)
            return True
        return False

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response_only(status)
        for k, v in headers:
            if k.lower() not in _HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        headers["Content-Length"] = str(len(body))
        for attempt in (1, 2):  # once more on a connection the emulator closed meanwhile
            if self.upstream is None:
                self.upstream = http.client.HTTPConnection(*self.server.upstream, timeout=600)
            try:
                self.upstream.request(self.command, self.path, body=body, headers=headers)
                resp = self.upstream.getresponse()
                data = resp.read()
                if resp.will_close:
                    self.upstream.close()
                    self.upstream = None
                return resp.status, resp.getheaders(), data
            except (http.client.HTTPException, OSError):
                self.upstream.close()
                self.upstream = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _handle(self) -> None:
        u = urlsplit(self.path)
        if self._control(u.path, u.query):
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        start = time.perf_counter()
        time.sleep(self.server.delay_s)
        status, headers, data = self._forward(body)
        end = time.perf_counter()
        if not u.path.startswith(("/__", "/moto-api")):
            self.server.record.add(start, end, label(self.headers, body, u.query), status)
        self._send(status, headers, data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("upstream")
    ap.add_argument("--delay-ms", type=float, default=20.0)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    proxy = Proxy(("127.0.0.1", args.port), args.upstream, args.delay_ms / 1000)
    print(f"ready {proxy.server_address[1]}", flush=True)
    try:
        proxy.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
