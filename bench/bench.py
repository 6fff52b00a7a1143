#!/usr/bin/env python3
"""The benchmark driver behind bench/run.sh (run that, not this).

For each N it resets the emulator, creates N targets (launch template, group, SSM parameter each,
all current), warms the emulator, then measures — interleaved, `--repeats` times — the seed's
handler looped over the N targets in one Python process (bench/seed_loop.py), `amiroll check` and
`amiroll apply --dry-run`. Each run: wall time, CPU time (user+sys), peak RSS (`/usr/bin/time -v`)
and the AWS calls the emulator received (bench/count_server.py). Then a drift run of the seed, the
binary sizes, and docs/performance.md.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timezone

import boto3
import botocore
import moto

import build_times_md
import rollout_md

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
REGION = "us-east-1"
ECS_PARAM = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
CURRENT_MSG = "AMI was not updated. AMI is current."
USER_DATA = "#!/bin/bash\necho ECS_CLUSTER=bench >> /etc/ecs/ecs.config\nmount -a\n"
TOOLS = ("seed", "check", "apply")
TOOL_TITLES = {
    "seed": "seed handler, looped in one Python process",
    "check": "`amiroll check`",
    "apply": "`amiroll apply --dry-run`",
}


def budget(n: int) -> int:
    return 3 + math.ceil(n / 10) + 2 * math.ceil(n / 100)


# --- the emulator ------------------------------------------------------------------------------


class Emulator:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        kw = dict(
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        self.ec2 = boto3.client("ec2", **kw)
        self.ssm = boto3.client("ssm", **kw)
        self.asg = boto3.client("autoscaling", **kw)
        self.sns = boto3.client("sns", **kw)
        self.sts = boto3.client("sts", **kw)
        self.ecs = boto3.client("ecs", **kw)

    def _get(self, path: str, method: str = "GET") -> dict:
        req = urllib.request.Request(self.url + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=60) as r:
            body = r.read()
        try:
            return json.loads(body)
        except ValueError:
            return {}

    def reset(self) -> None:
        self._get("/moto-api/reset", "POST")
        self.reset_counts()

    def reset_counts(self) -> None:
        self._get("/__reset")

    def counts(self) -> dict:
        return self._get("/__counts")

    def warm(self, template_id: str | None, group: str | None, param: str | None, topic: str | None,
             ami: str | None = None) -> None:
        """One call per service the tools use, so no measured run pays a backend's lazy load."""
        self.sts.get_caller_identity()
        self.ssm.get_parameters(Names=[param or ECS_PARAM])
        self.ec2.describe_launch_template_versions(Versions=["$Default", "$Latest"], MaxResults=5)
        if template_id:
            self.ec2.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=["$Latest"])
        self.ec2.describe_instances(MaxResults=5)
        self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group] if group else [], MaxRecords=1)
        self.asg.describe_scheduled_actions(AutoScalingGroupName=group or "none")
        self.ec2.describe_images(ImageIds=[ami] if ami else [], Owners=["amazon"])
        self.ec2.describe_instance_types(InstanceTypes=["t3.micro"])
        self.ecs.describe_capacity_providers()
        if topic:
            self.sns.get_topic_attributes(TopicArn=topic)
        self.reset_counts()

    def pick_amis(self) -> tuple[str, str, str]:
        """(current, new, how): two x86_64 AMIs of moto's default set, read now."""
        images = self.ec2.describe_images(Owners=["amazon"])["Images"]
        by_id = {i["ImageId"]: i for i in images if i.get("Architecture") == "x86_64" and i.get("State") == "available"}
        new = self.ssm.get_parameter(Name=ECS_PARAM)["Parameter"]["Value"]
        ecs = sorted(
            (i for i in by_id.values() if re.match(r"al2023-ami-ecs-hvm-.*-x86_64", i.get("Name", "")) and i["ImageId"] != new),
            key=lambda i: i["Name"],
        )
        if new in by_id and ecs:
            cur = ecs[-1]
            return cur["ImageId"], new, (
                f"current = {cur['ImageId']} ({cur['Name']}), the newest other AL2023 ECS image in moto's set; "
                f"new (drift run only) = {new}, the value of moto's {ECS_PARAM}"
            )
        ids = sorted(by_id)
        return ids[0], ids[1], f"current = {ids[0]}, new = {ids[1]}: the first two x86_64 Amazon images by id"

    def setup(self, n: int, ami: str, workdir: str) -> dict:
        """N targets: template bench-N-i, group bench-N-i, parameter /bench/N/i/image_id, one topic."""
        topic = self.sns.create_topic(Name=f"bench-{n}")["TopicArn"]
        user_data = base64.b64encode(USER_DATA.encode()).decode()
        targets = []
        for i in range(n):
            name = f"bench-{n}-{i}"
            param = f"/bench/{n}/{i}/image_id"
            self.ssm.put_parameter(Name=param, Value=ami, Type="String", Overwrite=True)
            lt = self.ec2.create_launch_template(
                LaunchTemplateName=name,
                LaunchTemplateData={"ImageId": ami, "InstanceType": "t3.micro", "UserData": user_data},
            )["LaunchTemplate"]["LaunchTemplateId"]
            self.asg.create_auto_scaling_group(
                AutoScalingGroupName=name,
                LaunchTemplate={"LaunchTemplateId": lt, "Version": "$Default"},
                MinSize=1,
                MaxSize=2,
                DesiredCapacity=1,
                AvailabilityZones=[f"{REGION}a"],
                TerminationPolicies=["OldestLaunchTemplate"],
            )
            targets.append({"launch_template_id": lt, "image_id_ssm_parameter": param, "sns_arn": topic, "asg_name": name})
        seed_targets = os.path.join(workdir, f"targets-{n}.json")
        with open(seed_targets, "w") as f:
            json.dump(targets, f, indent=1)
        toml = [
            f"# {n} targets created by bench/bench.py",
            "[defaults]",
            'strategy = "scheduled-surge"',
            f'sns_topic = "{topic}"',
            "",
        ]
        for i, t in enumerate(targets):
            toml += [
                "[[target]]",
                f'name = "t{i}"',
                f'launch_template = "{t["launch_template_id"]}"',
                f'ami_parameter = "{t["image_id_ssm_parameter"]}"',
                f'groups = ["{t["asg_name"]}"]',
                "",
            ]
        config = os.path.join(workdir, f"amiroll-{n}.toml")
        with open(config, "w") as f:
            f.write("\n".join(toml))
        return {"targets": targets, "seed_targets": seed_targets, "config": config, "topic": topic}


# --- measuring one process -----------------------------------------------------------------------


def parse_time_v(path: str) -> dict:
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.strip().rpartition(": ")
            if k == "Maximum resident set size (kbytes)":
                out["maxrss_kb"] = int(v)
            elif k == "User time (seconds)":
                out["time_user_s"] = float(v)
            elif k == "System time (seconds)":
                out["time_sys_s"] = float(v)
            elif k.startswith("Elapsed (wall clock) time"):
                out["time_elapsed"] = v
    return out


