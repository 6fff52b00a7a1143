#!/usr/bin/env python3
"""A local AWS Lambda Runtime API (version 2018-06-01) that timestamps every request: the bench's
stand-in for the Lambda service (bench/lambda_cost.py uses it).

It implements the four paths of "Using the Lambda runtime API for custom runtimes"
(https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html), as a function's runtime sees them:

* `GET  /2018-06-01/runtime/invocation/next`: blocks until an event is queued, then answers 200
  with the event as the body and the documented headers `Lambda-Runtime-Aws-Request-Id`,
  `Lambda-Runtime-Deadline-Ms` (the deadline in Unix epoch milliseconds), `Lambda-Runtime-Invoked-
  Function-Arn` and `Lambda-Runtime-Trace-Id`;
* `POST /2018-06-01/runtime/invocation/{AwsRequestId}/response`: 202 Accepted;
* `POST /2018-06-01/runtime/invocation/{AwsRequestId}/error`: 202 Accepted;
* `POST /2018-06-01/runtime/init/error`: 202 Accepted.

Anything else gets 404. Every request is recorded with time.perf_counter() (CLOCK_MONOTONIC on
Linux, one clock for every process of the machine) at arrival and, for `next`, when its answer is
written: the caller reads init duration (process start -> first `next` arrives) and invoke duration
(`next` answered -> `response` arrives) from them, as Lambda's REPORT line counts them.

HTTP/1.1 with keep-alive (the runtimes keep one connection open), one thread per connection,
127.0.0.1 only. No dependencies beyond the standard library.

    python3 bench/runtime_api.py             # serve on a free port, print it, log requests (manual use)
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:amiroll-bench"
# Lambda's own timeout for the bench's function: the deadline handed out with each event.
TIMEOUT_S = 900


class RuntimeApi:
    """The server, its event queue and its record of requests. `put(event)` queues one invocation;
    `events` lists what happened, each a dict with `kind` (next, next_answered, response, error,
    init_error, unknown), `at` (perf_counter seconds) and, where known, `request_id` and `body`."""

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self.events: list[dict] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # TCP_NODELAY on every connection

            def log_message(self, *args) -> None:  # quiet
                pass

            def _reply(self, status: int, body: bytes, headers: dict | None = None) -> None:
                # One write, no Nagle: the status line, headers and body leave in one segment, so
                # no delayed ACK of the function's TCP stack stretches an answer (AWS's own API
                # adds no such wait either).
                lines = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}",
                         "Content-Type: application/json",
                         *(f"{k}: {v}" for k, v in (headers or {}).items()),
                         f"Content-Length: {len(body)}"]
                try:
                    self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
                    self.wfile.flush()
                except OSError:  # the function is gone (killed between two runs)
                    self.close_connection = True

            def do_GET(self) -> None:
                at = time.perf_counter()
                if self.path != f"{PREFIX}/invocation/next":
                    api._record("unknown", at, body=f"GET {self.path}")
                    self._reply(404, b'{"errorMessage":"not found"}')
                    return
                api._record("next", at)
                request_id, payload = api._queue.get()
                if request_id is None:  # shutting down
                    self.close_connection = True
                    return
                deadline_ms = int((time.time() + TIMEOUT_S) * 1000)
                # The event is handed over now: stamped before the write, so that a response
                # (recorded by another thread) can never look older than its event.
                api._record("next_answered", time.perf_counter(), request_id=request_id)
                self._reply(200, payload, {
                    "Lambda-Runtime-Aws-Request-Id": request_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                    "Lambda-Runtime-Trace-Id":
                        f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0",
                })

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                at = time.perf_counter()  # the whole request is in
                path = self.path
                kind, request_id = "unknown", None
                if path == f"{PREFIX}/init/error":
                    kind = "init_error"
                elif path.startswith(f"{PREFIX}/invocation/"):
                    rid, _, tail = path[len(f"{PREFIX}/invocation/"):].partition("/")
                    if tail in ("response", "error") and rid:
                        kind, request_id = tail, rid
                if kind == "unknown":
                    api._record(kind, at, body=f"POST {path}")
                    self._reply(404, b'{"errorMessage":"not found"}')
                    return
                api._record(kind, at, request_id=request_id, body=body.decode("utf-8", "replace"))
                self._reply(202, b'{"status":"OK"}')

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        """What AWS_LAMBDA_RUNTIME_API holds on Lambda: host:port, no scheme."""
        return f"127.0.0.1:{self.port}"

    def _record(self, kind: str, at: float, **extra) -> None:
        with self._cond:
            self.events.append({"kind": kind, "at": at, **extra})
            self._cond.notify_all()

    def put(self, payload: dict | bytes) -> str:
        """Queue one invocation; returns its request id."""
        request_id = str(uuid.uuid4())
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self._queue.put((request_id, body))
        return request_id

    def wait_for(self, pred, timeout: float) -> dict | None:
        """The first recorded event matching `pred`, waiting up to `timeout` seconds."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                for e in self.events:
                    if pred(e):
                        return e
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def reset(self) -> None:
        """Forget the record and any queued events (between two function processes)."""
        with self._cond:
            self.events.clear()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break

    def close(self) -> None:
        for _ in range(8):  # release `next` requests still waiting
            self._queue.put((None, b""))
        self._server.shutdown()
        self._server.server_close()


def main() -> int:
    api = RuntimeApi()
    print(f"AWS_LAMBDA_RUNTIME_API={api.address}", flush=True)
    print("type an event (JSON) per line to invoke; Ctrl-D to stop", file=sys.stderr)
    for line in sys.stdin:
        if line.strip():
            rid = api.put(line.strip().encode())
            e = api.wait_for(lambda e: e.get("request_id") == rid and e["kind"] in ("response", "error"), 900)
            print(json.dumps(e), flush=True)
    api.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
