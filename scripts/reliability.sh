#!/usr/bin/env bash
# The reliability figures: the whole adversity suite (crates/sim/tests/adversity) in full, then
# docs/reliability.md with what it tried and found. Its last line (also printed last here):
#
#   reliability: scenarios=S crash_points=C faults=F schedules=R outside_changes=O bad_inputs=B violations=V
#
# A plain `cargo test` runs a sample of the same suite; this script sets AMIROLL_ADVERSITY=full
# (every call index of every scenario, every timing variant, 40 race cases per scenario and kind).
# Needs cargo and python3. CARGO_TARGET_DIR is honoured. Exits 1 when a violation was found.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

target_dir="${CARGO_TARGET_DIR:-target}"
mkdir -p "$target_dir"
target_dir="$(cd "$target_dir" && pwd)"
results="$target_dir/adversity.jsonl"
log="$target_dir/adversity.log"
rm -f "$results"

echo "==> cargo test --release -p amiroll-sim --test adversity (AMIROLL_ADVERSITY=full)"
set +e
AMIROLL_ADVERSITY=full AMIROLL_ADVERSITY_OUT="$results" \
    cargo test --release -p amiroll-sim --test adversity -- --test-threads=4 >"$log" 2>&1
status=$?
set -e
grep -E '^test |test result' "$log" || true
if [[ ! -s "$results" ]]; then
    echo "scripts/reliability.sh: the suite wrote no results (build failure?); see $log" >&2
    tail -n 40 "$log" >&2
    exit 1
fi

python3 - "$results" docs/reliability.md "$status" <<'PY'
import json, sys, collections
results, out, status = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows, notes = [], []
for line in open(results, encoding="utf-8"):
    line = line.strip()
    if not line:
        continue
    d = json.loads(line)
    (notes if "note" in d else rows).append(d)

keys = ["scenarios", "runs", "crash_points", "faults", "timings", "schedules",
        "outside_changes", "bad_inputs", "checks"]
per = collections.OrderedDict()
for r in rows:
    s = per.setdefault(r["scenario"], {k: 0 for k in keys} | {"violations": [], "max_engines": 0,
                                                             "faults_by_op": collections.Counter()})
    for k in keys:
        s[k] += r.get(k, 0)
    s["max_engines"] = max(s["max_engines"], r.get("max_engines", 0))
    s["faults_by_op"].update(r.get("faults_by_op", {}))
    s["violations"] += [f'({r["test"]}) {v}' for v in r.get("violations", [])]

tot = {k: sum(s[k] for s in per.values()) for k in keys}
max_engines = max([s["max_engines"] for s in per.values()] + [0])
by_op = collections.Counter()
for s in per.values():
    by_op.update(s["faults_by_op"])
violations = [v for s in per.values() for v in s["violations"]]
cov = next((n for n in notes if n.get("note") == "fault-coverage"), {"ops": [], "uncovered": []})

L = []
L.append("# Reliability figures")
L.append("")
L.append("Written by `scripts/reliability.sh` from the adversity suite (`crates/sim/tests/adversity/`) in")
L.append("full mode. Every case runs the real engine and planner against the simulated account, and checks")
L.append("the invariants of `crates/sim/tests/adversity/oracle.rs` after every simulated call and every run,")
L.append("then the scenario's end state. See [testing.md](testing.md#the-adversity-suite) for what each")
L.append("column means. Do not edit by hand: run `scripts/reliability.sh`.")
L.append("")
L.append("| Scenario | Crash points | Faults | Timings | Schedules (engines) | Outside changes | Bad inputs | Runs | Invariant checks | Violations |")
L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for name, s in per.items():
    eng = f' (≤ {s["max_engines"]})' if s["schedules"] else ""
    L.append(f'| {name} | {s["crash_points"]} | {s["faults"]} | {s["timings"]} | {s["schedules"]}{eng} | '
             f'{s["outside_changes"]} | {s["bad_inputs"]} | {s["runs"]} | {s["checks"]} | {len(s["violations"])} |')
L.append(f'| **total** | {tot["crash_points"]} | {tot["faults"]} | {tot["timings"]} | {tot["schedules"]} (≤ {max_engines}) | '
         f'{tot["outside_changes"]} | {tot["bad_inputs"]} | {tot["runs"]} | {tot["checks"]} | {len(violations)} |')
L.append("")
L.append("## Faults per operation")
L.append("")
L.append("| Operation | Faults injected |")
L.append("|---|---:|")
for o in cov.get("ops", []) or sorted(by_op):
    L.append(f"| `{o}` | {by_op.get(o, 0)} |")
if cov.get("uncovered"):
    L.append("")
    L.append("No scenario calls these operations, so no fault hit them: " +
             ", ".join(f"`{o}`" for o in cov["uncovered"]) + ".")
L.append("")
L.append("## Violations")
L.append("")
if violations:
    for name, s in per.items():
        if s["violations"]:
            L.append(f"### {name}")
            L.append("")
            for v in s["violations"]:
                L.append("- " + v.replace("\n", " ").replace("|", "\\|"))
            L.append("")
else:
    L.append("None.")
    L.append("")
scenarios = tot["scenarios"]
line = (f"reliability: scenarios={scenarios} crash_points={tot['crash_points']} faults={tot['faults']} "
        f"schedules={tot['schedules']} outside_changes={tot['outside_changes']} "
        f"bad_inputs={tot['bad_inputs']} violations={len(violations)}")
L.append(line)
open(out, "w", encoding="utf-8").write("\n".join(L) + "\n")
print(f"wrote {out}")
print(line)
PY
if grep -q "the harness is wrong" "$log"; then
    echo "scripts/reliability.sh: the harness reported a case that tested nothing; see $log" >&2
    exit 1
fi
exit $((status == 0 ? 0 : 1))