def measure(argv: list[str], env: dict, emu: Emulator, workdir: str, tag: str) -> dict:
    """Run argv under /usr/bin/time -v; wall by perf_counter, user+sys (µs) by wait4, peak RSS by
    time -v, calls by the counting server (reset just before). `server_ms` is moto's time summed
    per request (overlapping requests count their overlap more than once); `busy_ms` is the
    wall-clock time moto was answering at least one of them — the figure to subtract from wall."""
    tfile = os.path.join(workdir, f"{tag}.time")
    ofile = os.path.join(workdir, f"{tag}.out")
    efile = os.path.join(workdir, f"{tag}.err")
    emu.reset_counts()
    with open(ofile, "w") as out, open(efile, "w") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(["/usr/bin/time", "-v", "-o", tfile] + argv, env=env, stdout=out, stderr=err, cwd=ROOT)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    counts = emu.counts()
    tv = parse_time_v(tfile)
    with open(ofile) as f:
        stdout = f.read()
    with open(efile) as f:
        stderr = f.read()
    return {
        "exit": p.returncode,
        "wall_ms": wall * 1000,
        "cpu_ms": (ru.ru_utime + ru.ru_stime) * 1000,
        "rss_mib": tv.get("maxrss_kb", 0) / 1024,
        "time_v": tv,
        "calls": counts.get("total", 0),
        "by_action": counts.get("calls", {}),
        "server_ms": sum(counts.get("server_ms", {}).values()),
        "busy_ms": counts.get("busy_ms", 0.0),
        "server_by_action": counts.get("server_ms", {}),
        "max_in_flight": counts.get("max_in_flight", 0),
        # Spawn to the first request moto received, and moto's last answer to exit (perf_counter is
        # CLOCK_MONOTONIC, the clock count_server.py stamps requests with).
        "startup_ms": (counts["first_request_at"] - t0) * 1000 if counts.get("first_request_at") else None,
        "tail_ms": (t0 + wall - counts["last_response_at"]) * 1000 if counts.get("last_response_at") else None,
        "stdout": stdout,
        "stderr": stderr,
    }


