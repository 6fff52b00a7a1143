#!/usr/bin/env python3
"""The "Rollout time (virtual time)" section of docs/performance.md, from the JSON that
`cargo run --release -p amiroll-sim --example rollout_time` prints (crates/sim/examples/rollout_time.rs).

bench/bench.py puts the section into the document it writes; run directly, this rewrites only that
section of an existing document (bench/run.sh does so with BENCH_ONLY=rollout):

    python3 bench/rollout_md.py rollout.json docs/performance.md [--command CMD] [--git REV]

No dependencies beyond the standard library.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys

HEADING = "## Rollout time (virtual time)"
# The section goes before the first of these the document has, when it has none yet.
BEFORE = ("## Build times", "## Sizes")


def num(x: float | None, unit: str = "") -> str:
    if x is None:
        return "—"
    s = f"{x:.2f}".rstrip("0").rstrip(".")
    return f"{s}{unit}"


def verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("**PASS**" if ok else "**MISS**")


def hm(minutes: float | None, unit: str = "") -> str:
    """1349.98 → '1349.98 (22 h 30 min)'; with unit " min": '1349.98 min (22 h 30 min)'."""
    if minutes is None:
        return "not finished"
    if minutes < 120:
        return num(minutes, unit)
    h, m = divmod(round(minutes), 60)
    return f"{num(minutes, unit)} ({h} h {m:02d} min)"


def render(data: dict, command: str = "BENCH_ONLY=rollout bench/run.sh", git: str = "", when: str = "") -> str:
    s = data["settings"]
    rows = data["rows"]
    variants = {v["key"]: v for v in s["variants"]}
    sizes = s["sizes"]
    when = when or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    L: list[str] = []
    w = L.append
    w(HEADING)
    w("")
    w(f"Written by `{command}` on {when}{', tree at ' + git if git else ''} — do not edit by hand. "
      f"`crates/sim/examples/rollout_time.rs` rolls a group of N = {', '.join(map(str, sizes))} instances onto a "
      "new AMI in the simulator (`amiroll-sim`, virtual clock, no randomness: the figures are the same on every "
      "run), with amiroll's engine run on the deploy template's schedule, and prints the figures as JSON; "
      "`bench/rollout_md.py` writes this section from them. Issue 15, section 5.")
    w("")
    w("```sh")
    w("cargo run --release -p amiroll-sim --example rollout_time > rollout.json   # --sizes 4,40,400 --no-sweep --publication-offset S")
    w("```")
    w("")
    w("### How it is modelled")
    w("")
    holes = ", ".join(f"{a}→{b}" for a, b in s["follow_up_holes"])
    w(f"- **Schedule** (the defaults of `deploy/template.yaml`, read from the file): the daily run "
      f"`{s['schedule']}` ({', '.join(s['daily_runs'])} {s['time_zone']}) and the follow-up runs "
      f"`{s['follow_up_schedule']}` ({s['follow_up_runs_per_day']} a day, {s['follow_up_first']} to "
      f"{s['follow_up_last']}, every {num(s['follow_up_interval_min'])} min"
      + (f"; no run in the gap {holes}: the minute field `2/2` starts again at minute 2 each hour" if holes else "")
      + "). Each tick is one `amiroll apply`, as the function runs for a scheduled invocation; two schedules "
      "firing at the same minute are one run. The instance-refresh events the template also sends to the "
      "function only announce outcomes, so they change no figure here and are not modelled. A run takes no "
      "virtual time.")
    w(f"- **Publication** (the parameter changes to the new AMI): {s['publication'][11:19]}, one second after "
      "the daily run, for the main table: the next run is the first follow-up run a whole interval later, the "
      "longest wait for a run while the follow-up schedule runs. The second table publishes at every time of "
      "the day.")
    w(f"- **Group**: {s['group']}; health-check grace period {s['health_check_grace_period_s']} s (the console's "
      "default for a new group; the API's is 0) and no `DefaultInstanceWarmup`, so an instance refresh warms "
      f"each new instance up for the grace period. The parameter is `{s['parameter']}` (the template's default).")
    w(f"- **Simulator**: an instance is `Pending` for {s['boot_s']} s after launch (the simulator's default boot "
      "time), then `InService` and healthy (the new AMI is good); terminations are instant (no `Terminating` or "
      "shutdown time, no ECS draining: the group has no cluster); scheduled actions fire exactly on time; an "
      "instance refresh batches by its healthy percentages as `crates/sim/src/lib.rs` describes (launch before "
      "terminate above 100 %; otherwise terminate, then launch; at least one at a time).")
    w("- **Minutes**: from the publication to the termination of the last instance on the old AMI "
      "(`SimAws::instance_lifetimes`). **Lowest healthy**: the fewest instances `InService` and healthy seen "
      "after the publication (`SimAws::min_in_service_healthy_seen`), as a percentage of the original desired "
      "capacity N. **Extra instance-minutes**: ∫ max(0, running − N) dt from the publication to the run that "
      "found the fleet current (`SimAws::instance_seconds_above`; running = launched and not terminated, what "
      "EC2 bills).")
    w("")
    w("### Configurations")
    w("")
    w("| | configuration | settings |")
    w("|---|---|---|")
    for v in s["variants"]:
        w(f"| ({v['key']}) | {v['label']} | {v['settings']} |")
    w("")
    w("The seed itself is not run: its hard-coded `Desire 2` and `Desire 1` would *shrink* a group of 4, 40 or "
      "400 to 2 and then 1 (README, \"Why the seed's approach needed fixing\"), and it only runs once a day. "
      "(d) is its surge as amiroll does it: doubling, for the seed's 14 minutes.")
    w("")
    w("### Goals")
    w("")
    goals = {}
    for r in rows:
        goals.setdefault(r["strategy"], (r["goal_minutes"], r["goal"]))
    for strategy, (minutes, text) in goals.items():
        keys = ", ".join(f"({k})" for k, v in variants.items() if any(r["config"] == k and r["strategy"] == strategy for r in rows))
        w(f"- `{strategy}` {keys}: the last old instance gone within **{num(minutes)} min** of the publication = {text}.")
    w("- amiroll's defaults, (a) and (b): never below 100 % healthy capacity. (c) and (d) are shown for "
      "comparison; the healthy-capacity goal is not theirs.")
    w("")
    w(f"### Results (published {s['publication'][11:19]} UTC)")
    w("")
    w("| N | configuration | minutes | lowest healthy | extra instance-minutes | goal | time goal | ≥ 100 % healthy |")
    w("|---|---|---|---|---|---|---|---|")
    for r in rows:
        w(f"| {r['size']} | ({r['config']}) {r['label']} | {hm(r['minutes'])} | {num(r['lowest_healthy_pct'])} % "
          f"({r['lowest_healthy']} of {r['size']}) | {num(r['extra_instance_minutes'])} | ≤ {num(r['goal_minutes'])} min | "
          f"{verdict(r['time_pass'])} | {verdict(r['healthy_pass'])} |")
    w("")
    w("#### Where the time goes")
    w("")
    for key in variants:
        of = [r for r in rows if r["config"] == key]
        if not of:
            continue
        texts = {r["where_the_time_goes"] for r in of}
        if len(texts) == 1:
            w(f"- ({key}), N = {', '.join(str(r['size']) for r in of)}: {of[0]['where_the_time_goes']}.")
        else:
            for r in of:
                w(f"- ({key}), N = {r['size']}: {r['where_the_time_goes']}.")
    w("")
    sweep = data.get("sweep") or []
    if sweep:
        w("### Publication at any time of the day")
        w("")
        w("One rollout per gap between two consecutive runs, published one second after the earlier run: every "
          "publication in a gap is picked up by the same run, so the rollout after it is the same and only the "
          "wait differs. From these, exactly: **best** = published just before a run (the rollout alone), "
          "**mean** = for a publication time uniform over the day, **worst** = the longest, and the share of the "
          "day whose publications meet the time goal.")
        w("")
        w("| N | configuration | best | mean | worst (published at) | day meeting the time goal | most extra instance-minutes | lowest healthy |")
        w("|---|---|---|---|---|---|---|---|")
        for x in sweep:
            v = variants[x["config"]]
            worst_at = (x.get("worst_publication") or "")[11:19]
            w(f"| {x['size']} | ({x['config']}) {v['label']} | {num(x['best_minutes'])} | "
              f"{hm(x['mean_minutes']) if x['finished_all'] else 'not always finished'} | {hm(x['worst_minutes'])} ({worst_at}) | "
              f"{num(x['share_meeting_time_goal'])} % | {num(x['worst_extra_instance_minutes'])} | {num(x['lowest_healthy_pct'])} % |")
        w("")
        w("Worst cases:")
        w("")
        largest = max(sizes)
        for x in sweep:
            if x["size"] == largest and x.get("worst_where_the_time_goes"):
                w(f"- ({x['config']}), N = {largest}: {x['worst_where_the_time_goes']}.")
        w("")
    w("### What the figures show")
    w("")
    for line in findings(data):
        w(f"- {line}")
    w("")
    return "\n".join(L)


def findings(data: dict) -> list[str]:
    s = data["settings"]
    rows = data["rows"]
    sweep = data.get("sweep") or []
    out: list[str] = []
    by = {(r["size"], r["config"]): r for r in rows}
    sizes = s["sizes"]
    # Verdicts of amiroll's defaults.
    for key in ("a", "b"):
        of = [r for r in rows if r["config"] == key]
        if not of:
            continue
        t = [r for r in of if not r["time_pass"]]
        h = [r for r in of if r["healthy_pass"] is False]
        label = of[0]["label"]
        if not t and not h:
            out.append(f"({key}) {label}: meets both goals at every size when published {s['publication'][11:19]} "
                       f"({', '.join(num(r['minutes']) + ' min' for r in of)}; never below 100 % healthy).")
        else:
            parts = []
            if t:
                parts.append("misses the time goal at N = " + ", ".join(
                    f"{r['size']} ({hm(r['minutes'], ' min')} against {num(r['goal_minutes'])})" for r in t))
            if h:
                parts.append("goes below 100 % healthy at N = " + ", ".join(
                    f"{r['size']} ({num(r['lowest_healthy_pct'])} %)" for r in h))
            if not h:
                parts.append("never below 100 % healthy")
            out.append(f"({key}) {label}: " + "; ".join(parts) + ".")
    # The refresh's boot.
    a = [r for r in rows if r["config"] == "a" and not r["time_pass"] and r["minutes"] is not None]
    if a:
        boot = a[0]["phases"].get("boot_min")
        out.append(
            f"Where (a) loses its time: not in amiroll. The refresh starts in the first run after the publication "
            f"(one API round, no waiting), Auto Scaling launches the whole replacement fleet at once "
            f"(MaxHealthyPercentage 200) and terminates the old one after the warm-up; the {num(boot)} min from "
            "launch to `InService` come before the warm-up starts, and the goal (warm-up + bake + one interval) "
            "does not count them. Only a shorter wait for the run (a publication closer to the next run) makes up "
            "for it: the share of the day meeting the goal is the sum of those moments.")
    # Surge: the gate wait.
    b = [r for r in rows if r["config"] == "b" and r["minutes"] is not None]
    if b:
        ph = b[0]["phases"]
        gate_wait = None
        if ph.get("last_new_in_service_at_min") is not None and ph.get("last_old_gone_at_min") is not None:
            gate_wait = ph["last_old_gone_at_min"] - ph["last_new_in_service_at_min"]
        out.append(
            "(b) spends most of its time waiting: its new instances are in service "
            f"{num(ph.get('last_new_in_service_at_min'))} min after the publication, and then idle "
            f"{num(gate_wait)} min until the health gate opens (3 min before the settle, `surge_minutes` after the "
            "surge) — by design, `surge_minutes` is the surge's bake, and the goal gives it that time. For those "
            f"minutes the group runs 2N instances: {', '.join(num(r['extra_instance_minutes']) + ' extra instance-minutes at N = ' + str(r['size']) for r in b)}, "
            "against "
            + ", ".join(num(by[(r['size'], 'a')]['extra_instance_minutes']) for r in b if (r['size'], 'a') in by)
            + " for (a).")
    same = [n for n in sizes if (n, "b") in by and (n, "d") in by
            and by[(n, "b")]["minutes"] == by[(n, "d")]["minutes"]]
    if same:
        out.append(
            "(d) equals (b) in the main table: with surge_minutes 14 its gate opens a minute earlier, between "
            "two runs of the 2-minute cadence, and the first run in it is the same run as (b)'s; the minute "
            "saved on paper is not saved.")
    # The schedule: daily pickup, doomed rounds, the hole.
    if sweep:
        window = f"{s['follow_up_first']}–{s['follow_up_last']}"
        a_s = [x for x in sweep if x["config"] == "a"]
        if a_s:
            x = a_s[0]
            out.append(
                f"The schedule dominates the time from publication. Only a publication during the follow-up window "
                f"({window} after the daily run at {', '.join(s['daily_runs'])}) is picked up within one interval; "
                f"any other waits for the next daily run, up to {hm(x['worst_minutes'] - x['best_minutes'], ' min')}. "
                f"So for a publication at a random time the mean is {hm(x['mean_minutes'], ' min')} for (a), and the "
                f"time goal holds for {num(x['share_meeting_time_goal'])} % of the day's publication times for (a) "
                + ", ".join(f"and {num(y['share_meeting_time_goal'])} % for ({y['config']})"
                            for y in sweep if y["size"] == x["size"] and y["config"] == "b")
                + ". AWS publishes the ECS-optimized AMI parameters at no fixed time of day; a goal measured from "
                "the publication needs runs that can start a rollout all day (the follow-up cadence only around "
                "rollouts), or a trigger on the parameter change (an EventBridge rule on the SSM parameter's "
                "`Parameter Store Change` event for a parameter of one's own; AWS's public parameters are not "
                "in one's account).")
        for key in ("b", "d"):
            xs = [x for x in sweep if x["config"] == key]
            if not xs:
                continue
            x = xs[0]
            normal = statistics.median(g["minutes_after_pickup"] for g in x["gaps"] if g.get("minutes_after_pickup") is not None)
            doomed = [g for g in x["gaps"] if g.get("minutes_after_pickup") is not None and g["minutes_after_pickup"] > normal + 60]
            slow = [g for g in x["gaps"] if g.get("minutes_after_pickup") is not None and normal < g["minutes_after_pickup"] <= normal + 60]
            pickups = lambda gs: [next_run(x["gaps"], g) for g in gs]
            sm = next((r["surge_minutes"] for r in rows if r["config"] == key and r.get("surge_minutes")), None)
            opens = f"{num(2 + sm - 3)} min (the 2 min lead + surge_minutes {sm} − 3)" if sm else "late"
            if doomed:
                extra = max(y["worst_extra_instance_minutes"] for y in xs)
                out.append(
                    f"({key}) rounds started by the runs at {', '.join(pickups(doomed))} cannot pass their health gate: "
                    f"it opens {opens} after the round starts, after the last follow-up run "
                    f"({s['follow_up_last']}). The dead man's switch removes the new instances (the old fleet is "
                    "safe), the round counts as an attempt, and the next round starts at the next daily run: "
                    f"{hm(max(g['minutes_after_pickup'] for g in doomed), ' min')} after the run instead of {num(normal)}, "
                    f"and a wasted surge (up to {num(extra)} extra instance-minutes at N = {max(sizes)}). amiroll "
                    "does not know the schedule, so it starts a round it cannot finish, unless it is told: with "
                    "`maintenance_window` set to the follow-ups' span (deploy/README.md, \"The follow-up "
                    "schedule\") it starts a round only if the round ends before the window closes.")
            if slow and not s["follow_up_holes"]:
                out.append(
                    f"({key}) rounds started by the runs at {', '.join(pickups(slow))} take "
                    f"{', '.join(num(g['minutes_after_pickup']) for g in slow)} min instead of {num(normal)}: the "
                    "daily run is off the follow-up runs' cadence, so their health gate opens between two "
                    "follow-up runs and the first run in it comes late; the follow-ups never fall together with "
                    "the daily run.")
            elif slow:
                out.append(
                    f"({key}) rounds started by the runs at {', '.join(pickups(slow))} take "
                    f"{', '.join(num(g['minutes_after_pickup']) for g in slow)} min instead of {num(normal)}: their "
                    "health gate falls on the follow-up schedule's gap "
                    + ", ".join(f"{a}→{b}" for a, b in s["follow_up_holes"])
                    + (" (the first run in the gate comes late)" if key == "b" else
                       " (no run in the gate at all: the round ends on the dead man's switch and a second round follows)")
                    + ". A cadence with no gap at the hour (`cron(1/2 13-14 * * ? *)`, the template's default) "
                    "has none.")
    # Console defaults.
    c = [r for r in rows if r["config"] == "c" and r["minutes"] is not None]
    if c:
        out.append(
            "(c), the console's defaults (90 % / 100 %), never launches before it terminates: no extra instances, "
            "but capacity below N for the whole refresh (lowest "
            + ", ".join(f"{num(r['lowest_healthy_pct'])} % at N = {r['size']}" for r in c)
            + ") and one wave per 10 % of the group (at least one instance), each a boot plus a warm-up: "
            + ", ".join(f"{num(r['minutes'])} min at N = {r['size']}" for r in c) + ".")
    # Wall time.
    walls = [r for r in rows if r["size"] == max(sizes)]
    if walls:
        out.append(
            f"Simulator speed: one rollout at N = {max(sizes)} takes "
            + ", ".join(f"{num(r['wall_ms'])} ms ({r['config']})" for r in walls)
            + f" of wall time (release build); the whole program, {len(rows)} rollouts plus "
            f"{sum(len(x['gaps']) for x in sweep)} for the publication sweep, {num(data['wall_s'])} s.")
    return out


def next_run(gaps: list[dict], g: dict) -> str:
    """The run that picks up a publication in gap `g` (the next gap's start, or the first of the
    next day)."""
    i = gaps.index(g)
    nxt = gaps[i + 1] if i + 1 < len(gaps) else gaps[0]
    return nxt["after_run"][:5]


def replace_section(document: str, section: str) -> str:
    """`document` with its "Rollout time" section replaced by `section` (inserted before "Build
    times", else "Sizes", else at the end, when it has none)."""
    lines = document.split("\n")
    start = next((i for i, l in enumerate(lines) if l == HEADING), None)
    if start is None:
        at = next((i for i, l in enumerate(lines) if l in BEFORE), len(lines))
        return "\n".join(lines[:at] + section.split("\n") + lines[at:])
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[:start] + section.split("\n") + lines[end:])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json")
    ap.add_argument("document")
    ap.add_argument("--command", default="BENCH_ONLY=rollout bench/run.sh")
    ap.add_argument("--git", default="")
    args = ap.parse_args()
    with open(args.json) as f:
        data = json.load(f)
    with open(args.document) as f:
        document = f.read()
    with open(args.document, "w") as f:
        f.write(replace_section(document, render(data, args.command, args.git)))
    print(f"[bench] wrote the rollout times into {args.document}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
