#!/usr/bin/env python3
"""The "What the Lambda costs" section of docs/performance.md, from the JSON bench/lambda_cost.py
writes. It replaces that section of an existing document (inserting it before "## Rollout time
(virtual time)", else before "## Build times", else at the end, when it has none):

    python3 bench/lambda_cost_md.py lambda.json docs/performance.md [--command CMD] [--git REV]

bench/run.sh runs it (`BENCH_ONLY=lambda bench/run.sh` for this section alone). No dependencies
beyond the standard library.
"""

from __future__ import annotations

import argparse
import json
import sys

HEADING = "## What the Lambda costs"
BEFORE = ("## Rollout time (virtual time)", "## Build times", "## Sizes")
GOALS = {"cold": 20.0, "warm": 10.0, "memory": 0.25}
NAMES = {"seed": "seed's handler (awslambdaric)", "bootstrap": "amiroll `bootstrap`"}


def fmt(s: dict | None, digits: int = 1) -> str:
    if not s:
        return "—"
    m, lo, hi = s["median"], s["min"], s["max"]
    if f"{lo:.{digits}f}" == f"{hi:.{digits}f}":
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ({lo:.{digits}f}–{hi:.{digits}f})"


def med(s: dict | None) -> float | None:
    return s["median"] if s else None


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.1f}×" if a and b else "—"


def verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("**PASS**" if ok else "**MISS**")


def usd(x: float | None) -> str:
    return "—" if x is None else f"${x:.2f}"