def tool_env(base: str, endpoint: str) -> dict:
    """A clean environment: no inherited AWS_* / AMIROLL_* settings, fake credentials, empty
    shared config files, no IMDS, both tools pointed at the emulator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AMIROLL_"))}
    cfg = os.path.join(base, "aws-config")
    creds = os.path.join(base, "aws-credentials")
    for p in (cfg, creds):
        open(p, "w").close()
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=cfg,
        AWS_SHARED_CREDENTIALS_FILE=creds,
        AWS_ENDPOINT_URL=endpoint,
    )
    return env


def argv_for(tool: str, amiroll: str, setup: dict, summary: str | None = None) -> list[str]:
    if tool == "seed":
        return [sys.executable, os.path.join(HERE, "seed_loop.py"), setup["seed_targets"]] + ([summary] if summary else [])
    if tool == "check":
        return [amiroll, "--config", setup["config"], "check"]
    return [amiroll, "--config", setup["config"], "apply", "--dry-run"]


def verdict(tool: str, r: dict, n: int, summary_path: str | None) -> str | None:
    """None when the run did what the benchmark expects (the no-op path), else what went wrong."""
    if tool == "seed":
        if r["exit"] != 0:
            return f"exit {r['exit']}: {tail(r['stderr'])}"
        with open(summary_path) as f:
            results = json.load(f)
        bad = [x for x in results if not x["ok"] or x.get("result") != CURRENT_MSG]
        if len(results) != n or bad:
            return f"{len(bad)} of {len(results)} handler calls not on the 'AMI is current' path: {bad[:1]}"
        return None
    if r["exit"] != 0:
        return f"exit {r['exit']}: {tail(r['stderr']) or tail(r['stdout'])}"
    return None


def tail(text: str, lines: int = 3) -> str:
    return " / ".join(x.strip() for x in text.strip().splitlines()[-lines:])[:600]


def stats(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


# --- the run -----------------------------------------------------------------------------------


def machine(amiroll: str) -> dict:
    def sh(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=30).stdout.strip()
        except OSError:
            return "?"

    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    osname = platform.platform()
    if os.path.exists("/etc/os-release"):
        with open("/etc/os-release") as f:
            m = re.search(r'^PRETTY_NAME="?([^"\n]*)', f.read(), re.M)
            if m:
                osname = f"{m.group(1)}, kernel {platform.release()}"
    head = sh(["git", "rev-parse", "--short", "HEAD"])
    dirty = sh(["git", "status", "--porcelain", "--untracked-files=no"])
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": mem_kb / 1024 / 1024,
        "os": osname,
        "rustc": sh(["rustc", "--version"]),
        "moto": moto.__version__,
        "python": platform.python_version(),
        "boto3": f"{boto3.__version__} (botocore {botocore.__version__})",
        "amiroll": sh([amiroll, "--version"]),
        "git": f"{head}{' + uncommitted changes' if dirty else ''}",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def release_profile() -> str:
    """The `release` profile's settings, read from the workspace Cargo.toml (what the binary measured
    here was built with), in the words of the "Build times" section."""
    import tomllib

    from build_times_md import settings_text
    with open(os.path.join(ROOT, "Cargo.toml"), "rb") as f:
        return settings_text(tomllib.load(f).get("profile", {}).get("release", {}))


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def sizes(amiroll: str, workdir: str, target_dir: str) -> dict:
    """The binary's size; when it still has symbols (`file` does not say "stripped"), also its size
    after `strip -o`."""
    out = {"binary": os.path.getsize(amiroll)}
    if shutil.which("file"):
        desc = subprocess.run(["file", "-L", amiroll], capture_output=True, text=True).stdout
        out["already_stripped"] = ", stripped" in desc
    stripped = os.path.join(workdir, "amiroll.stripped")
    if (not out.get("already_stripped") and shutil.which("strip")
            and subprocess.run(["strip", "-o", stripped, amiroll]).returncode == 0
            and os.path.getsize(stripped) < out["binary"]):
        out["stripped"] = os.path.getsize(stripped)
    zip_path = os.path.join(target_dir, "lambda", "amiroll-x86_64.zip")
    if os.path.exists(zip_path):
        out["lambda_zip"] = os.path.getsize(zip_path)
        out["lambda_zip_mtime"] = datetime.fromtimestamp(os.path.getmtime(zip_path), timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return out


def baselines(env: dict, emu: Emulator, workdir: str, amiroll: str, repeats: int) -> dict:
    """Process start-up alone: what every run pays before its first AWS call."""
    cases = {
        "amiroll_version": [amiroll, "--version"],
        "python_import_boto3": [sys.executable, "-c", "import boto3"],
        "python_boto3_4_clients": [sys.executable, "-c",
                                   "import boto3\nfor s in ('ssm','ec2','autoscaling','sns'): boto3.client(s)"],
    }
    out = {}
    for name, argv in cases.items():
        runs = [measure(argv, env, emu, workdir, f"base-{name}-{i}") for i in range(repeats)]
        out[name] = {k: stats([r[k] for r in runs]) for k in ("wall_ms", "cpu_ms", "rss_mib")}
    return out


def verbose_check(env: dict, emu: Emulator, workdir: str, amiroll: str, setup: dict, n: int) -> dict:
    """One `amiroll -v check`: the engine's own per-operation call counts, next to the server's."""
    r = measure([amiroll, "-v", "--config", setup["config"], "check"], env, emu, workdir, f"verbose-{n}")
    plain = re.sub(r"\x1b\[[0-9;]*m", "", r["stderr"])
    line = next((x for x in plain.splitlines() if "AWS calls made" in x), "")
    m = re.search(r"calls=(\{.*?\})", line)
    return {"engine_counts": m.group(1) if m else line.strip(), "server_counts": r["by_action"], "exit": r["exit"]}


def emulator_floor(emu: Emulator, setup: dict, ami: str, repeats: int) -> dict:
    """What moto alone needs to answer the reads a no-op check of these N targets cannot avoid,
    sent one at a time by the bench's own boto3 clients: GetParameters for the N parameters (10
    names per request), DescribeAutoScalingGroups for the N groups (100 names, MaxRecords 100),
    the account-wide DescribeLaunchTemplateVersions ($Default, MaxResults 200) and DescribeImages
    for the one AMI in use, every NextToken followed. The counters are reset before each repeat;
    the figure is moto busy ms (the same union-of-intervals measure as the tools' runs). No client
    can check the N targets against this emulator in less wall time than that."""
    params = [t["image_id_ssm_parameter"] for t in setup["targets"]]
    groups = [t["asg_name"] for t in setup["targets"]]

    def reads() -> None:
        for i in range(0, len(params), 10):
            emu.ssm.get_parameters(Names=params[i:i + 10])
        for i in range(0, len(groups), 100):
            kw: dict = {"AutoScalingGroupNames": groups[i:i + 100], "MaxRecords": 100}
            while True:
                page = emu.asg.describe_auto_scaling_groups(**kw)
                if not page.get("NextToken"):
                    break
                kw["NextToken"] = page["NextToken"]
        kw = {"Versions": ["$Default"], "MaxResults": 200}
        while True:
            page = emu.ec2.describe_launch_template_versions(**kw)
            if not page.get("NextToken"):
                break
            kw["NextToken"] = page["NextToken"]
        emu.ec2.describe_images(ImageIds=[ami])

    runs = []
    for _ in range(max(1, repeats)):
        emu.reset_counts()
        t0 = time.perf_counter()
        reads()
        client_wall = time.perf_counter() - t0
        c = emu.counts()
        runs.append({
            "busy_ms": c.get("busy_ms", 0.0),
            "server_ms": sum(c.get("server_ms", {}).values()),
            "calls": c.get("total", 0),
            "by_action": c.get("calls", {}),
            "server_by_action": c.get("server_ms", {}),
            "max_in_flight": c.get("max_in_flight", 0),
            "boto3_wall_ms": client_wall * 1000,
        })
    emu.reset_counts()
    busy = [r["busy_ms"] for r in runs]
    return {"busy_ms": stats(busy), "repeats": len(runs), "runs": runs}


def memory_breakdown(env: dict, workdir: str, amiroll: str, config: str) -> dict:
    """What amiroll's resident memory is made of: `amiroll check` is pointed at a listener that
    accepts and never answers, so the process stops inside its first AWS call (all set-up done);
    /proc/PID/smaps is read there. With heaptrack installed, also the peak heap of a full run."""
    out: dict = {}
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(8)
    conns: list = []
    threading.Thread(target=lambda: [conns.append(lst.accept()) for _ in range(8)], daemon=True).start()
    stalled = dict(env, AWS_ENDPOINT_URL=f"http://127.0.0.1:{lst.getsockname()[1]}")
    p = subprocess.Popen([amiroll, "--config", config, "check"], env=stalled,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not conns and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        kb: dict = {}
        name = ""
        with open(f"/proc/{p.pid}/smaps") as f:
            for line in f:
                head = line.split()
                if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                    name = head[5] if len(head) > 5 else "[anon]"
                elif head[0] == "Rss:":
                    kb[name] = kb.get(name, 0) + int(head[1])
        out["stalled_rss_kb"] = sum(kb.values())
        out["binary_kb"] = kb.get(os.path.realpath(amiroll), 0)
        out["anon_kb"] = sum(v for k, v in kb.items() if not k.startswith("/"))
        out["libs_kb"] = out["stalled_rss_kb"] - out["binary_kb"] - out["anon_kb"]
        out["threads"] = len(os.listdir(f"/proc/{p.pid}/task"))
    except OSError as e:
        out["error"] = str(e)
    finally:
        p.kill()
        p.wait()
        for c, _ in conns:
            c.close()
        lst.close()
    if shutil.which("heaptrack") and shutil.which("heaptrack_print"):
        base = os.path.join(workdir, "heaptrack-check")
        subprocess.run(["heaptrack", "-o", base, amiroll, "--config", config, "check"], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=workdir)
        data = next((base + ext for ext in (".zst", ".gz", "") if os.path.exists(base + ext)), None)
        if data:
            text = subprocess.run(["heaptrack_print", data], capture_output=True, text=True).stdout
            m = re.search(r"peak heap memory consumption: (\S+)", text)
            if m:
                out["peak_heap"] = m.group(1)
    return out


def drift(env: dict, emu: Emulator, workdir: str, amiroll: str, setup: dict, new_ami: str) -> dict:
    """Target 0 of the current setup gets a new AMI in its parameter. amiroll check and apply
    --dry-run look at it (read-only); then the seed's handler runs once on it, for real."""
    t = setup["targets"][0]
    ec2, asg = emu.ec2, emu.asg
    emu.ssm.put_parameter(Name=t["image_id_ssm_parameter"], Value=new_ami, Type="String", Overwrite=True)
    one = dict(setup)
    one_targets = os.path.join(workdir, "drift-target.json")
    with open(one_targets, "w") as f:
        json.dump([t], f)
    one["seed_targets"] = one_targets
    res = {"new_ami": new_ami}
    for tool in ("check", "apply"):
        r = measure(argv_for(tool, amiroll, one), env, emu, workdir, f"drift-{tool}")
        res[tool] = {k: r[k] for k in ("exit", "wall_ms", "cpu_ms", "rss_mib", "calls", "by_action")}
        res[tool]["stdout"] = r["stdout"]
    summary = os.path.join(workdir, "drift-summary.json")
    r = measure(argv_for("seed", amiroll, one, summary), env, emu, workdir, "drift-seed")
    res["seed"] = {k: r[k] for k in ("exit", "wall_ms", "cpu_ms", "rss_mib", "calls", "by_action", "stdout")}
    res["seed"]["summary"] = json.load(open(summary)) if os.path.exists(summary) else None
    # What the seed left behind.
    lt = ec2.describe_launch_templates(LaunchTemplateIds=[t["launch_template_id"]])["LaunchTemplates"][0]
    versions = ec2.describe_launch_template_versions(LaunchTemplateId=t["launch_template_id"])["LaunchTemplateVersions"]
    res["template"] = {
        "default": lt["DefaultVersionNumber"],
        "latest": lt["LatestVersionNumber"],
        "versions": [
            {"n": v["VersionNumber"], "image": v["LaunchTemplateData"].get("ImageId"),
             "keys": sorted(v["LaunchTemplateData"])}
            for v in sorted(versions, key=lambda v: v["VersionNumber"])
        ],
    }
    actions = asg.describe_scheduled_actions(AutoScalingGroupName=t["asg_name"])["ScheduledUpdateGroupActions"]
    res["scheduled_actions"] = [
        {"name": a["ScheduledActionName"], "desired": a.get("DesiredCapacity"), "start": str(a.get("StartTime"))}
        for a in actions
    ]
    emu.reset_counts()
    return res


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--amiroll", required=True)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--sizes", default="1,50,200")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--target-dir", required=True)
    ap.add_argument("--command", default="bench/run.sh")
    ap.add_argument("--raw", help="also write every measurement here (JSON)")
    ap.add_argument("--build-times", help="bench/build-times.json (bench/build_times.sh): add its section")
    ap.add_argument("--rollout-time", help="the JSON of the rollout_time example (bench/run.sh): add its section")
    ap.add_argument("--latency", choices=("yes", "no", "only"), default="yes",
                    help="the latency, close-to-the-limit and write-path sections (bench/latency.py); "
                         "only: measure just those and rewrite them in --out")
    ap.add_argument("--delay-ms", type=float, default=20.0, help="the latency proxy's delay per request")
    args = ap.parse_args()
    if args.latency == "only":
        return latency_only(args)
    sizes_n = [int(x) for x in args.sizes.split(",")]
    work = tempfile.mkdtemp(prefix="amiroll-bench-")
    env = tool_env(work, args.endpoint)
    emu = Emulator(args.endpoint)
    info = machine(args.amiroll)
    started = time.time()

    emu.reset()
    current_ami, new_ami, ami_how = emu.pick_amis()
    log(f"AMIs: {ami_how}")
    results: dict = {"machine": info, "ami": ami_how, "sizes": {}, "load": {"start": loadavg()}}
    drift_result = None
    for n in sizes_n:
        emu.reset()
        t0 = time.perf_counter()
        setup = emu.setup(n, current_ami, work)
        log(f"N={n}: set up in {time.perf_counter() - t0:.1f}s")
        t = setup["targets"][0]
        emu.warm(t["launch_template_id"], t["asg_name"], t["image_id_ssm_parameter"], setup["topic"], current_ami)
        # One unmeasured run of each, so every measured run finds warm caches (emulator and OS).
        for tool in TOOLS:
            measure(argv_for(tool, args.amiroll, setup), env, emu, work, f"warmup-{n}-{tool}")
        runs: dict = {tool: [] for tool in TOOLS}
        problems: dict = {tool: [] for tool in TOOLS}
        load_before = loadavg()
        for rep in range(args.repeats):
            for tool in TOOLS:
                summary = os.path.join(work, f"seed-summary-{n}-{rep}.json") if tool == "seed" else None
                r = measure(argv_for(tool, args.amiroll, setup, summary), env, emu, work, f"{n}-{tool}-{rep}")
                problem = verdict(tool, r, n, summary)
                if problem:
                    problems[tool].append(problem)
                r.pop("stdout")
                r.pop("stderr")
                runs[tool].append(r)
                log(f"N={n} {tool} #{rep + 1}: {r['wall_ms']:.1f} ms wall, {r['cpu_ms']:.1f} ms CPU, "
                    f"{r['rss_mib']:.1f} MiB, {r['calls']} calls{' — ' + problem if problem else ''}")
        floor = emulator_floor(emu, setup, current_ami, args.repeats)
        log(f"N={n} emulator floor: moto busy {floor['busy_ms']['median']:.1f} ms (median of {floor['repeats']}) "
            f"for {floor['runs'][0]['calls']} unavoidable reads")
        results["sizes"][n] = {
            "runs": runs,
            "problems": problems,
            "floor": floor,
            "verbose": verbose_check(env, emu, work, args.amiroll, setup, n),
            "load": [load_before, loadavg()],
        }
        if n == sizes_n[0]:
            results["trust_store"] = small_trust_store(env, emu, work, args.amiroll, setup, args.repeats)
            results["memory"] = memory_breakdown(env, work, args.amiroll, setup["config"])
            drift_result = drift(env, emu, work, args.amiroll, setup, new_ami)
            log(f"seed drift run: exit {drift_result['seed']['exit']}")
    results["drift"] = drift_result
    if args.latency == "yes":
        import latency
        results["latency"] = latency.run(emu, env, work, args.amiroll, args.repeats, current_ami, new_ami,
                                         args.delay_ms)
    results["baselines"] = baselines(env, emu, work, args.amiroll, args.repeats)
    results["binary"] = sizes(args.amiroll, work, args.target_dir)
    results["load"]["end"] = loadavg()
    results["duration_s"] = time.time() - started
    if args.raw:
        with open(args.raw, "w") as f:
            json.dump(results, f, indent=1, default=str)
    with open(args.out, "w") as f:
        f.write(render(results, args))
    log(f"wrote {args.out} (work files in {work})")
    return 0


