#!/usr/bin/env python3
"""What the Lambda costs (issue 15, section 1): amiroll's `bootstrap` and the seed's handler, each
run as Lambda runs it, against the same local Runtime API and the same emulator. Writes JSON;
bench/lambda_cost_md.py turns it into the "What the Lambda costs" section of docs/performance.md
(bench/run.sh runs both; `BENCH_ONLY=lambda bench/run.sh` for this section alone).

    python3 bench/lambda_cost.py --bootstrap target/x86_64-unknown-linux-gnu/lambda/bootstrap --out lambda.json

How:
* The Lambda service is bench/runtime_api.py (the Runtime API, timestamping every request). The
  seed's handler (bench/seed_lambda.py, verbatim) runs under awslambdaric, AWS's runtime interface
  client for Python (`python3 -m awslambdaric seed_lambda.lambda_handler`, as the python3.x
  managed runtimes run it); `bootstrap` runs as itself, as provided.al2023 runs it. Both get the
  same Lambda environment variables and the seed's four variables for one target (the
  configuration deploy/template.yaml gives the function by default), and the template's scheduled
  input `{"amiroll":"scheduled"}` as the event.
* The AWS side is bench/count_server.py (moto, as the project's tests use it), started here on a
  free port of 127.0.0.1, with one target whose launch template is already on the parameter's AMI:
  every run is a no-op (the seed answers "AMI is current", amiroll's summary changes nothing;
  checked on every invocation).
* One process per run: started, handed 1 + W events one after another (each W event queued
  0.1 s after the previous answer, like a later invocation), then killed. Init duration = process
  start -> its first `next` request; invoke duration = `next` answered -> `response` received (what
  Lambda's REPORT line calls Init Duration and Duration); peak RSS = VmHWM of /proc/PID/status read
  after the last answer, before the kill (the kernel's high-water mark of the process's resident
  memory; both functions are one process with no children, checked); CPU = user + sys of the whole
  process (wait4). The emulator's busy
  time during each invocation (the union of its requests' intervals) is read from the counting
  server, so each invoke splits into moto's time and the function's own.
* Runs are interleaved (seed, bootstrap, then bootstrap, seed, ...), R repeats each after one
  unmeasured run of each; the figures are medians with (min-max). A third function, awslambdaric
  with an empty handler, measures the Python runtime's own share.
* Cross-check, when `cargo lambda` is installed (pip install cargo-lambda): the bootstrap again,
  served by cargo-lambda's own Runtime API and timed from outside (cargo_lambda_runs).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import bench  # noqa: E402  (Emulator, tool_env, machine)
import runtime_api  # noqa: E402

# The deploy template's EventBridge Scheduler input (deploy/template.yaml, `Input`).
EVENT = {"amiroll": "scheduled"}
MEMORY_MB = 128
# The deploy template's function (deploy/template.yaml: MemorySize 256, Architectures arm64).
TEMPLATE_MEMORY_MB, TEMPLATE_ARCH = 256, "arm64"

# Lambda prices, US East (N. Virginia), first tier, from https://aws.amazon.com/lambda/pricing/
# (figures checked 2026-12-05): duration per GB-second by architecture, and requests. Duration is
# billed from the start of the code, rounded up to the nearest 1 ms (same page). The INIT phase is
# billed too: since 2025-08-01 also for ZIP functions on managed runtimes (the seed's python3.x),
# as it always was for custom runtimes (amiroll's provided.al2023) — "AWS Lambda standardizes
# billing for INIT Phase", https://aws.amazon.com/blogs/compute/aws-lambda-standardizes-billing-for-init-phase/
PRICE_PER_GB_S = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
PRICE_PER_MILLION_REQUESTS = 0.20
# Pause between an answer and the next event: a later invocation, not a queue being drained.
GAP_S = 0.1
CURRENT_MSG = "AMI was not updated. AMI is current."
NOOP_HANDLER = "def handler(event, context):\n    return None\n"


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_emulator(workdir: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log_path = os.path.join(workdir, "emulator.log")
    log_file = open(log_path, "w")
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "count_server.py"), str(port)],
                         stdout=log_file, stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with open(log_path) as f:
            if any(line.startswith("ready") for line in f):
                return p, f"http://127.0.0.1:{port}"
        if p.poll() is not None:
            break
        time.sleep(0.1)
    p.kill()
    with open(log_path) as f:
        sys.exit(f"[lambda] the emulator did not start:\n{f.read()}")


def lambda_env(base: dict, target: dict, api: str, name: str, task_root: str) -> dict:
    """What Lambda sets in a function's environment ("Defined runtime environment variables"),
    plus the seed's four variables and the emulator's endpoint (in `base`)."""
    env = dict(base)
    env.update({k: target[k] for k in ("launch_template_id", "image_id_ssm_parameter", "sns_arn", "asg_name")})
    env.update(
        AWS_LAMBDA_RUNTIME_API=api,
        AWS_LAMBDA_FUNCTION_NAME=name,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(MEMORY_MB),
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_LAMBDA_LOG_GROUP_NAME=f"/aws/lambda/{name}",
        AWS_LAMBDA_LOG_STREAM_NAME="2026/01/01/[$LATEST]00000000000000000000000000000000",
        AWS_LAMBDA_INITIALIZATION_TYPE="on-demand",
        LAMBDA_TASK_ROOT=task_root,
        TZ=":UTC",
    )
    return env


def children_of(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return kids


def vm_hwm_kib(pid: int) -> int | None:
    """The process's peak resident set size so far (VmHWM of /proc/PID/status: the kernel's
    high-water mark of this program's memory since its exec). Not wait4's ru_maxrss: Linux carries
    the pre-exec high-water mark of the forked child (a copy of this driver) over the exec."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def check_answer(kind: str, e: dict | None) -> str | None:
    """None when the invocation took the no-op path, else what went wrong."""
    if e is None:
        return "no answer (the process exited, or 120 s passed)"
    if e["kind"] != "response":
        return f"{e['kind']}: {e.get('body', '')[:300]}"
    try:
        body = json.loads(e.get("body") or "null")
    except ValueError:
        return f"not JSON: {e.get('body', '')[:300]}"
    if kind == "seed":
        return None if body == CURRENT_MSG else f"seed answered {body!r}"
    if kind == "noop":
        return None
    if not body.get("ok") or body.get("dry_run"):
        return f"summary not ok: {json.dumps(body)[:300]}"
    changed = [s for t in body.get("targets", []) for s in t.get("changed", [])]
    return f"the run changed something: {changed}" if changed else None


