#!/usr/bin/env python3
"""Issue 15, sections 2–4: real-AWS latency, how close `check` is to the limit, and the write path.

Called by bench/bench.py (every full `bench/run.sh`, or alone with `BENCH_ONLY=latency`); it
measures with bench.py's own `measure()` (wall, CPU, peak RSS, the emulator's request counts and
moto busy time) and adds bench/latency_proxy.py in front of the emulator:

* **Real-AWS latency.** One account holding 1, then 200, then 2,000 targets (grown in place, so
  each size's account holds exactly its own templates, groups and parameters; set up in-process
  by count_server.py's `/__bulk_targets`). At each size, interleaved: `amiroll check` straight to
  the emulator, `amiroll check` through the proxy, and (N = 1 and 200) the seed's handler looped
  through the proxy. The proxy holds every request `--delay-ms` (20 by default) and reports the
  critical path (the longest chain of requests each started after the previous ended = the
  fewest sequential round trips) and the most requests in flight.
* **Close to the limit.** `check` straight to the emulator against the floor: moto busy time for
  only the reads a no-op check cannot avoid, sent one at a time (bench.emulator_floor), plus the
  start of an amiroll process that does nothing (`amiroll --version`).
* **The write path.** A drift: every target's parameter names a new AMI, and `amiroll apply`
  (for real) starts the rollout, at N = 1 and 50, for `scheduled-surge` and `instance-refresh`,
  straight and through the proxy. The emulator is reset and set up again before each run.
"""

from __future__ import annotations

import base64
import json
import math
import os
import statistics
import subprocess
import sys
import time
import urllib.request

import bench

# BENCH_LATENCY_SIZES / BENCH_WRITE_SIZES (comma-separated) narrow them while trying changes.
SIZES = tuple(int(x) for x in os.environ.get("BENCH_LATENCY_SIZES", "1,200,2000").split(","))
SEED_SIZES = tuple(n for n in SIZES if n <= 200)
WRITE_SIZES = tuple(int(x) for x in os.environ.get("BENCH_WRITE_SIZES", "1,50").split(","))
STRATEGIES = ("scheduled-surge", "instance-refresh")
HEADINGS = ("## Real-AWS latency (loopback proxy)", "## Close to the limit", "## The write path")
# Where the sections go in a document that has none yet (BENCH_ONLY=latency on an old document).
BEFORE = ("## Drift run (one target, parameter moved to a new AMI)", "## Rollout time (virtual time)",
          "## Build times", "## Sizes")


def in_flight_limit() -> int:
    """READS_IN_FLIGHT in crates/core/src/engine/observe.rs (read from the source, not assumed)."""
    path = os.path.join(bench.ROOT, "crates", "core", "src", "engine", "observe.rs")
    import re
    with open(path) as f:
        m = re.search(r"const READS_IN_FLIGHT: usize = (\d+);", f.read())
    return int(m.group(1)) if m else 0