def latency_only(args) -> int:
    """BENCH_ONLY=latency: measure sections 2–4 of issue 15 (bench/latency.py) and rewrite only
    those sections of the existing document."""
    import latency
    work = tempfile.mkdtemp(prefix="amiroll-bench-")
    env = tool_env(work, args.endpoint)
    emu = Emulator(args.endpoint)
    emu.reset()
    current_ami, new_ami, ami_how = emu.pick_amis()
    log(f"AMIs: {ami_how}")
    m = machine(args.amiroll)
    res = latency.run(emu, env, work, args.amiroll, args.repeats, current_ami, new_ami, args.delay_ms)
    if args.raw:
        with open(args.raw, "w") as f:
            json.dump(res, f, indent=1, default=str)
    document = open(args.out).read() if os.path.exists(args.out) else ""
    with open(args.out, "w") as f:
        f.write(latency.replace_sections(document, latency.render(res, args.command, m["git"], m["date"])))
    log(f"wrote the latency sections into {args.out} ({res['duration_s'] / 60:.1f} min; work files in {work})")
    return 0


def small_trust_store(env: dict, emu: Emulator, workdir: str, amiroll: str, setup: dict, repeats: int) -> dict:
    """Diagnostic: `amiroll check` with a trust store of one certificate (SSL_CERT_FILE, and
    SSL_CERT_DIR pointing nowhere). The AWS SDK for Rust loads the system's TLS root certificates
    when it builds its HTTPS client, before the first request, even when the endpoint is the
    emulator's http:// URL; boto3 reads its CA bundle only when it opens an HTTPS connection, so
    against the emulator the seed never pays for it. Against AWS both do. Not used for the goals."""
    bundle = next((p for p in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")
                   if os.path.exists(p)), None)
    if not bundle:
        return {}
    one = os.path.join(workdir, "one-ca.pem")
    with open(bundle) as src, open(one, "w") as dst:
        block = []
        for line in src:
            block.append(line)
            if line.startswith("-----END CERTIFICATE-----"):
                break
        dst.write("".join(block))
    small = dict(env, SSL_CERT_FILE=one, SSL_CERT_DIR=os.path.join(workdir, "no-such-dir"))
    runs = {"system": [], "one": []}
    for rep in range(repeats):
        for key, e in (("system", env), ("one", small)):
            r = measure(argv_for("check", amiroll, setup), e, emu, workdir, f"trust-{key}-{rep}")
            r.pop("stdout")
            r.pop("stderr")
            runs[key].append(r)
    out = {"bundle": bundle}
    for key, rs in runs.items():
        out[key] = {
            "wall_ms": statistics.median(r["wall_ms"] for r in rs),
            "startup_ms": statistics.median(r["startup_ms"] for r in rs if r.get("startup_ms") is not None)
            if any(r.get("startup_ms") is not None for r in rs) else None,
        }
    log(f"trust store: system {out['system']['wall_ms']:.1f} ms, one certificate {out['one']['wall_ms']:.1f} ms")
    return out


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# --- docs/performance.md -----------------------------------------------------------------------


