#!/usr/bin/env python3
"""The "Build times" section of docs/performance.md, from bench/build-times.json (which
bench/build_times.sh writes).

bench/bench.py puts the section into the document it writes; run directly, this rewrites only that
section of an existing document (bench/run.sh does so with BENCH_BUILD=only or BENCH_BUILD=render):

    python3 bench/build_times_md.py bench/build-times.json docs/performance.md

No dependencies beyond the standard library.
"""

from __future__ import annotations

import json
import sys

HEADING = "## Build times"
# The section goes before this one when the document has no "Build times" yet.
BEFORE = "## Sizes"

WHAT = {
    "cli": "the CLI (`cargo install --locked --path crates/cli`)",
    "lambda": "the Lambda function's `bootstrap` (`deploy/package.sh`)",
}


def settings_text(settings: dict) -> str:
    parts = []
    lto = settings.get("lto")
    if lto is True or lto == "fat":
        parts.append("full LTO")
    elif lto == "thin":
        parts.append("thin LTO")
    elif lto is not None:
        parts.append(f"lto = {json.dumps(lto)}")
    cgu = settings.get("codegen-units")
    parts.append(f"{cgu} codegen unit{'s' if cgu != 1 else ''}" if cgu else "default codegen units (16)")
    parts.append(f"opt-level {settings.get('opt-level', 3)}")
    if settings.get("strip"):
        parts.append("stripped")
    return ", ".join(parts)


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def render(bt: dict) -> str:
    m = bt["machine"]
    L = [HEADING, ""]
    L.append(
        f"Cold builds (an empty target directory; the crates already downloaded, so compile and link "
        f"only), one after the other, measured by `bench/build_times.sh` on {bt['measured_at']}, tree at "
        f"{bt['git']}. `bench/run.sh` renders this section from `bench/build-times.json`; "
        "`BENCH_BUILD=1 bench/run.sh` measures again first, `BENCH_BUILD=only bench/run.sh` measures "
        "and rewrites only this section."
    )
    L.append("")
    L.append(
        f"Machine: {m['cpus']} CPUs ({m['cpu']}), {m['mem_gib']:.1f} GiB RAM, {m['os']}, kernel "
        f"{m['kernel']}; {m['rustc']}."
    )
    L.append("")
    L.append("| what | profile | wall | CPU (user + sys) | peak RSS | binary |")
    L.append("|---|---|---|---|---|---|")
    for name, b in bt["builds"].items():
        L.append(
            f"| {WHAT.get(name, name)} | `{b['profile']}`: {settings_text(b['settings'])} | "
            f"**{minutes(b['wall_s'])}** | {minutes(b['user_s'] + b['sys_s'])} | "
            f"{b['peak_rss_kib'] / 2**20:.1f} GiB | {b['binary_bytes'] / 2**20:.1f} MiB |"
        )
    L.append("")
    L.append("```sh")
    for b in bt["builds"].values():
        L.append(b["command"])
    L.append("```")
    L.append("")
    loads = "; ".join(
        f"{name} {b['load_start']} → {b['load_end']}" for name, b in bt["builds"].items()
    )
    L.append(
        f"- Load average (1/5/15 min) at start → end: {loads}. Other builds shared the two cores, so "
        "the wall times are upper bounds; the CPU time is the steadier figure."
    )
    L.append(
        "- Peak RSS is that of the largest single process of the build (a rustc or the linker): "
        "the machine needs that much free memory."
    )
    L.append(
        "- The two builds compile different crates (the CLI also clap, indicatif and the SSO "
        "credential crates; the function lambda_runtime), so the table shows what a user waits for, "
        "not the two profiles on the same code."
    )
    L.append("")
    return "\n".join(L)


def replace_section(document: str, section: str) -> str:
    """`document` with its "Build times" section replaced by `section` (inserted before "Sizes",
    else at the end, when it has none)."""
    lines = document.split("\n")
    start = next((i for i, l in enumerate(lines) if l == HEADING), None)
    if start is None:
        at = next((i for i, l in enumerate(lines) if l == BEFORE), len(lines))
        return "\n".join(lines[:at] + section.split("\n") + lines[at:])
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[:start] + section.split("\n") + lines[end:])


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        bt = json.load(f)
    with open(sys.argv[2]) as f:
        document = f.read()
    with open(sys.argv[2], "w") as f:
        f.write(replace_section(document, render(bt)))
    print(f"[bench] wrote the build times into {sys.argv[2]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