def render(d: dict, command: str, git: str) -> str:
    S, C, m = d["summary"], d["costs"], d["machine"]
    seed, boot, noop = S["seed"], S["bootstrap"], S.get("noop")
    L: list[str] = []
    w = L.append
    w(HEADING)
    w("")
    w(f"Written by `{command}` on {d['date']}, tree at {git or m.get('git', '?')} — do not edit by hand. "
      f"Issue 15, section 1: amiroll's Lambda binary and the seed's handler, each run as Lambda runs it, "
      f"{d['repeats']} processes each (1 cold + {d['warm_per_process']} warm invocations per process), "
      f"interleaved; medians with (min–max). `bench/lambda_cost.py` measures, `bench/lambda_cost_md.py` "
      f"writes this section.")
    w("")
    w("```sh")
    w(command)
    w("```")
    w("")
    w("### How it is measured")
    w("")
    w(f"- **Machine**: {m['nproc']} CPUs, {m['cpu']}; {m['ram_gib']:.1f} GiB RAM; {m['os']}. Load average "
      f"(1/5/15 min) {d['load']['start']} at the start, {d['load']['end']} at the end; other work on the "
      f"machine (builds) shows up as noise. {d['duration_s']:.0f} s for the whole section.")
    b = d["bootstrap"]
    w(f"- **amiroll**: `{b['path']}`, {b['size'] / 2**20:.1f} MiB, the `lambda` profile (full LTO, one "
      f"codegen unit, opt-level \"s\", stripped) built as `deploy/package.sh` builds it"
      + (f" (`{b['build']}`)" if b.get("build") else "") + f"; {m['rustc']}. It runs as itself, "
      "as the `provided.al2023` runtime runs `bootstrap`.")
    w(f"- **The seed**: `bench/seed_lambda.py` (the seed's code verbatim; `bench/run.sh` checks it) under "
      f"awslambdaric {d['awslambdaric']}, AWS's runtime interface client for Python (`python3 -m awslambdaric "
      f"seed_lambda.lambda_handler`), on Python {m['python']} with boto3 {m['boto3']}.")
    w("- **The Lambda service**: `bench/runtime_api.py`, a Runtime API (2018-06-01: `invocation/next`, "
      "`/response`, `/error`, `init/error` with the documented headers, "
      "https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html) that timestamps every request; a fresh "
      "one per process, the same for both functions. `cargo lambda watch --only-lambda-apis` (PyPI "
      "`cargo-lambda`) was tried first and cannot serve the seed: its `next` answer carries no `Content-Type` "
      "header, and awslambdaric's native client dies of a segmentation fault on such an answer (reproduced "
      "with `bench/runtime_api.py` leaving that header out); it also gives no timestamps from which to split "
      "init from invoke. It serves `bootstrap`, so it is the cross-check below. The project's test server (`crates/lambda/tests/runtime_api.rs`) is Rust inside a "
      "test; this one is its Python counterpart, with the same paths and headers.")
    w(f"- **AWS**: `bench/count_server.py` (moto with the project's shims, as the other sections use it), "
      f"on 127.0.0.1. One target (launch template, group, parameter, topic) whose template already has the "
      f"parameter's AMI, so every run is a no-op; {d['ami']}. Both functions get the seed's four variables "
      f"(the configuration `deploy/template.yaml` gives the function by default) and the template's scheduled "
      f"input `{json.dumps(d['event'])}` as the event; every answer is checked (the seed's \"AMI is current\", "
      f"amiroll's summary `ok` with nothing changed).")
    w(f"- **Figures**: init = process start → its first `next` request (Lambda's *Init Duration*); invoke = "
      f"the event handed over on `next` → its `response` received (Lambda's *Duration*); warm invocations "
      f"come {d['gap_s']:g} s after the previous answer. Billed = init + invoke for the cold invocation, "
      f"invoke for a warm one, rounded up to 1 ms (Lambda bills the INIT phase of every function since "
      f"2025-08-01: https://aws.amazon.com/blogs/compute/aws-lambda-standardizes-billing-for-init-phase/). Peak "
      f"RSS = `VmHWM` of `/proc/PID/status` after the last answer (the kernel's high-water mark; each function "
      f"is one process without children, checked). Moto busy = the time the emulator was answering at least "
      f"one of the invocation's requests.")
    p = d["prices"]
    w(f"- **Prices** (us-east-1, https://aws.amazon.com/lambda/pricing/, first tier; constants in "
      f"`bench/lambda_cost.py`): ${p['per_gb_s']['x86_64']:.10f} per GB-s on x86_64, "
      f"${p['per_gb_s']['arm64']:.10f} on arm64, ${p['per_million_requests']:.2f} per million requests, at "
      f"{d['memory_mb']} MB ({d['memory_mb'] / 1024:g} GB). The arm64 figures apply the arm64 price to the "
      f"durations measured here on {d.get('platform', 'x86_64')}.")
    w("")
    w("### Results")
    w("")
    w(f"| per no-op run | {NAMES['seed']} | {NAMES['bootstrap']} | seed ÷ amiroll |")
    w("|---|---|---|---|")

    def row(label: str, key: str, digits: int = 1, show_ratio: bool = True) -> None:
        w(f"| {label} | {fmt(seed[key], digits)} | {fmt(boot[key], digits)} | "
          f"{ratio(med(seed[key]), med(boot[key])) if show_ratio else ''} |")

    row("init duration, ms", "init_ms")
    row("invoke, cold, ms", "cold_invoke_ms")
    row("  of which moto busy, ms", "cold_moto_ms", show_ratio=False)
    row("**billed, cold** (init + invoke), ms", "billed_cold_ms", 0)
    row("invoke, warm, ms", "warm_invoke_ms")
    row("  of which moto busy, ms", "warm_moto_ms", show_ratio=False)
    row("**billed, warm**, ms", "billed_warm_ms", 0)
    row("**peak RSS**, MiB", "rss_mib")
    row(f"CPU time of the process (init + {1 + d['warm_per_process']} invocations), ms", "cpu_ms")
    row("AWS requests, cold invocation", "calls_cold", 0, show_ratio=False)
    row("AWS requests, warm invocation", "calls_warm", 0, show_ratio=False)
    cs, cb = C.get("seed", {}), C.get("bootstrap", {})
    for phase in ("cold", "warm"):
        w(f"| GB-s per {phase} run at {d['memory_mb']} MB | {cs.get(f'gb_s_{phase}', 0):.6f} | "
          f"{cb.get(f'gb_s_{phase}', 0):.6f} | {ratio(cs.get(f'gb_s_{phase}'), cb.get(f'gb_s_{phase}'))} |")
    for phase in ("cold", "warm"):
        for arch in ("x86_64", "arm64"):
            k = f"usd_per_million_{phase}_{arch}"
            w(f"| per million {phase} runs, {arch} (duration + requests) | {usd(cs.get(k))} | {usd(cb.get(k))} | "
              f"{ratio(cs.get(k), cb.get(k))} |")
    w("")
    w(f"By action, one cold invocation: seed {by_action(seed)}; amiroll {by_action(boot)}. "
      f"At the deploy template's own setting ({p['template_memory_mb']} MB, {p['template_arch']}) a million "
      f"runs cost {usd(cb.get('usd_per_million_cold_template'))} cold / "
      f"{usd(cb.get('usd_per_million_warm_template'))} warm for amiroll "
      f"(the seed's code there: {usd(cs.get('usd_per_million_cold_template'))} / "
      f"{usd(cs.get('usd_per_million_warm_template'))}).")
    if seed["problems"] or boot["problems"]:
        w("")
        for kind, s in (("seed", seed), ("bootstrap", boot)):
            if s["problems"]:
                w(f"- **{kind}: {len(s['problems'])} run(s) went wrong** and are left out: {s['problems'][0]}")
    x = d.get("cargo_lambda")
    if x and x.get("cold_total_ms"):
        runs = d["runs"]["bootstrap"]
        here = {"median": None}
        totals = [r["init_ms"] + r["invocations"][0]["invoke_ms"] for r in runs if r["invocations"] and r["init_ms"]]
        if totals:
            totals.sort()
            n = len(totals)
            here = {"median": (totals[(n - 1) // 2] + totals[n // 2]) / 2, "min": totals[0], "max": totals[-1]}
        w("")
        w(f"Cross-check on an independent Runtime API, `cargo lambda watch --only-lambda-apis` (PyPI `cargo-lambda`; a "
          f"fresh one per process, `bootstrap` only, timed from outside through cargo-lambda's Invoke API): process "
          f"start → first answer {fmt(x['cold_total_ms'])} ms, against init + cold invoke {fmt(here) if here['median'] else '—'} "
          f"ms on `bench/runtime_api.py`; a warm invocation's round trip {fmt(x['warm_round_trip_ms'])} ms, against "
          f"{fmt(boot['warm_invoke_ms'])} ms."
          + (f" Problems: {x['problems'][0]}" if x.get("problems") else ""))
    w("")
    w("### The issue's goals")
    w("")
    w("| goal | measured (medians) | result |")
    w("|---|---|---|")
    ok_runs = seed["ok_runs"] == seed["runs"] and boot["ok_runs"] == boot["runs"]
    verdicts = {}
    for phase, label in (("cold", "cold"), ("warm", "warm")):
        a, b_ = med(seed[f"billed_{phase}_ms"]), med(boot[f"billed_{phase}_ms"])
        goal = GOALS[phase]
        ok = (a / b_ >= goal and ok_runs) if a and b_ else None
        verdicts[phase] = ok
        w(f"| ≥ {goal:g}× less billed time than the seed, {label} | seed {a:.0f} ms / amiroll {b_:.0f} ms = "
          f"**{a / b_:.1f}×** | {verdict(ok)} |" if a and b_ else f"| ≥ {goal:g}× less billed time, {label} | — | not measured |")
    a, b_ = med(seed["rss_mib"]), med(boot["rss_mib"])
    ok = (b_ <= a * GOALS["memory"] and ok_runs) if a and b_ else None
    verdicts["memory"] = ok
    w(f"| ≤ ¼ of the seed's memory (peak RSS) | seed {a:.1f} MiB, amiroll {b_:.1f} MiB = **{b_ / a:.2f}×** "
      f"(limit {a * GOALS['memory']:.1f} MiB) | {verdict(ok)} |" if a and b_ else "| ≤ ¼ of the seed's memory | — | not measured |")
    w("")
    w("### Where the time goes")
    w("")
    for line in where(d, verdicts):
        w(f"- {line}")
    w("")
    return "\n".join(L)


def by_action(s: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(s.get("by_action_cold", {}).items())) or "none"


def where(d: dict, verdicts: dict) -> list[str]:
    S = d["summary"]
    seed, boot, noop = S["seed"], S["bootstrap"], S.get("noop")
    out: list[str] = []
    si, bi = med(seed["init_ms"]), med(boot["init_ms"])
    if noop and med(noop["init_ms"]) and si:
        ni = med(noop["init_ms"])
        out.append(
            f"**The seed's init** ({si:.0f} ms): awslambdaric with an empty handler (same interpreter, same "
            f"runtime API) starts in {ni:.0f} ms — Python and the runtime client; the other {si - ni:.0f} ms are "
            f"the seed's module import, i.e. `import boto3`. Its warm invocations cost the runtime client "
            f"{fmt(noop['warm_invoke_ms'], 2)} ms around an empty handler.")
    sc, sw = med(seed["cold_invoke_ms"]), med(seed["warm_invoke_ms"])
    scm, swm = med(seed["cold_moto_ms"]), med(seed["warm_moto_ms"])
    if sc and sw:
        out.append(
            f"**The seed's invocations**: cold {sc:.0f} ms, of which moto was busy {scm:.0f} ms answering its "
            f"{med(seed['calls_cold']):g} requests; the other {sc - scm:.0f} ms are in Python — the handler "
            f"creates its four boto3 clients on every call (loading their service models the first time) and "
            f"makes its two calls. Warm {sw:.0f} ms, moto {swm:.0f} ms of it: the clients are created again, "
            f"from cached models.")
    bc, bw = med(boot["cold_invoke_ms"]), med(boot["warm_invoke_ms"])
    bcm, bwm = med(boot["cold_moto_ms"]), med(boot["warm_moto_ms"])
    if bi and bc and bw:
        out.append(
            f"**amiroll's init** ({bi:.1f} ms): process start, JSON logging, and the AWS SDK's configuration "
            f"(credentials and Region from the environment, the HTTPS client with the system's TLS roots); no "
            f"AWS request. **Its invocations**: cold {bc:.1f} ms, of which moto was busy {bcm:.1f} ms answering "
            f"{med(boot['calls_cold']):g} requests ({by_action(boot)}); warm {bw:.1f} ms, moto {bwm:.1f} ms. "
            f"Outside moto amiroll spends {bc - bcm:.1f} ms cold and {bw - bwm:.1f} ms warm.")
    for phase, goal in (("cold", GOALS["cold"]), ("warm", GOALS["warm"])):
        if verdicts.get(phase) is not False:
            continue
        a, b_ = med(seed[f"billed_{phase}_ms"]), med(boot[f"billed_{phase}_ms"])
        moto_b = med(boot[f"{phase}_moto_ms"]) or 0
        moto_s = med(seed[f"{phase}_moto_ms"]) or 0
        own_b = b_ - moto_b
        own_s = a - moto_s
        out.append(
            f"**Why the {phase} goal is missed**: {goal:g}× needs amiroll ≤ {a / goal:.1f} ms; it bills {b_:.0f} ms, "
            f"and moto alone was busy {moto_b:.1f} ms of it answering amiroll's {med(boot[f'calls_{phase}']):g} "
            f"requests (the seed's {med(seed[f'calls_{phase}']):g} took {moto_s:.1f} ms). Without the emulator's "
            f"time the ratio is {own_s / own_b:.1f}× ({own_s:.0f} ms / {own_b:.1f} ms)"
            + (": the miss is the emulator's time for the requests a full check makes (the seed makes two and "
               "checks less: it looks at the template only, not the group)." if own_b > 0 and own_s / own_b >= goal
               else ". Even without it the goal is missed: amiroll's time outside moto's busy time holds the "
               "emulator's HTTP handling around each request (werkzeug, which moto busy does not count) and amiroll's "
               f"own work; the whole process used {med(boot['cpu_ms']):.0f} ms of CPU for its init and all "
               f"{1 + d['warm_per_process']} invocations. The seed's warm invocation is cheap once boto3's models "
               f"are cached, so the goal leaves amiroll ≤ {a / goal:.1f} ms per invocation, while moto alone spent "
               f"{moto_b / max(med(boot[f'calls_{phase}']) or 1, 1):.1f} ms per request on its "
               f"{med(boot[f'calls_{phase}']):g} requests here."))
    if verdicts.get("memory") is False:
        out.append("**Memory**: see the peak RSS row; amiroll's resident memory is mostly the pages of its own "
                   "binary (\"Where the time goes\" above, for the CLI).")
    out.append(
        "**On Lambda itself**: these durations are this machine's, at full CPU speed. At 128 MB Lambda gives a "
        "function a fraction of a vCPU (CPU is allotted in proportion to memory, a full vCPU at 1,769 MB: "
        "https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html), so CPU-bound time — the "
        "whole init of both, and the Python work of the seed's invocations — stretches there, while waiting "
        "on AWS does not; the CPU-time row shows how much of each process is CPU. A real round trip to an AWS "
        "endpoint is ~10–30 ms rather than moto's few ms: section 2 (latency) measures that.")
    return out


def replace_section(document: str, section: str) -> str:
    lines = document.split("\n")
    start = next((i for i, l in enumerate(lines) if l == HEADING), None)
    if start is None:
        at = next((i for b in BEFORE for i, l in enumerate(lines) if l == b), len(lines))
        return "\n".join(lines[:at] + section.split("\n") + lines[at:])
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[:start] + section.split("\n") + lines[end:])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json")
    ap.add_argument("document")
    ap.add_argument("--command", default="BENCH_ONLY=lambda bench/run.sh")
    ap.add_argument("--git", default="")
    args = ap.parse_args()
    with open(args.json) as f:
        data = json.load(f)
    with open(args.document) as f:
        document = f.read()
    with open(args.document, "w") as f:
        f.write(replace_section(document, render(data, args.command, args.git)))
    print(f"[bench] wrote the Lambda costs into {args.document}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