def agg(runs: list[dict]) -> dict:
    return {k: stats([r[k] for r in runs]) for k in ("wall_ms", "cpu_ms", "rss_mib", "calls", "server_ms", "busy_ms")}


def sent(runs: list[dict]) -> str:
    """How the requests of these runs reached moto, from the most it answered at the same time."""
    inflight = max((r.get("max_in_flight", 0) for r in runs), default=0)
    return "one at a time (never more than 1 in flight)" if inflight <= 1 else f"up to {inflight} at once"


def fmt(s: dict, digits: int = 1) -> str:
    m, lo, hi = s["median"], s["min"], s["max"]
    if lo == hi:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ({lo:.{digits}f}–{hi:.{digits}f})"


def fmt_calls(s: dict) -> str:
    m, lo, hi = s["median"], s["min"], s["max"]
    return f"{m:g}" if lo == hi else f"{m:g} ({lo:g}–{hi:g})"


def by_action(run: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(run["by_action"].items())) or "none"


def render(res: dict, args) -> str:
    m = res["machine"]
    L: list[str] = []
    w = L.append
    w("# Performance: the seed's Lambda vs amiroll")
    w("")
    w(f"Written by `{args.command}` on {m['date']} — do not edit by hand; run the script again. "
      f"{args.repeats} measured runs per cell, median with (min–max).")
    w("")
    w("## Machine")
    w("")
    w(f"- {m['nproc']} CPUs: {m['cpu']}; {m['ram_gib']:.1f} GiB RAM; {m['os']}")
    w(f"- {m['rustc']}; amiroll {m['amiroll'].replace('amiroll ', '')} (release profile: {release_profile()}), tree at {m['git']}")
    w(f"- Python {m['python']}, boto3 {m['boto3']}, moto {m['moto']} (tests/moto/server.py with its shims)")
    w(f"- Load average (1/5/15 min) at start {res['load']['start']}, at end {res['load']['end']}; "
      "other work on the machine (builds) shows up as noise.")
    w("")
    w("## How it is measured")
    w("")
    w("```sh")
    w(args.command)
    w("```")
    w("")
    w("- Emulator: `bench/count_server.py` = `tests/moto/server.py` unchanged (the emulator the project's "
      "tests use, with all its shims, including AWS's paging: the account-wide "
      "`DescribeLaunchTemplateVersions` ($Latest/$Default) returns a `NextToken` past `MaxResults`, and "
      "`DescribeInstances` with `InstanceIds` answers in one response), plus a WSGI middleware that counts "
      "every request as `service:Action`, sums the time moto spends answering each (per action; "
      "requests answered at the same time overlap, so the sum can exceed the wall time) and measures "
      "**moto busy ms**: the wall-clock time during which moto was answering at least one request (the "
      "union of the requests' intervals; equal to the sum when requests come one at a time). "
      "127.0.0.1 only.")
    w(f"- Targets per N: launch template `bench-N-i` (ImageId, InstanceType, UserData), group "
      "`bench-N-i` (min 1, max 2, desired 1, `$Default`, `OldestLaunchTemplate`), parameter "
      f"`/bench/N/i/image_id` holding the AMI the template already uses, one SNS topic. AMIs: {res['ami']}.")
    w("- **seed**: `bench/seed_loop.py` imports `bench/seed_lambda.py` (the seed's `lambda_handler`, "
      "verbatim) and calls it once per target in one Python process, with the four environment "
      "variables set before each call. Its boto3 reaches the emulator through `AWS_ENDPOINT_URL`.")
    w("- **check** / **apply**: `target/release/amiroll --config amiroll-N.toml check` / `apply --dry-run`, "
      "a config with N `[[target]]` tables, `strategy = \"scheduled-surge\"`, `sns_topic` set. A fresh "
      "process each run: the time includes process start, config parsing and credential resolution.")
    w("- Environment of both: no inherited `AWS_*`, fake keys, `AWS_REGION`/`AWS_DEFAULT_REGION=us-east-1`, "
      "`AWS_EC2_METADATA_DISABLED=true`, empty `AWS_CONFIG_FILE`/`AWS_SHARED_CREDENTIALS_FILE` in a temp dir, "
      "`AWS_ENDPOINT_URL` = the emulator.")
    w("- Per N: `/moto-api/reset`, set-up, one warm-up call per service, one unmeasured run of each tool, "
      "then the measured runs interleaved (seed, check, apply, seed, …).")
    w(f"- **unavoidable reads** (per N, after the measured runs): the bench's own boto3 clients send, one at a time, "
      "only the reads a no-op check of the N targets cannot avoid — GetParameters for the N parameters (10 "
      "names per request), DescribeAutoScalingGroups for the N groups (100 names, `MaxRecords` 100), the "
      "account-wide DescribeLaunchTemplateVersions (`$Default`, `MaxResults` 200) and DescribeImages for the "
      "one AMI, every `NextToken` followed; the figure is moto busy ms for them, median of "
      f"{args.repeats}. It shows what moto spends on the data any check needs. It is not a strict lower bound: "
      "moto's time per request varies from run to run by a third, and requests sent together can keep moto busy "
      "for less time than the same requests sent one by one.")
    w("- **wall**: spawn to exit (`time.perf_counter` around `/usr/bin/time -v …`); **CPU**: user+sys of "
      "the process tree from `wait4` (µs resolution; includes `/usr/bin/time`, well under 1 ms); "
      "**peak RSS**: `/usr/bin/time -v` \"Maximum resident set size\"; **API calls**: HTTP requests "
      "the emulator received during the run (pages count separately).")
    w("")
    w("## Results")
    w("")
    for n, s in res["sizes"].items():
        n = int(n)
        w(f"### N = {n} (call budget 3 + ⌈N/10⌉ + 2⌈N/100⌉ = {budget(n)})")
        w("")
        w("| | wall ms | CPU ms | peak RSS MiB | API calls | moto busy ms |")
        w("|---|---|---|---|---|---|")
        for tool in TOOLS:
            a = agg(s["runs"][tool])
            w(f"| {TOOL_TITLES[tool]} | {fmt(a['wall_ms'])} | {fmt(a['cpu_ms'])} | {fmt(a['rss_mib'])} | "
              f"{fmt_calls(a['calls'])} | {fmt(a['busy_ms'])} |")
        w("")
        for tool in TOOLS:
            w(f"- {tool} calls: {by_action(s['runs'][tool][0])}")
            if s["problems"][tool]:
                w(f"- **{tool} did not complete as expected** in {len(s['problems'][tool])} run(s): "
                  f"{s['problems'][tool][0]}")
        first = s["runs"]["check"][0]
        w(f"- check, time inside moto per action (first run; summed over the action's requests, which were sent "
          f"{sent([first])} and may overlap, so the figures can add up to more than moto busy ms): " + ", ".join(
            f"{k} {v:.0f} ms" for k, v in sorted(first.get("server_by_action", {}).items(), key=lambda kv: -kv[1])))
        fl = floor_line(res, n)
        if fl:
            w(fl)
        v = s["verbose"]
        w(f"- `amiroll -v check`: the engine's own count `{v['engine_counts']}`")
        w(f"- load average before/after: {s['load'][0]} / {s['load'][1]}")
        w("")
    w("## The issue's goals")
    w("")
    w(render_goals(res))
    w("")
    w(render_time_goes(res))
    if res.get("latency"):
        import latency
        w(latency.render(res["latency"], args.command, m["git"], m["date"]))
    d = res.get("drift")
    if d:
        w(render_drift(d))
    if getattr(args, "rollout_time", None) and os.path.exists(args.rollout_time):
        with open(args.rollout_time) as f:
            w(rollout_md.render(json.load(f), args.command, m["git"], m["date"]))
    if getattr(args, "build_times", None) and os.path.exists(args.build_times):
        with open(args.build_times) as f:
            w(build_times_md.render(json.load(f)))
    b = res["binary"]
    w("## Sizes")
    w("")
    w(f"- `target/release/amiroll` (release profile): {b['binary'] / 2**20:.1f} MiB ({b['binary']} bytes)"
      + (", stripped" if b.get("already_stripped") else "")
      + (f"; stripped (`strip -o`): {b['stripped'] / 2**20:.1f} MiB ({b['stripped']} bytes)" if "stripped" in b else ""))
    if "lambda_zip" in b:
        w(f"- `target/lambda/amiroll-x86_64.zip` (deploy/package.sh): {b['lambda_zip'] / 2**20:.2f} MiB "
          f"({b['lambda_zip']} bytes, built {b['lambda_zip_mtime']})")
    else:
        w("- `target/lambda/amiroll-x86_64.zip`: not present (deploy/package.sh builds it)")
    w("")
    w(f"Whole benchmark: {res['duration_s'] / 60:.1f} min (without the release build).")
    w("")
    return "\n".join(L)