def run_function(kind: str, argv: list[str], env: dict, cwd: str, api: runtime_api.RuntimeApi,
                 emu: bench.Emulator, warm: int, workdir: str, tag: str) -> dict:
    """One function process: 1 cold + `warm` warm invocations; its timings from the Runtime API
    (a fresh one per process, as each execution environment has its own)."""
    emu.reset_counts()
    out = open(os.path.join(workdir, f"{tag}.log"), "w")
    invocations: list[dict] = []
    problems: list[str] = []
    kids: list[int] = []
    peak_kib = None
    cpu_ms = None
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    try:
        for i in range(1 + warm):
            if i:
                time.sleep(GAP_S)
                emu.reset_counts()
            rid = api.put(EVENT)
            done = None
            end = time.monotonic() + 120
            while done is None and p.poll() is None and time.monotonic() < end:
                done = api.wait_for(lambda e: e.get("request_id") == rid and e["kind"] in ("response", "error"), 0.5)
            problem = check_answer(kind, done)
            counts = emu.counts()
            answered = api.wait_for(lambda e: e.get("request_id") == rid and e["kind"] == "next_answered", 0)
            if problem or answered is None:
                problems.append(f"invocation {i + 1}: {problem or 'no next answered'}")
                break
            invocations.append({
                "invoke_ms": (done["at"] - answered["at"]) * 1000,
                "moto_busy_ms": counts.get("busy_ms", 0.0),
                "calls": counts.get("total", 0),
                "by_action": counts.get("calls", {}),
            })
        # Ready for the next event again: the runtime's `next` after the last answer.
        n_next = 2 + warm
        api.wait_for(lambda e: sum(1 for x in api.events if x["kind"] == "next") >= n_next, 5)
        kids = children_of(p.pid)
        peak_kib = vm_hwm_kib(p.pid)
    finally:
        if p.poll() is None:
            p.kill()
            _, _, ru = os.wait4(p.pid, 0)
            p.returncode = -9
            cpu_ms = (ru.ru_utime + ru.ru_stime) * 1000
        else:  # it ended on its own: a failure, reported below
            problems.append(f"the process exited with {p.returncode} (log: {out.name})")
        out.close()
    first_next = next((e for e in api.events if e["kind"] == "next"), None)
    init_error = next((e for e in api.events if e["kind"] == "init_error"), None)
    if init_error:
        problems.append(f"init error: {init_error.get('body', '')[:300]}")
    unknown = [e["body"] for e in api.events if e["kind"] == "unknown"]
    if unknown:
        problems.append(f"requests the Runtime API does not have: {unknown[:3]}")
    if kids:
        problems.append(f"the process had children {kids}: its RSS is not the whole function's")
    return {
        "init_ms": (first_next["at"] - t0) * 1000 if first_next else None,
        "invocations": invocations,
        "rss_mib": peak_kib / 1024 if peak_kib else None,
        "cpu_ms": cpu_ms,
        "problems": problems,
    }