class Proxy:
    """bench/latency_proxy.py as a child process, in front of the emulator."""

    def __init__(self, upstream: str, delay_ms: float) -> None:
        self.delay_ms = delay_ms
        self.p = subprocess.Popen([sys.executable, os.path.join(bench.HERE, "latency_proxy.py"), upstream,
                                   "--delay-ms", str(delay_ms)], stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline().split()
        if not line or line[0] != "ready":
            raise RuntimeError("the latency proxy did not start")
        self.url = f"http://127.0.0.1:{line[1]}"

    def _get(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=60) as r:
            return json.loads(r.read())

    def reset(self) -> None:
        self._get("/__proxy/reset")

    def stats(self) -> dict:
        return self._get("/__proxy/stats")

    def stop(self) -> None:
        self.p.terminate()
        self.p.wait()


def bulk(emu: bench.Emulator, prefix: str, first: int, count: int, ami: str, param_value: str | None = None) -> list[dict]:
    """`count` targets `prefix-i` (i from `first`), created inside the emulator (count_server.py's
    /__bulk_targets): template and group on `ami`, parameter /prefix/i/image_id = `param_value`
    (default `ami`: nothing to do)."""
    names = [{"name": f"{prefix}-{i}", "param": f"/{prefix}/{i}/image_id"} for i in range(first, first + count)]
    body = json.dumps({"ami": ami, "user_data": base64.b64encode(bench.USER_DATA.encode()).decode(),
                       "targets": names}).encode()
    req = urllib.request.Request(emu.url + "/__bulk_targets", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        made = json.loads(r.read())
    targets = [{"launch_template_id": m["launch_template_id"], "image_id_ssm_parameter": n["param"],
                "asg_name": n["name"]} for m, n in zip(made, names)]
    if param_value and param_value != ami:
        for t in targets:  # one PutParameter each; only the write path's 50 at most
            emu.ssm.put_parameter(Name=t["image_id_ssm_parameter"], Value=param_value, Type="String", Overwrite=True)
    return targets


def write_setup(work: str, tag: str, targets: list[dict], topic: str, strategy: str) -> dict:
    """The config (as bench.Emulator.setup writes it) and the seed's targets file."""
    for t in targets:
        t["sns_arn"] = topic
    seed = os.path.join(work, f"lat-targets-{tag}.json")
    with open(seed, "w") as f:
        json.dump(targets, f)
    toml = [f"# {len(targets)} targets (bench/latency.py)", "[defaults]", f'strategy = "{strategy}"',
            f'sns_topic = "{topic}"', ""]
    for i, t in enumerate(targets):
        toml += ["[[target]]", f'name = "t{i}"', f'launch_template = "{t["launch_template_id"]}"',
                 f'ami_parameter = "{t["image_id_ssm_parameter"]}"', f'groups = ["{t["asg_name"]}"]', ""]
    config = os.path.join(work, f"lat-{tag}.toml")
    with open(config, "w") as f:
        f.write("\n".join(toml))
    return {"targets": targets, "seed_targets": seed, "config": config, "topic": topic}


def keep(r: dict, proxy: Proxy | None = None) -> dict:
    """A measured run without its output, with the proxy's record when it went through it."""
    out = {k: v for k, v in r.items() if k not in ("stdout", "stderr", "time_v")}
    if proxy:
        s = proxy.stats()
        out["proxy"] = {k: s[k] for k in ("total", "calls", "critical_path", "max_in_flight", "writes",
                                          "max_writes_in_flight", "write_critical_path", "errors")}
    return out


def run_tool(argv: list[str], env: dict, emu: bench.Emulator, work: str, tag: str, proxy: Proxy | None) -> tuple[dict, dict]:
    if proxy:
        proxy.reset()
        env = dict(env, AWS_ENDPOINT_URL=proxy.url)
    r = bench.measure(argv, env, emu, work, tag)
    return r, keep(r, proxy)


def reps_for(n: int, repeats: int) -> int:
    return repeats if n <= 200 else max(1, min(repeats, 3))


def seed_reps_for(n: int, repeats: int) -> int:
    return repeats if n <= 1 else max(1, min(repeats, 3))


def measure_reads(emu: bench.Emulator, env: dict, work: str, amiroll: str, proxy: Proxy, repeats: int,
                  current_ami: str) -> dict:
    """Sections 2 and 3: no-op check (straight, through the proxy) and the seed through the proxy."""
    out: dict = {"sizes": {}}
    emu.reset()
    topic = emu.sns.create_topic(Name="bench-latency")["TopicArn"]
    targets: list[dict] = []
    for n in SIZES:
        t0 = time.perf_counter()
        targets += bulk(emu, "lat", len(targets), n - len(targets), current_ami)
        setup = write_setup(work, f"read-{n}", [dict(t) for t in targets], topic, "scheduled-surge")
        setup_s = time.perf_counter() - t0
        bench.log(f"latency N={n}: set up in {setup_s:.1f}s")
        first = setup["targets"][0]
        emu.warm(first["launch_template_id"], first["asg_name"], first["image_id_ssm_parameter"], topic, current_ami)
        check = [amiroll, "--config", setup["config"], "check"]
        seed = [sys.executable, os.path.join(bench.HERE, "seed_loop.py"), setup["seed_targets"]]
        run_tool(check, env, emu, work, f"lat-warm-{n}-d", None)
        run_tool(check, env, emu, work, f"lat-warm-{n}-p", proxy)
        if n == SEED_SIZES[0]:
            run_tool(seed, env, emu, work, f"lat-warm-{n}-s", proxy)
        runs: dict = {"direct": [], "proxy": [], "seed": []}
        problems: list[str] = []
        for rep in range(reps_for(n, repeats)):
            for key, argv, px in (("direct", check, None), ("proxy", check, proxy), ("seed", seed, proxy)):
                if key == "seed" and (n not in SEED_SIZES or rep >= seed_reps_for(n, repeats)):
                    continue
                r, kept = run_tool(argv, env, emu, work, f"lat-{n}-{key}-{rep}", px)
                if r["exit"] != 0:
                    problems.append(f"{key}: exit {r['exit']}: {bench.tail(r['stderr']) or bench.tail(r['stdout'])}")
                runs[key].append(kept)
                bench.log(f"latency N={n} {key} #{rep + 1}: {r['wall_ms']:.1f} ms wall, {r['rss_mib']:.1f} MiB, "
                          f"{r['calls']} calls" + (f", critical path {kept['proxy']['critical_path']}" if px else ""))
        floor = bench.emulator_floor(emu, setup, current_ami, reps_for(n, repeats))
        bench.log(f"latency N={n}: floor {floor['busy_ms']['median']:.1f} ms for {floor['runs'][0]['calls']} reads")
        out["sizes"][n] = {"runs": runs, "problems": problems, "floor": floor, "setup_s": setup_s,
                           "load": bench.loadavg()}
    return out


def measure_writes(emu: bench.Emulator, env: dict, work: str, amiroll: str, proxy: Proxy, repeats: int,
                   current_ami: str, new_ami: str) -> dict:
    """Section 4: a drift apply, set up afresh before every run."""
    out: dict = {}
    for n in WRITE_SIZES:
        for strategy in STRATEGIES:
            cell: dict = {"direct": [], "proxy": [], "problems": []}
            for rep in range(repeats + 1):  # the first round is a warm-up, not kept
                for key, px in (("direct", None), ("proxy", proxy)):
                    emu.reset()
                    topic = emu.sns.create_topic(Name="bench-write")["TopicArn"]
                    targets = bulk(emu, "w", 0, n, current_ami, new_ami)
                    setup = write_setup(work, f"write-{n}-{strategy}", targets, topic, strategy)
                    first = targets[0]
                    emu.warm(first["launch_template_id"], first["asg_name"], first["image_id_ssm_parameter"], topic,
                             current_ami)
                    argv = [amiroll, "--config", setup["config"], "-o", "json", "apply"]
                    r, kept = run_tool(argv, env, emu, work, f"write-{n}-{strategy}-{key}-{rep}", px)
                    kept["done"], problem = done_per_target(r, n)
                    if rep == 0:
                        continue
                    if problem:
                        cell["problems"].append(f"{key}: {problem}")
                    cell[key].append(kept)
                    bench.log(f"write N={n} {strategy} {key} #{rep}: {r['wall_ms']:.1f} ms wall, {r['calls']} calls"
                              + (f", writes in flight ≤ {kept['proxy']['max_writes_in_flight']}, critical path "
                                 f"{kept['proxy']['critical_path']}" if px else "") + (f" — {problem}" if problem else ""))
            out[f"{n}/{strategy}"] = cell
    return out


def done_per_target(r: dict, n: int) -> tuple[dict, str | None]:
    """From `apply -o json`: how many targets had every action done; a problem when not all."""
    try:
        doc = json.loads(r["stdout"])
    except ValueError:
        return {}, f"exit {r['exit']}, no JSON: {bench.tail(r['stderr'])}"
    done = changed = 0
    actions: dict[str, int] = {}

    def targets_of(d):
        """Every target outcome of the document (`places[].report.targets[]`)."""
        if isinstance(d, dict):
            if isinstance(d.get("targets"), list) and all(isinstance(t, dict) and "results" in t for t in d["targets"]):
                return list(d["targets"])
            return [t for v in d.values() for t in targets_of(v)]
        if isinstance(d, list):
            return [t for v in d for t in targets_of(v)]
        return []

    targets = targets_of(doc) or []
    for t in targets:
        results = t.get("results") or []
        if any(x.get("result") == "done" for x in results):
            changed += 1
        if results and all(x.get("result") == "done" for x in results):
            done += 1
        for x in results:
            if x.get("result") == "done":
                verb = x.get("action", "?").split(" ")[0]
                actions[verb] = actions.get(verb, 0) + 1
    info = {"targets": len(targets), "changed": changed, "all_done": done, "actions": actions}
    if r["exit"] != 0 or changed != n:
        return info, f"exit {r['exit']}, {changed} of {n} targets changed: {bench.tail(r['stderr'])}"
    return info, None


def version_baseline(env: dict, emu: bench.Emulator, work: str, amiroll: str, repeats: int) -> dict:
    runs = [bench.measure([amiroll, "--version"], env, emu, work, f"lat-version-{i}") for i in range(repeats)]
    return {k: bench.stats([r[k] for r in runs]) for k in ("wall_ms", "rss_mib")}


def run(emu: bench.Emulator, env: dict, work: str, amiroll: str, repeats: int, current_ami: str, new_ami: str,
        delay_ms: float) -> dict:
    started = time.time()
    proxy = Proxy(emu.url, delay_ms)
    try:
        res = {"delay_ms": delay_ms, "in_flight_limit": in_flight_limit(), "repeats": repeats,
               "load": {"start": bench.loadavg()}}
        res["version"] = version_baseline(env, emu, work, amiroll, max(repeats, 5))
        res["reads"] = measure_reads(emu, env, work, amiroll, proxy, repeats, current_ami)
        res["writes"] = measure_writes(emu, env, work, amiroll, proxy, repeats, current_ami, new_ami)
        res["load"]["end"] = bench.loadavg()
    finally:
        proxy.stop()
    res["duration_s"] = time.time() - started
    return res


# --- docs/performance.md -------------------------------------------------------------------------


def med(runs: list[dict], key: str, sub: str | None = None) -> float | None:
    vals = [(r[sub][key] if sub else r[key]) for r in runs if (r.get(sub) if sub else r) is not None]
    return statistics.median(vals) if vals else None


def rng(runs: list[dict], key: str, fmt: str = ".1f", sub: str | None = None) -> str:
    vals = [(r[sub][key] if sub else r[key]) for r in runs]
    if not vals:
        return "—"
    m = statistics.median(vals)
    if len(vals) == 1 or min(vals) == max(vals):
        return f"{m:{fmt}}"
    return f"{m:{fmt}} ({min(vals):{fmt}}–{max(vals):{fmt}})"


def verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("**PASS**" if ok else "**MISS**")


def batched_reads(n: int) -> int:
    """The reads a no-op check of n targets batches (each target its own parameter and group):
    GetParameters ⌈n/10⌉, DescribeAutoScalingGroups ⌈n/100⌉, the account-wide
    DescribeLaunchTemplateVersions ⌈n/200⌉ pages, DescribeImages 1."""
    return math.ceil(n / 10) + math.ceil(n / 100) + math.ceil(n / 200) + 1


def size_of(res: dict, n: int) -> dict | None:
    s = res["reads"]["sizes"]
    return s.get(n) or s.get(str(n))


def render(res: dict, command: str, git: str, when: str) -> str:
    return "\n".join([render_latency(res, command, git, when), render_limit(res), render_writes(res)])


def render_latency(res: dict, command: str, git: str, when: str) -> str:
    d, lim = res["delay_ms"], res["in_flight_limit"]
    L = [HEADINGS[0], ""]
    w = L.append
    w(f"Written by `{command}` on {when}, tree at {git} — do not edit by hand. Issue 15, section 2. "
      f"Measured runs per cell: {res['repeats']} at N ≤ 200, {reps_for(2000, res['repeats'])} at N = 2,000; the "
      f"seed through the proxy {seed_reps_for(1, res['repeats'])} at N = 1 and {seed_reps_for(200, res['repeats'])} "
      f"at N = 200 (each of its runs takes seconds); median with (min–max). This part of the benchmark took "
      f"{res['duration_s'] / 60:.1f} min; load average at start {res['load']['start']}, at end {res['load']['end']}.")
    w("")
    w("### How it is measured")
    w("")
    w(f"- `bench/latency_proxy.py` listens on 127.0.0.1 in front of the emulator (`bench/count_server.py`, "
      f"the same as above) and holds every request **{d:g} ms** (a typical round trip to an AWS endpoint in the "
      "same Region) before forwarding it; each client connection gets its own thread and kept-alive upstream "
      "connection, so requests sent at the same time wait at the same time. Its own work adds well under a "
      "millisecond a request; it is in the wall times.")
    w("- **critical path**: from the proxy's record of every request (start when read, end when answered), the "
      "longest chain of requests each of which started only after the previous one ended — the fewest round trips "
      f"the client made one after another. Wall time through the proxy is at least critical path × {d:g} ms.")
    w(f"- **in-flight limit**: amiroll sends at most `READS_IN_FLIGHT` = **{lim}** reads of one operation at once "
      "(`crates/core/src/engine/observe.rs`); the operations of one step (GetParameters, DescribeAutoScalingGroups, "
      "the account-wide DescribeLaunchTemplateVersions) are sent at the same time. **batched reads** = the "
      "requests of a no-op check of N targets (each with its own parameter and group): ⌈N/10⌉ GetParameters + "
      "⌈N/100⌉ DescribeAutoScalingGroups + ⌈N/200⌉ pages of DescribeLaunchTemplateVersions + 1 DescribeImages.")
    w("- One account grows from 1 to 200 to 2,000 targets (template, group with one instance, parameter each, as "
      "above), created inside the emulator by `count_server.py`'s `/__bulk_targets` (the same moto calls the "
      "API handlers make; seconds instead of minutes); at each size the account holds only that size's targets. "
      "Then one warm-up run of each tool and the measured runs, interleaved: check straight to the emulator, "
      "check through the proxy, the seed's loop through the proxy (N = 1 and 200).")
    w("")
    w("| N | batched reads | tool | wall ms | peak RSS MiB | requests | critical path | most in flight | moto busy ms |")
    w("|---|---|---|---|---|---|---|---|---|")
    for n in SIZES:
        s = size_of(res, n)
        if not s:
            continue
        for key, title in (("direct", "`amiroll check`, straight"), ("proxy", f"`amiroll check`, +{d:g} ms"),
                           ("seed", f"seed loop, +{d:g} ms")):
            runs = s["runs"][key]
            if not runs:
                continue
            px = key != "direct"
            w(f"| {n} | {batched_reads(n)} | {title} | {rng(runs, 'wall_ms')} | {rng(runs, 'rss_mib')} | "
              f"{rng(runs, 'calls', 'g')} | {rng(runs, 'critical_path', 'g', 'proxy') if px else '—'} | "
              f"{rng(runs, 'max_in_flight', 'g', 'proxy') if px else rng(runs, 'max_in_flight', 'g')} | "
              f"{rng(runs, 'busy_ms')} |")
    w("")
    for n in SIZES:
        s = size_of(res, n)
        if s:
            first = s["runs"]["proxy"][0] if s["runs"]["proxy"] else None
            if first:
                w(f"- N = {n}, check through the proxy (first run): " + ", ".join(
                    f"{k} {v}" for k, v in sorted(first["proxy"]["calls"].items())) + f"; set-up {s['setup_s']:.1f} s")
            for p in s["problems"]:
                w(f"- N = {n}: **a run did not exit 0**: {p}")
    w("")
    w("### Goals")
    w("")
    w("| goal | measured (medians) | result |")
    w("|---|---|---|")
    s200, s2k = size_of(res, 200), size_of(res, 2000)
    if s200 and s200["runs"]["seed"] and s200["runs"]["proxy"]:
        sw, cw = med(s200["runs"]["seed"], "wall_ms"), med(s200["runs"]["proxy"], "wall_ms")
        ok = sw / cw >= 100 and not s200["problems"]
        w(f"| N = 200, +{d:g} ms: check ≥ 100× faster than the seed | seed {sw:.0f} ms / check {cw:.0f} ms = "
          f"**{sw / cw:.1f}×** | {verdict(ok)} |")
    if s2k and s2k["runs"]["proxy"]:
        runs = s2k["runs"]["proxy"]
        cw = med(runs, "wall_ms")
        w(f"| N = 2,000, +{d:g} ms: check under 1.5 s | **{cw:.0f} ms** | {verdict(cw < 1500 and not s2k['problems'])} |")
        calls, b = med(runs, "calls"), bench.budget(2000)
        w(f"| N = 2,000: at most 3 + ⌈N/10⌉ + 2⌈N/100⌉ = {b} requests | **{calls:g}** | {verdict(calls <= b)} |")
        cp = med(runs, "critical_path", "proxy")
        limit = math.ceil(batched_reads(2000) / lim) + 2 if lim else None
        w(f"| N = 2,000: critical path ≤ ⌈batched reads ÷ in-flight limit⌉ + 2 = ⌈{batched_reads(2000)} ÷ {lim}⌉ + 2 "
          f"= {limit} round trips | **{cp:g}** | {verdict(limit is not None and cp <= limit)} |")
        rss = max(r["rss_mib"] for r in runs + s2k["runs"]["direct"])
        w(f"| N = 2,000: peak RSS ≤ 32 MiB | **{rss:.1f} MiB** (the largest of every run) | {verdict(rss <= 32)} |")
    w("")
    L += explain_latency(res)
    w("")
    return "\n".join(L)


def explain_latency(res: dict) -> list[str]:
    d, lim = res["delay_ms"], res["in_flight_limit"]
    out = []
    for n in SIZES:
        s = size_of(res, n)
        if not s or not s["runs"]["proxy"]:
            continue
        runs = s["runs"]["proxy"]
        cw, busy, cp = med(runs, "wall_ms"), med(runs, "busy_ms"), med(runs, "critical_path", "proxy")
        dw, dbusy = med(s["runs"]["direct"], "wall_ms"), med(s["runs"]["direct"], "busy_ms")
        line = (f"- **Where the time goes, N = {n}:** through the proxy check took {cw:.0f} ms: its critical path of "
                f"{cp:g} round trips costs at least {cp * d:.0f} ms of delay; moto was busy {busy:.0f} ms of the "
                f"wall time (straight to it: {dw:.0f} ms wall, moto busy {dbusy:.0f} ms). Without the emulator's "
                f"time, the run would take about {max(cw - busy, cp * d):.0f} ms (wall − moto busy, at least the "
                f"critical path's delay): what a user in the Region would wait for, given AWS answers in "
                f"{d:g} ms.")
        if s["runs"]["seed"]:
            sw, sb = med(s["runs"]["seed"], "wall_ms"), med(s["runs"]["seed"], "busy_ms")
            scp = med(s["runs"]["seed"], "critical_path", "proxy")
            line += (f" The seed's loop: {sw:.0f} ms, {scp:g} round trips one after another (every request waits for "
                     f"the one before), moto busy {sb:.0f} ms; without moto's time the ratio is "
                     f"{(sw - sb) / max(cw - busy, cp * d):.0f}×.")
        out.append(line)
    s1, s = size_of(res, 1), size_of(res, 2000)
    if s1 and s and s["runs"]["direct"]:
        r1 = statistics.median(r["rss_mib"] for r in s1["runs"]["direct"] + s1["runs"]["proxy"])
        r2 = max(r["rss_mib"] for r in s["runs"]["direct"] + s["runs"]["proxy"])
        out.append(
            f"- **Peak RSS:** {r1:.1f} MiB at N = 1 (median), a run that reads next to nothing: the resident pages of "
            f"the release binary and its shared libraries (`amiroll --version` alone: "
            f"{res['version']['rss_mib']['median']:.1f} MiB), the fixed part; N = 2,000 peaks at {r2:.1f} MiB, "
            f"{r2 - r1:.1f} MiB more: the configuration, observation and plan of 2,000 targets and the responses "
            "being parsed (up to 12 requests in flight, each a page of up to 200 template versions, 100 groups with "
            "their instances or 10 parameters). The fixed part is the larger: the code a run touches, which the "
            f"`release` profile ({bench.release_profile()}) keeps small. With opt-level 3 instead of \"s\" (this "
            "project's `release` profile until 2026-12-06) the binary was 27 MiB instead of 19.5 and the same check "
            "peaked at 22.7 MiB at N = 1 and 36.7 MiB at N = 2,000, over the goal, for no measurable gain in "
            "wall or CPU time (medians of 15 and 5 interleaved runs against the emulator, 2026-12-06).")
    if s and s["runs"]["proxy"]:
        calls = s["runs"]["proxy"][0]["proxy"]["calls"]
        gp = calls.get("ssm:GetParameters", 0)
        out.append(
            f"- **The in-flight limit** ({lim} per operation): at N = 2,000 the {gp} GetParameters requests take "
            f"⌈{gp} ÷ {lim}⌉ = {math.ceil(gp / lim) if lim else '?'} round trips — the critical path; the other "
            "operations go alongside. Raising the limit would shorten that path, but **it cannot safely rise** for "
            f"SSM: {lim} requests per {d:g} ms round trip is already up to {lim * 1000 / d:.0f} GetParameters a "
            "second, and Parameter Store's default throughput is 40 transactions per second per account and Region, "
            "shared by GetParameter, GetParameters and PutParameter and by every other caller in the account "
            "(\"AWS Systems Manager endpoints and quotas\", https://docs.aws.amazon.com/general/latest/gr/ssm.html; "
            "\"Changing Parameter Store throughput\", "
            "https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-throughput.html: above it, "
            "`ThrottlingException: Rate exceeded`; the higher-throughput setting raises it, at a cost). So a fleet of "
            "2,000 targets with 2,000 *different* parameters would be throttled on default throughput, and the SDK's "
            "retries (standard mode, jittered back-off) would stretch the run; fleets share a handful of parameters "
            "(AWS's public ones), which amiroll reads once each. EC2 lets a non-mutating action such as "
            "DescribeLaunchTemplateVersions or DescribeImages burst to 100 requests and refill at 20 a second per "
            "account and Region (\"Request throttling for the Amazon EC2 API\", "
            "https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html): the 11 EC2 requests of N = 2,000 "
            "are far inside it. Auto Scaling has one shared bucket per account and Region whose rates AWS does not "
            "publish (\"Why are my Amazon EC2 Auto Scaling API calls throttled?\", "
            "https://repost.aws/knowledge-center/autoscaling-api-calls-throttled); its 20 requests are few, and its "
            "default quota is 500 groups per Region (\"Quotas for Auto Scaling resources and groups\", "
            "https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-account-limits.html), so 2,000 groups already "
            "need a raised quota. Keeping the limit at 4 is the safe choice; the adaptive retry mode "
            "(`aws_retry_mode = \"adaptive\"`) adds client-side rate limiting when a fleet does hit the SSM quota.")
    return out


def render_limit(res: dict) -> str:
    L = [HEADINGS[1], ""]
    w = L.append
    base = res["version"]["wall_ms"]["median"]
    w(f"Issue 15, section 3: `amiroll check` straight to the emulator (the runs of the table above) against the floor "
      f"= moto busy time for only the reads a no-op check of N targets cannot avoid, sent one at a time by boto3 "
      f"(as in \"unavoidable reads\" above; median of the repeats), + the start of an amiroll process that does no "
      f"work (`amiroll --version`: {base:.1f} ms, median of {max(res['repeats'], 5)}). Goal: ≤ 1.5 at every N.")
    w("")
    w("| N | check wall ms | unavoidable reads: requests, moto busy ms | + process start = floor ms | check ÷ floor | goal ≤ 1.5 |")
    w("|---|---|---|---|---|---|")
    notes = []
    for n in SIZES:
        s = size_of(res, n)
        if not s or not s["runs"]["direct"]:
            continue
        f = s["floor"]
        fm = f["busy_ms"]["median"]
        cw = med(s["runs"]["direct"], "wall_ms")
        floor = fm + base
        ratio = cw / floor
        w(f"| {n} | {rng(s['runs']['direct'], 'wall_ms')} | {f['runs'][0]['calls']}, {fm:.1f} "
          f"({f['busy_ms']['min']:.1f}–{f['busy_ms']['max']:.1f}) | {floor:.1f} | **{ratio:.2f}** | "
          f"{verdict(ratio <= 1.5 and not s['problems'])} |")
        busy = med(s["runs"]["direct"], "busy_ms")
        notes.append(f"- N = {n}: check {cw:.0f} ms = moto busy {busy:.0f} ms (its {med(s['runs']['direct'], 'calls'):g} "
                     f"requests, up to {max(r['max_in_flight'] for r in s['runs']['direct'])} at once) + {cw - busy:.0f} ms "
                     f"outside moto (process start {base:.1f} ms, the rest amiroll's work and waiting between "
                     f"answers); the floor's reads kept moto busy {fm:.0f} ms one at a time."
                     + phases(s["runs"]["direct"], cw, ratio))
    w("")
    L += notes
    w("")
    return "\n".join(L)


def phases(runs: list[dict], wall: float, ratio: float) -> str:
    """Spawn → first request → moto's last answer → exit (medians), said when the goal is missed."""
    ups = [r["startup_ms"] for r in runs if r.get("startup_ms") is not None]
    tails = [r["tail_ms"] for r in runs if r.get("tail_ms") is not None]
    if ratio <= 1.5 or not ups or not tails:
        return ""
    up, tail = statistics.median(ups), statistics.median(tails)
    return (f" **Why over 1.5:** {up:.1f} ms from spawn to the first request (process start, configuration, "
            f"credentials, and the system's TLS roots the SDK loads before its first request, even for http://: see "
            f"\"TLS roots\" above), {wall - up - tail:.1f} ms from there to moto's last answer (two steps: the batched "
            f"reads together, then DescribeImages for the AMIs they name), {tail:.1f} ms to exit; the floor has no "
            f"process start beyond `--version` and no wait between its reads' steps, so at N = 1 the fixed "
            f"start-up is a large part of the ratio, and it fades at larger N.")


def render_writes(res: dict) -> str:
    d = res["delay_ms"]
    L = [HEADINGS[2], ""]
    w = L.append
    w(f"Issue 15, section 4. Every target's parameter names a new AMI; `amiroll --config … -o json apply` (for real, "
      f"default `concurrency` 4) starts the rollout of every target: straight to the emulator and through the proxy "
      f"(+{d:g} ms a request). Before every run the emulator is reset and set up again (N targets, one warm-up call "
      f"per service); the first round of each cell is a warm-up and not kept; then {res['repeats']} measured runs "
      "per cell, straight and through the proxy interleaved. **requests per changed target** = every request of "
      "the run (the shared reads included) ÷ the targets whose rollout started. **writes in flight** = the most "
      "write requests (not Describe*/Get*/List*) the proxy was holding or forwarding at the same moment.")
    w("")
    w("| N | strategy | wall ms, straight | wall ms, +{:g} ms | requests | per changed target | critical path | most in flight | writes in flight |".format(d))
    w("|---|---|---|---|---|---|---|---|---|")
    goals = []
    notes = []
    for key, cell in res["writes"].items():
        n, strategy = key.split("/", 1)
        n = int(n)
        direct, proxied = cell["direct"], cell["proxy"]
        if not direct or not proxied:
            continue
        calls = med(direct, "calls")
        changed = statistics.median(r["done"].get("changed", 0) for r in direct) or 1
        per = calls / changed
        w(f"| {n} | {strategy} | {rng(direct, 'wall_ms')} | {rng(proxied, 'wall_ms')} | {rng(direct, 'calls', 'g')} | "
          f"{per:.1f} | {rng(proxied, 'critical_path', 'g', 'proxy')} | {rng(proxied, 'max_in_flight', 'g', 'proxy')} | "
          f"{rng(proxied, 'max_writes_in_flight', 'g', 'proxy')} |")
        ok_runs = not cell["problems"]
        goals.append(f"| N = {n}, {strategy}: ≤ 12 requests per changed target | **{per:.1f}** | "
                     f"{verdict(per <= 12 and ok_runs)} |")
        if n > 1:
            wi = med(proxied, "max_writes_in_flight", "proxy")
            goals.append(f"| N = {n}, {strategy}: writes of different targets overlap, at most `concurrency` (4) at once "
                         f"| **{wi:g}** write requests in flight at most | {verdict(1 < wi <= 4 and ok_runs)} |")
        first = direct[0]
        writes_n = sum(v for k, v in first["by_action"].items() if not k.split(":", 1)[-1].startswith(("Describe", "Get", "List")))
        if per > 12:
            notes.append(f"- N = {n}, {strategy}: **why over 12**: of the first run's {first['calls']} requests, "
                         f"{first['calls'] - writes_n} are reads and {writes_n} are this target's writes (its rollout and "
                         f"the notification). Most of the reads are made once per run whatever the number of targets "
                         f"(the batched reads; instance types, capacity providers, the ECS cluster the user data "
                         f"names, the topic, the instances of every drifting target in one call); only the detail "
                         f"reads of the template's versions and the group's scheduled actions or refreshes are per "
                         f"drifting target. One drifting target carries the shared reads alone; at N = 50 they are "
                         f"spread over 50.")
        notes.append(f"- N = {n}, {strategy} (first run): " + ", ".join(
            f"{k} {v}" for k, v in sorted(first["by_action"].items())) + f"; actions done: " + ", ".join(
            f"{k} {v}" for k, v in sorted(first["done"].get("actions", {}).items())))
        for p in cell["problems"]:
            notes.append(f"- N = {n}, {strategy}: **a run did not do what was expected**: {p}")
    w("")
    L += notes
    w("")
    w("| goal | measured (medians) | result |")
    w("|---|---|---|")
    L += goals
    w("")
    return "\n".join(L)


def replace_sections(document: str, sections: str) -> str:
    """`document` with its three sections replaced by `sections` (inserted before the drift run,
    the rollout time, build times or sizes when it has none yet)."""
    lines = document.split("\n")
    starts = [i for i, line in enumerate(lines) if line in HEADINGS]
    if not starts:
        at = next((i for i, line in enumerate(lines) if line in BEFORE), len(lines))
        return "\n".join(lines[:at] + sections.split("\n") + lines[at:])
    start = min(starts)
    end = max(starts)
    end = next((i for i in range(end + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[:start] + sections.split("\n") + lines[end:])