def med(res: dict, n: int, tool: str, key: str) -> float | None:
    s = res["sizes"].get(n) or res["sizes"].get(str(n))
    if not s or not s["runs"][tool]:
        return None
    return statistics.median(r[key] for r in s["runs"][tool])


def ok_runs(res: dict, n: int, tool: str) -> bool:
    s = res["sizes"].get(n) or res["sizes"].get(str(n))
    return bool(s) and not s["problems"][tool]


def floor_of(res: dict, n: int) -> dict | None:
    s = res["sizes"].get(n) or res["sizes"].get(str(n))
    f = (s or {}).get("floor")
    return f if f and f.get("busy_ms", {}).get("median") else None


def floor_line(res: dict, n: int) -> str | None:
    """The results-section line on the emulator floor of size n."""
    f = floor_of(res, n)
    if not f:
        return None
    fm = f["busy_ms"]["median"]
    mid = min(f["runs"], key=lambda r: abs(r["busy_ms"] - fm))  # the median repeat
    srv = mid.get("server_by_action", {})
    reads = ", ".join(f"{k} {v} ({srv.get(k, 0):.0f} ms)" for k, v in sorted(mid["by_action"].items()))
    spread = "" if f["busy_ms"]["min"] == f["busy_ms"]["max"] else \
        f", {f['busy_ms']['min']:.1f}–{f['busy_ms']['max']:.1f}"
    inflight = max(r.get("max_in_flight", 0) for r in f["runs"])
    how = "one at a time" if inflight <= 1 else f"up to {inflight} at once"
    line = (f"- the unavoidable reads alone ({mid['calls']} requests: {reads}; the median repeat, moto's time per "
            f"action), sent {how} by boto3: moto busy {fm:.1f} ms (median of {f['repeats']}{spread}).")
    sw = med(res, n, "seed", "wall_ms")
    if sw:
        line += f" The seed's median wall time divided by it: {sw / fm:.1f}×."
    return line


def floor_note(res: dict, n: int, goal: float) -> str:
    """Appended to a missed wall-time goal: the ratio the emulator alone allows."""
    f, sw = floor_of(res, n), med(res, n, "seed", "wall_ms")
    if not f or not sw:
        return ""
    fm = f["busy_ms"]["median"]
    cap = sw / fm
    return (f"; for reference, moto answering only the unavoidable reads one at a time was busy {fm:.1f} ms, "
            f"and the seed's wall time is {cap:.1f}× that")


