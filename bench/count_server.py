#!/usr/bin/env python3
"""The project's local emulator (tests/moto/server.py, moto with its shims), with AWS calls counted.

Usage: python3 bench/count_server.py PORT      # binds 127.0.0.1 only, prints "ready"

Bench-only. It loads tests/moto/server.py unchanged and wraps moto's WSGI application in a small
middleware, so there is no extra network hop between the tools and moto:

* every request is counted as `service:Action` — the service from the SigV4 credential scope, the
  action from the `X-Amz-Target` header (JSON protocols) or the `Action` form/query field (query
  protocols) — together with the time moto spent answering it;
* `GET /__counts` returns {"calls": {label: n}, "server_ms": {label: ms}, "total": n,
  "max_in_flight": the most requests moto was answering at the same time, "busy_ms": ms}.
  `server_ms` is summed per request, so requests answered at the same time count their overlap
  more than once (the sum can exceed the wall time). `busy_ms` is wall-clock time during which at
  least one counted request was in flight (the union of the request intervals): the time moto was
  answering anything. With one request at a time the two agree;
* `POST /__reset` (or GET) zeroes the counters (a request in flight at the reset counts its busy
  time from the reset on). moto's own `/moto-api/...` requests are not counted.
* `POST /__bulk_targets` (JSON: ami, user_data (base64), then a list `targets` of {name, param}) creates,
  inside this process, what bench/bench.py's set-up otherwise creates one HTTP request at a time: per
  target the SSM parameter (String, the AMI), the launch template (ImageId, t3.micro, UserData) and
  the group (min 1, max 2, desired 1, `$Default`, us-east-1a, OldestLaunchTemplate), through the same
  moto backend methods (and shims) the CreateLaunchTemplate / CreateAutoScalingGroup / PutParameter
  handlers call, with the arguments those handlers pass. Only for set-up: thousands of targets in
  seconds instead of minutes. While it runs, two of moto's lookups that scan every instance or
  image are answered from an index (EC2's get_instance by id, and DescribeImages of the one AMI
  the new instances launch, asked once per instance); the objects created are the same. Answers
  [{name, launch_template_id}]. Not counted.

It adds no shim of its own: moto behaves exactly as tests/moto/server.py makes it behave for the
project's tests (its shims are listed in tests/moto/README.md).
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import sys
import threading
import time
from collections import Counter, defaultdict
from urllib.parse import parse_qs

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, os.pardir, "tests", "moto", "server.py")

_spec = importlib.util.spec_from_file_location("amiroll_moto_server", SERVER)
moto_server = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(moto_server)

from moto.moto_server.werkzeug_app import DomainDispatcherApplication  # noqa: E402

_LOCK = threading.Lock()
_CALLS: Counter = Counter()
_SERVER_S: defaultdict = defaultdict(float)
_INFLIGHT = {"now": 0, "max": 0}
# Union of the counted requests' intervals: "since" is when in-flight last went 0 -> 1 (None when
# idle); "busy_s" the closed busy periods' total.
_BUSY: dict = {"since": None, "busy_s": 0.0}
# When the first counted request arrived and the last answer left since the reset, on
# time.perf_counter's clock (CLOCK_MONOTONIC on Linux: one clock for every process of the machine,
# so the bench can set them against the moment it started a tool).
_EDGES: dict = {"first": None, "last": None}
_SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")


def _label(environ: dict) -> tuple[str, dict]:
    """`service:Action` of a request; the body is read and put back for moto."""
    m = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    service = m.group(1) if m else "unknown"
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return f"{service}:{target.rsplit('.', 1)[-1]}", environ
    action = parse_qs(environ.get("QUERY_STRING", "")).get("Action", [None])[0]
    if action is None:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        ctype = environ.get("CONTENT_TYPE", "")
        if "x-www-form-urlencoded" in ctype or body.startswith(b"Action="):
            action = parse_qs(body.decode("utf-8", "replace")).get("Action", [None])[0]
    return f"{service}:{action or environ.get('REQUEST_METHOD', '?') + ' ' + environ.get('PATH_INFO', '')}", environ


def _json(start_response, value) -> list[bytes]:
    body = json.dumps(value, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


_original_call = DomainDispatcherApplication.__call__


def counted_call(self, environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/__counts":
        with _LOCK:
            calls = dict(_CALLS)
            server_ms = {k: round(v * 1000, 3) for k, v in _SERVER_S.items()}
            max_inflight = _INFLIGHT["max"]
            busy = _BUSY["busy_s"]
            if _BUSY["since"] is not None:  # a counted request is still in flight
                busy += time.perf_counter() - _BUSY["since"]
            edges = dict(_EDGES)
        return _json(start_response, {"calls": calls, "server_ms": server_ms, "total": sum(calls.values()),
                                      "max_in_flight": max_inflight, "busy_ms": round(busy * 1000, 3),
                                      "first_request_at": edges["first"], "last_response_at": edges["last"]})
    if path == "/__reset":
        with _LOCK:
            _CALLS.clear()
            _SERVER_S.clear()
            _INFLIGHT["max"] = _INFLIGHT["now"]
            _BUSY["busy_s"] = 0.0
            _EDGES["first"] = _EDGES["last"] = None
            if _BUSY["since"] is not None:
                _BUSY["since"] = time.perf_counter()
        return _json(start_response, {"reset": True})
    if path == "/__bulk_targets":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        return _json(start_response, _bulk_targets(json.loads(environ["wsgi.input"].read(length))))
    if path.startswith("/moto-api"):
        return _original_call(self, environ, start_response)
    label, environ = _label(environ)
    with _LOCK:
        t0 = time.perf_counter()
        _INFLIGHT["now"] += 1
        _INFLIGHT["max"] = max(_INFLIGHT["max"], _INFLIGHT["now"])
        if _INFLIGHT["now"] == 1:
            _BUSY["since"] = t0
        if _EDGES["first"] is None:
            _EDGES["first"] = t0
    try:
        return _original_call(self, environ, start_response)
    finally:
        with _LOCK:
            t1 = time.perf_counter()
            _INFLIGHT["now"] -= 1
            _CALLS[label] += 1
            _SERVER_S[label] += t1 - t0
            _EDGES["last"] = t1
            if _INFLIGHT["now"] == 0 and _BUSY["since"] is not None:
                _BUSY["busy_s"] += t1 - _BUSY["since"]
                _BUSY["since"] = None


DomainDispatcherApplication.__call__ = counted_call


def _bulk_targets(req: dict) -> list[dict]:
    """The set-up of `POST /__bulk_targets` (see the module docstring)."""
    from moto.autoscaling.models import autoscaling_backends
    from moto.ec2.models import ec2_backends
    from moto.ssm.models import ssm_backends

    account, region = "123456789012", "us-east-1"
    ssm, ec2, asg = (b[account][region] for b in (ssm_backends, ec2_backends, autoscaling_backends))
    out = []
    # moto's InstanceBackend.get_instance scans every reservation, and each launched instance asks
    # DescribeImages for its AMI (a filter over moto's whole image set): for the set-up only, both
    # are answered from an index, so N targets cost O(N), not O(N^2).
    by_id = {i.id: i for r in ec2.reservations.values() for i in r.instances}
    images: dict = {}
    original_run = ec2.run_instances

    def run_instances(*args, **kwargs):
        reservation = original_run(*args, **kwargs)
        by_id.update((i.id, i) for i in reservation.instances)
        return reservation

    def get_instance(instance_id):
        if instance_id not in by_id and ec2.reservations:  # launched just now: the newest reservation
            by_id.update((i.id, i) for i in next(reversed(ec2.reservations.values())).instances)
        return by_id[instance_id] if instance_id in by_id else type(ec2).get_instance(ec2, instance_id)

    def describe_images(*args, **kwargs):
        key = repr((args, sorted(kwargs.items())))
        if key not in images:
            images[key] = type(ec2).describe_images(ec2, *args, **kwargs)
        return images[key]

    ec2.run_instances, ec2.get_instance, ec2.describe_images = run_instances, get_instance, describe_images
    try:
        _bulk_create(req, ssm, ec2, asg, region, out)
    finally:
        del ec2.run_instances, ec2.get_instance, ec2.describe_images
    return out


def _bulk_create(req: dict, ssm, ec2, asg, region: str, out: list) -> None:
    from moto.ec2.utils import parse_user_data

    for t in req["targets"]:
        ssm.put_parameter(t["param"], None, req["ami"], "String", None, None, True, None, "text",
                          tier=None, policies=None)
        data = {"ImageId": req["ami"], "InstanceType": "t3.micro", "UserData": parse_user_data(req["user_data"])}
        lt = ec2.create_launch_template(t["name"], None, data, {})
        asg.create_auto_scaling_group(
            name=t["name"], availability_zones=[f"{region}a"], desired_capacity=1, max_size=2, min_size=1,
            launch_config_name=None, launch_template={"LaunchTemplateId": lt.id, "Version": "$Default"},
            vpc_zone_identifier=None, default_cooldown=None, health_check_period=None,
            health_check_type=None, load_balancers=[], target_group_arns=[], placement_group=None,
            termination_policies=["OldestLaunchTemplate"], tags=[], capacity_rebalance=False,
            new_instances_protected_from_scale_in=False, instance_id=None, mixed_instances_policy=None)
        out.append({"name": t["name"], "launch_template_id": lt.id})

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    moto_server.main()