def cargo_lambda_runs(bootstrap: str, base: dict, target: dict, repeats: int, warm: int, workdir: str) -> dict:
    """Cross-check on an independent Runtime API: `cargo lambda watch --only-lambda-apis` (a fresh
    one per process) serves `bootstrap`, and the bench invokes it through cargo-lambda's Invoke API,
    timing from outside: cold = process start -> the first invocation's answer (init + invoke +
    the emulator's hops), warm = one invocation's round trip. It gives no timestamps of its own and
    cannot serve awslambdaric (see bench/lambda_cost_md.py), hence the bootstrap only."""
    import urllib.request
    out: dict = {"cold_total_ms": [], "warm_round_trip_ms": [], "problems": []}
    for rep in range(repeats):
        port = free_port()
        log_file = open(os.path.join(workdir, f"cargo-lambda-{rep}.log"), "w")
        server = subprocess.Popen(["cargo", "lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", str(port)],
                                  cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        fn = None
        try:
            end = time.monotonic() + 60
            while time.monotonic() < end:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if server.poll() is not None:
                        break
                    time.sleep(0.05)
            else:
                out["problems"].append("cargo lambda watch did not listen within 60 s")
                continue
            if server.poll() is not None:
                out["problems"].append(f"cargo lambda watch exited {server.returncode}")
                continue
            env = lambda_env(base, target, f"http://127.0.0.1:{port}/.rt", "_", os.path.dirname(bootstrap))
            url = f"http://127.0.0.1:{port}/2015-03-31/functions/_/invocations"
            t0 = time.perf_counter()
            fn = subprocess.Popen([bootstrap], env=env, cwd=os.path.dirname(bootstrap),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for i in range(1 + warm):
                if i:
                    time.sleep(GAP_S)
                t1 = time.perf_counter()
                req = urllib.request.Request(url, data=json.dumps(EVENT).encode(), method="POST")
                with urllib.request.urlopen(req, timeout=120) as r:
                    body = r.read().decode()
                t2 = time.perf_counter()
                problem = check_answer("bootstrap", {"kind": "response", "body": body})
                if problem:
                    out["problems"].append(f"run {rep + 1}, invocation {i + 1}: {problem}")
                    break
                if i == 0:
                    out["cold_total_ms"].append((t2 - t0) * 1000)
                else:
                    out["warm_round_trip_ms"].append((t2 - t1) * 1000)
        except OSError as e:
            out["problems"].append(f"run {rep + 1}: {e}")
        finally:
            if fn is not None:
                fn.kill()
                fn.wait()
            try:
                os.killpg(server.pid, 9)
            except OSError:
                pass
            server.wait()
            log_file.close()
    return {"cold_total_ms": stats(out["cold_total_ms"]), "warm_round_trip_ms": stats(out["warm_round_trip_ms"]),
            "problems": out["problems"]}


def stats(values: list[float]) -> dict | None:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def summarise(runs: list[dict]) -> dict:
    """Medians (min-max) over the runs: init, cold invoke, billed cold (init + invoke, rounded up
    to 1 ms, per run), warm invokes (all warm invocations of all runs), billed warm."""
    ok = [r for r in runs if not r["problems"] and r["init_ms"] is not None and r["invocations"]]
    cold = [r["invocations"][0] for r in ok]
    warm = [i for r in ok for i in r["invocations"][1:]]
    return {
        "runs": len(runs),
        "ok_runs": len(ok),
        "init_ms": stats([r["init_ms"] for r in ok]),
        "cold_invoke_ms": stats([c["invoke_ms"] for c in cold]),
        "cold_moto_ms": stats([c["moto_busy_ms"] for c in cold]),
        "billed_cold_ms": stats([math.ceil(r["init_ms"] + r["invocations"][0]["invoke_ms"]) for r in ok]),
        "warm_invoke_ms": stats([w["invoke_ms"] for w in warm]),
        "warm_moto_ms": stats([w["moto_busy_ms"] for w in warm]),
        "billed_warm_ms": stats([math.ceil(w["invoke_ms"]) for w in warm]),
        "rss_mib": stats([r["rss_mib"] for r in ok]),
        "cpu_ms": stats([r["cpu_ms"] for r in ok]),
        "calls_cold": stats([c["calls"] for c in cold]),
        "calls_warm": stats([w["calls"] for w in warm]),
        "by_action_cold": cold[0]["by_action"] if cold else {},
        "problems": [p for r in runs for p in r["problems"]],
    }


def gb_s(billed_ms: float, memory_mb: int = MEMORY_MB) -> float:
    """GB-seconds of one billed duration at `memory_mb` (Lambda counts 1 GB = 1024 MB)."""
    return billed_ms / 1000 * memory_mb / 1024


def costs(summary: dict) -> dict:
    """Per function: GB-s of a cold and a warm no-op run, and dollars per million such runs
    (duration at the median billed time + the request charge), per architecture; also at the
    deploy template's memory and architecture."""
    out: dict = {}
    for kind, s in summary.items():
        if not s["billed_cold_ms"] or not s["billed_warm_ms"]:
            continue
        c: dict = {}
        for phase in ("cold", "warm"):
            ms = s[f"billed_{phase}_ms"]["median"]
            c[f"gb_s_{phase}"] = gb_s(ms)
            for arch, price in PRICE_PER_GB_S.items():
                c[f"usd_per_million_{phase}_{arch}"] = 1e6 * gb_s(ms) * price + PRICE_PER_MILLION_REQUESTS
            c[f"usd_per_million_{phase}_template"] = (
                1e6 * gb_s(ms, TEMPLATE_MEMORY_MB) * PRICE_PER_GB_S[TEMPLATE_ARCH] + PRICE_PER_MILLION_REQUESTS)
        out[kind] = c
    return out


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap", required=True, help="amiroll's Lambda binary (the `lambda` profile)")
    ap.add_argument("--out", required=True, help="where the JSON goes")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warm", type=int, default=5, help="warm invocations per process")
    ap.add_argument("--build", default="", help="how the bootstrap was built (written into the JSON)")
    args = ap.parse_args()
    bootstrap = os.path.abspath(args.bootstrap)
    started = time.time()
    work = tempfile.mkdtemp(prefix="amiroll-lambda-cost-")
    server, endpoint = start_emulator(work)
    try:
        emu = bench.Emulator(endpoint)
        emu.reset()
        ami, _, ami_how = emu.pick_amis()
        setup = emu.setup(1, ami, work)
        target = setup["targets"][0]
        emu.warm(target["launch_template_id"], target["asg_name"], target["image_id_ssm_parameter"],
                 setup["topic"], ami)
        base = bench.tool_env(work, endpoint)
        noop_root = os.path.join(work, "noop")
        os.makedirs(noop_root)
        with open(os.path.join(noop_root, "noop.py"), "w") as f:
            f.write(NOOP_HANDLER)
        py = f"{sys.version_info.major}.{sys.version_info.minor}"
        fns = {
            "seed": ([sys.executable, "-m", "awslambdaric", "seed_lambda.lambda_handler"], HERE,
                     {"_HANDLER": "seed_lambda.lambda_handler", "AWS_EXECUTION_ENV": f"AWS_Lambda_python{py}"}),
            "bootstrap": ([bootstrap], os.path.dirname(bootstrap), {"_HANDLER": "bootstrap"}),
            "noop": ([sys.executable, "-m", "awslambdaric", "noop.handler"], noop_root,
                     {"_HANDLER": "noop.handler", "AWS_EXECUTION_ENV": f"AWS_Lambda_python{py}"}),
        }

        def once(kind: str, tag: str) -> dict:
            argv, cwd, extra = fns[kind]
            api = runtime_api.RuntimeApi()
            try:
                env = lambda_env(base, target, api.address, f"amiroll-bench-{kind}", cwd)
                env.update(extra)
                return run_function(kind, argv, env, cwd, api, emu, args.warm, work, tag)
            finally:
                api.close()

        load_start = loadavg()
        for kind in fns:  # one unmeasured run each: warm OS caches and the emulator
            r = once(kind, f"warmup-{kind}")
            if r["problems"]:
                sys.exit(f"[lambda] {kind} failed its warm-up run: {r['problems'][0]} (log in {work})")
        runs: dict = {k: [] for k in fns}
        for rep in range(args.repeats):
            order = ("seed", "bootstrap", "noop") if rep % 2 == 0 else ("bootstrap", "seed", "noop")
            for kind in order:
                r = once(kind, f"{kind}-{rep}")
                runs[kind].append(r)
                inv = r["invocations"]
                print(f"[lambda] #{rep + 1} {kind}: init {r['init_ms'] or 0:.1f} ms, cold "
                      f"{inv[0]['invoke_ms'] if inv else 0:.1f} ms, warm "
                      f"{statistics.median([i['invoke_ms'] for i in inv[1:]]) if len(inv) > 1 else 0:.1f} ms, "
                      f"{r['rss_mib']:.1f} MiB{' — ' + r['problems'][0] if r['problems'] else ''}",
                      file=sys.stderr, flush=True)
        cross = None
        if shutil.which("cargo-lambda"):
            cross = cargo_lambda_runs(bootstrap, base, target, args.repeats, args.warm, work)
            print(f"[lambda] cargo-lambda cross-check: {cross}", file=sys.stderr, flush=True)
        info = bench.machine(bootstrap)
        info.pop("amiroll", None)
        try:
            import awslambdaric
            ric = awslambdaric.__version__
        except (ImportError, AttributeError):
            ric = "?"
        result = {
            "machine": info,
            "awslambdaric": ric,
            "python_path": sys.executable,
            "bootstrap": {"size": os.path.getsize(bootstrap), "build": args.build,
                          "path": os.path.relpath(bootstrap, ROOT) if bootstrap.startswith(ROOT) else os.path.basename(bootstrap)},
            "ami": ami_how,
            "memory_mb": MEMORY_MB,
            "repeats": args.repeats,
            "warm_per_process": args.warm,
            "gap_s": GAP_S,
            "event": EVENT,
            "load": {"start": load_start, "end": loadavg()},
            "summary": {k: summarise(v) for k, v in runs.items()},
            "cargo_lambda": cross,
            "prices": {"per_gb_s": PRICE_PER_GB_S, "per_million_requests": PRICE_PER_MILLION_REQUESTS,
                       "template_memory_mb": TEMPLATE_MEMORY_MB, "template_arch": TEMPLATE_ARCH},
            "runs": runs,
            "duration_s": time.time() - started,
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "platform": platform.machine(),
        }
    finally:
        server.kill()
        server.wait()
    result["costs"] = costs(result["summary"])
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"[lambda] wrote {args.out} in {result['duration_s']:.0f} s (logs in {work})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