def render_goals(res: dict) -> str:
    rows = ["| goal | measured (medians) | result |", "|---|---|---|"]

    def row(goal: str, measured: str, passed: bool | None, note: str = "") -> None:
        verdict_ = "not measured" if passed is None else ("**PASS**" if passed else "**MISS**")
        rows.append(f"| {goal} | {measured} | {verdict_}{note} |")

    sw, cw = med(res, 1, "seed", "wall_ms"), med(res, 1, "check", "wall_ms")
    if sw and cw:
        ratio = sw / cw
        row("N = 1: check wall ≥ 25× less than the seed", f"seed {sw:.1f} ms / check {cw:.1f} ms = **{ratio:.1f}×**",
            ratio >= 25 and ok_runs(res, 1, "check"),
            "" if ratio >= 25 else f" (short by {25 / ratio:.2f}×: check would need ≤ {sw / 25:.1f} ms"
            f"{floor_note(res, 1, 25)})")
    else:
        row("N = 1: check wall ≥ 25× less than the seed", "—", None)
    sr, cr = med(res, 1, "seed", "rss_mib"), med(res, 1, "check", "rss_mib")
    if sr and cr:
        row("N = 1: check peak RSS ≤ ¼ of the seed's", f"seed {sr:.1f} MiB, check {cr:.1f} MiB = **{cr / sr:.2f}×** (limit {sr / 4:.1f} MiB)",
            cr <= sr / 4 and ok_runs(res, 1, "check"))
    else:
        row("N = 1: check peak RSS ≤ ¼ of the seed's", "—", None)
    sw, cw = med(res, 200, "seed", "wall_ms"), med(res, 200, "check", "wall_ms")
    if sw and cw:
        ratio = sw / cw
        row("N = 200: check wall ≥ 30× less than the seed's loop", f"seed {sw:.1f} ms / check {cw:.1f} ms = **{ratio:.1f}×**",
            ratio >= 30 and ok_runs(res, 200, "check"),
            "" if ratio >= 30 else f" (short by {30 / ratio:.2f}×: check would need ≤ {sw / 30:.1f} ms"
            f"{floor_note(res, 200, 30)})")
    else:
        row("N = 200: check wall ≥ 30× less than the seed's loop", "—", None)
    c = med(res, 200, "check", "calls")
    if c is not None:
        row(f"N = 200: check makes ≤ {budget(200)} API calls", f"**{c:g}** calls", c <= budget(200) and ok_runs(res, 200, "check"),
            "" if c <= budget(200) else f" (over by {c - budget(200):g})")
    else:
        row(f"N = 200: check makes ≤ {budget(200)} API calls", "—", None)
    notes = []
    for n in res["sizes"]:
        for tool in ("check", "apply"):
            if not ok_runs(res, int(n), tool):
                notes.append(f"- N = {n}: `{tool}` did not exit 0 — a goal that depends on it is not a PASS even "
                             f"if the numbers are: {res['sizes'][n]['problems'][tool][0]}")
    why = explain(res)
    return "\n".join(rows + ([""] + notes if notes else []) + ([""] + why if why else []))


def explain(res: dict) -> list[str]:
    """Why a goal is missed, from this run's numbers only."""
    out: list[str] = []
    n_big = max(int(n) for n in res["sizes"])
    s = res["sizes"].get(n_big) or res["sizes"].get(str(n_big))
    # Requests at the server vs calls the engine made: the difference is pages.
    try:
        engine = json.loads(s["verbose"]["engine_counts"])
    except (ValueError, TypeError):
        engine = {}
    server = s["runs"]["check"][0]["by_action"]
    paged = [f"{op} {server[op]} requests for {engine.get(op, 0)} engine call(s)"
             for op in sorted(server) if engine and server[op] > engine.get(op, 0)]
    calls = med(res, n_big, "check", "calls")
    if calls is not None:
        out.append(f"- **API calls, N = {n_big}:** {calls:g} requests against a budget of {budget(n_big)}. "
                   f"The engine's own count (`-v`) is {sum(engine.values()) if engine else '?'}; the rest are "
                   f"extra pages: {'; '.join(paged) if paged else 'none'}.")
        if server.get("autoscaling:DescribeAutoScalingGroups", 0) > engine.get("autoscaling:DescribeAutoScalingGroups", 0) > 0:
            out.append("  DescribeAutoScalingGroups is sent with up to 100 names and `MaxRecords` 100, yet the "
                       "emulator answered it in more pages than the engine made calls: a chunk of 100 names costs "
                       "more than the 1 request the budget (and the simulator's scale test) count.")
        if server.get("ec2:DescribeLaunchTemplateVersions", 0) > engine.get("ec2:DescribeLaunchTemplateVersions", 0) > 0:
            out.append("  The account-wide DescribeLaunchTemplateVersions (`$Default` only, 200 per page; a second "
                       "listing with `$Latest` only when a group launches `$Latest`) lists every template of the "
                       "account (moto answers one entry per template and selector), so its pages grow with the "
                       "account's templates, not with the configured targets.")
    for n, goal in ((1, 25), (n_big, 30)):
        sw, sb = med(res, n, "seed", "wall_ms"), med(res, n, "seed", "busy_ms")
        cw, cb = med(res, n, "check", "wall_ms"), med(res, n, "check", "busy_ms")
        if not (sw and cw) or sw / cw >= goal:
            continue
        check_runs = (res["sizes"].get(n) or res["sizes"].get(str(n)))["runs"]["check"]
        first = check_runs[0]
        top = sorted(first.get("server_by_action", {}).items(), key=lambda kv: -kv[1])[:3]
        base = res["baselines"]["amiroll_version"]["wall_ms"]["median"]
        outside = (f"without moto's time the ratio is {(sw - sb) / (cw - cb):.1f}×" if cw - cb > 0
                   else "moto was busy for all of check's wall time, so no ratio without it can be given")
        f = floor_of(res, n)
        if f:
            fm = f["busy_ms"]["median"]
            floor_txt = (f" For reference, moto answering only the {f['runs'][0]['calls']} reads no check of "
                         f"{n} target{'' if n == 1 else 's'} can avoid, sent one at a time by boto3, was busy {fm:.1f} ms "
                         f"(the seed's wall time is {sw / fm:.1f}× that).")
        else:
            floor_txt = ""
        out.append(
            f"- **Wall time, N = {n}:** check took {cw:.1f} ms, of which moto was busy answering its "
            f"{med(res, n, 'check', 'calls'):g} requests for {cb:.1f} ms, sent {sent(check_runs)} (first run, "
            f"moto's time summed over each action's requests, which may overlap: "
            f"{', '.join(f'{k} {v:.0f} ms' for k, v in top)}), and {cw - cb:.1f} ms everything else (process start "
            f"alone {base:.1f} ms). Reaching {goal}× needs ≤ {sw / goal:.1f} ms; {outside}. The seed's {sw:.0f} ms "
            f"is {sw - sb:.0f} ms in the Python process (interpreter start, boto3 import, four clients created per "
            f"target, request handling) and {sb:.0f} ms in moto." + floor_txt)
    sr, cr = med(res, 1, "seed", "rss_mib"), med(res, 1, "check", "rss_mib")
    mem = res.get("memory") or {}
    if sr and cr and cr > sr / 4 and "binary_kb" in mem:
        out.append(
            f"- **Peak RSS, N = 1:** {cr:.1f} MiB against a limit of {sr / 4:.1f} MiB. {mem['binary_kb'] / 1024:.1f} MiB "
            f"of it are resident pages of the {res['binary']['binary'] / 2**20:.0f} MiB release binary itself; the "
            f"heap is small ({mem['anon_kb'] / 1024:.1f} MiB anonymous memory"
            + (f", heaptrack peak {mem['peak_heap']}" if mem.get("peak_heap") else "") + "). "
            "The lever is the size of the code, not what amiroll allocates.")
    return out


def render_time_goes(res: dict) -> str:
    b = res["baselines"]
    L = ["## Where the time goes", ""]
    L.append(f"- Process start alone: `amiroll --version` {b['amiroll_version']['wall_ms']['median']:.1f} ms wall, "
             f"{b['amiroll_version']['rss_mib']['median']:.1f} MiB; `python3 -c 'import boto3'` "
             f"{b['python_import_boto3']['wall_ms']['median']:.1f} ms, {b['python_import_boto3']['rss_mib']['median']:.1f} MiB; "
             f"plus creating the seed's four clients {b['python_boto3_4_clients']['wall_ms']['median']:.1f} ms, "
             f"{b['python_boto3_4_clients']['rss_mib']['median']:.1f} MiB.")
    for n in res["sizes"]:
        ni = int(n)
        runs = (res["sizes"].get(n) or res["sizes"].get(str(n)))["runs"]
        parts = []
        for tool in TOOLS:
            wall = med(res, ni, tool, "wall_ms")
            busy = med(res, ni, tool, "busy_ms")
            srv = med(res, ni, tool, "server_ms")
            calls = med(res, ni, tool, "calls")
            parts.append(f"{tool} {wall:.0f} ms wall of which moto was busy {busy:.0f} ms answering {calls:g} calls "
                         f"({srv / calls if calls else 0:.1f} ms per request on average), {wall - busy:.0f} ms "
                         f"in the client")
        L.append(f"- N = {n}: " + "; ".join(parts) + ".")
        L.append("  Requests reached moto — " + "; ".join(f"{tool}: {sent(runs[tool])}" for tool in TOOLS) + ".")
        phases = []
        for tool in TOOLS:
            ups = [r["startup_ms"] for r in runs[tool] if r.get("startup_ms") is not None]
            tails = [r["tail_ms"] for r in runs[tool] if r.get("tail_ms") is not None]
            wall = med(res, ni, tool, "wall_ms")
            if ups and tails and wall:
                up, tail = statistics.median(ups), statistics.median(tails)
                phases.append(f"{tool} {up:.1f} ms from spawn to its first request, {wall - up - tail:.1f} ms from "
                              f"there to moto's last answer, {tail:.1f} ms from that answer to exit")
        if phases:
            L.append("  Phases (medians; spawn to first request = process start, imports or configuration, "
                     "clients, credentials and TLS roots): " + "; ".join(phases) + ".")
        sw, sb = med(res, ni, "seed", "wall_ms"), med(res, ni, "seed", "busy_ms")
        cw, cb = med(res, ni, "check", "wall_ms"), med(res, ni, "check", "busy_ms")
        if sw and cw and cw - cb > 0:
            L.append(f"  Outside the emulator (wall − moto busy ms): seed {sw - sb:.0f} ms vs check {cw - cb:.0f} ms = "
                     f"{(sw - sb) / (cw - cb):.1f}× (with the emulator's time: {sw / cw:.1f}×).")
    ts = res.get("trust_store") or {}
    if ts.get("system") and ts.get("one"):
        first = list(res["sizes"])[0]
        su, ou = ts["system"].get("startup_ms"), ts["one"].get("startup_ms")
        L.append(f"- TLS roots (N = {first}, diagnostic, not used for the goals): the AWS SDK for Rust loads the "
                 f"system's root certificates ({ts['bundle']} and the certificate directory) when it builds its "
                 f"HTTPS client, before the first request, even for the emulator's http:// endpoint; boto3 reads "
                 f"its CA bundle only when it opens an HTTPS connection, so against the emulator the seed never "
                 f"pays for it (against AWS both do). `amiroll check` with the system's roots: "
                 f"{ts['system']['wall_ms']:.1f} ms wall"
                 + (f", first request after {su:.1f} ms" if su is not None else "")
                 + f"; with a one-certificate trust store (`SSL_CERT_FILE`): {ts['one']['wall_ms']:.1f} ms"
                 + (f", first request after {ou:.1f} ms" if ou is not None else "") + " (medians).")
    mem = res.get("memory") or {}
    if "binary_kb" in mem:
        L.append(f"- Memory of `amiroll check` (N = {list(res['sizes'])[0]}), read from /proc/PID/smaps while it waits "
                 f"inside its first AWS call: {mem['stalled_rss_kb'] / 1024:.1f} MiB resident = "
                 f"{mem['binary_kb'] / 1024:.1f} MiB pages of the amiroll binary itself (code and read-only data, "
                 f"file-backed) + {mem['libs_kb'] / 1024:.1f} MiB shared libraries + {mem['anon_kb'] / 1024:.1f} MiB "
                 f"anonymous (heap, stacks); {mem['threads']} threads."
                 + (f" Peak heap of a whole run (heaptrack): {mem['peak_heap']}." if mem.get("peak_heap") else ""))
    L.append("")
    return "\n".join(L)


def render_drift(d: dict) -> str:
    L = ["## Drift run (one target, parameter moved to a new AMI)", ""]
    L.append(f"The parameter of target 0 of N = 1 was set to `{d['new_ami']}`. First amiroll looked (read-only), then the seed's handler ran once, for real.")
    L.append("")
    L.append("| | exit | wall ms | CPU ms | peak RSS MiB | API calls |")
    L.append("|---|---|---|---|---|---|")
    for tool in ("check", "apply", "seed"):
        r = d[tool]
        L.append(f"| {TOOL_TITLES[tool]} | {r['exit']} | {r['wall_ms']:.1f} | {r['cpu_ms']:.1f} | {r['rss_mib']:.1f} | {r['calls']} |")
    L.append("")
    for tool in ("check", "apply", "seed"):
        L.append(f"- {tool} calls: {by_action(d[tool])}")
    s = d["seed"]
    out = [x for x in s["stdout"].splitlines() if x.strip()]
    L.append(f"- seed printed: {' / '.join(out) if out else '(nothing)'}")
    if s.get("summary"):
        x = s["summary"][0]
        L.append(f"- seed outcome: {'returned ' + repr(x['result']) if x['ok'] else 'raised ' + x['error']}")
    t = d["template"]
    L.append(f"- template afterwards: default version {t['default']}, latest {t['latest']}; versions: "
             + "; ".join(f"v{v['n']} {v['image']} ({', '.join(v['keys'])})" for v in t["versions"]))
    L.append("- scheduled actions afterwards: "
             + ("; ".join(f"{a['name']} desired {a['desired']} at {a['start']}" for a in d["scheduled_actions"]) or "none"))
    L.append("")
    return "\n".join(L)


if __name__ == "__main__":
    sys.exit(main())
