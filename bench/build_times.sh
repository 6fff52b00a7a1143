#!/usr/bin/env bash
# Cold build times of what users build: the CLI with the `release` profile (`cargo install`) and
# the Lambda function's `bootstrap` with the `lambda` profile (deploy/package.sh), each from an
# empty target directory, one after the other. Writes bench/build-times.json, which bench/run.sh
# renders into docs/performance.md ("Build times").
#
#   bench/build_times.sh                       # ~20-40 min on 2 cores; a few GB of disk, freed at the end
#   BENCH_BUILD_DIR=/big/disk/scratch bench/build_times.sh
#
# BENCH_BUILD_DIR: the scratch target directory (default: target-build-bench beside
# CARGO_TARGET_DIR, else ./target-build-bench). It must not exist, or be a Cargo target directory
# (it holds CACHEDIR.TAG); it is emptied before each build and deleted at the end.
# BENCH_BUILD_OUT: where the JSON goes (default bench/build-times.json).
# The crates are fetched first (`cargo fetch --locked`), so the times are compile and link only.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
SCRATCH=${BENCH_BUILD_DIR:-$(dirname "$TARGET_DIR")/target-build-bench}
case $SCRATCH in /*) ;; *) SCRATCH=$ROOT/$SCRATCH ;; esac
OUT=${BENCH_BUILD_OUT:-$ROOT/bench/build-times.json}
TRIPLE=x86_64-unknown-linux-gnu

say() { printf '[build-times] %s\n' "$*" >&2; }

[[ -x /usr/bin/time ]] || { say "/usr/bin/time is missing: apt-get install time"; exit 1; }
if [[ -e $SCRATCH && ! -f $SCRATCH/CACHEDIR.TAG ]]; then
    say "$SCRATCH exists and is not a Cargo target directory; not deleting it. Set BENCH_BUILD_DIR."
    exit 1
fi
say "cargo fetch --locked (downloads are not part of the measurement)"
cargo fetch --locked >/dev/null

RESULTS=$(mktemp -d -t amiroll-build-times.XXXXXX)
trap 'rm -rf "$SCRATCH" "$RESULTS"' EXIT

# measure NAME BINARY CARGO-ARGS...: one cold build into the empty scratch directory.
measure() {
    local name=$1 binary=$2
    shift 2
    rm -rf "$SCRATCH"
    say "$name: cargo $* (cold, into $SCRATCH)"
    cat /proc/loadavg >"$RESULTS/$name.load-start"
    CARGO_TARGET_DIR=$SCRATCH /usr/bin/time -v -o "$RESULTS/$name.time" cargo "$@" --locked --quiet
    cat /proc/loadavg >"$RESULTS/$name.load-end"
    stat -c %s "$SCRATCH/$binary" >"$RESULTS/$name.size"
    printf '%s\n' "cargo $*" >"$RESULTS/$name.command"
    tail -n 3 "$RESULTS/$name.time" >&2 || true
}

measure cli release/amiroll build --profile release -p amiroll-cli
measure lambda "$TRIPLE/lambda/bootstrap" build --profile lambda -p amiroll-lambda --bin bootstrap --target "$TRIPLE"

python3 - "$RESULTS" "$OUT" <<'EOF'
import json, os, platform, re, subprocess, sys, time, tomllib

results, out = sys.argv[1], sys.argv[2]

def read(name):
    with open(os.path.join(results, name)) as f:
        return f.read().strip()

def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"

def time_v(text):
    """/usr/bin/time -v: wall seconds, user and system CPU seconds, peak RSS (KiB) of the tree."""
    def field(label):
        m = re.search(r"^\s*" + re.escape(label) + r": (.+)$", text, re.M)
        return m.group(1).strip() if m else None
    wall = 0.0
    for part in field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":"):
        wall = wall * 60 + float(part)
    return {
        "wall_s": round(wall, 1),
        "user_s": float(field("User time (seconds)")),
        "sys_s": float(field("System time (seconds)")),
        "peak_rss_kib": int(field("Maximum resident set size (kbytes)")),
    }

def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"

def mem_gib():
    with open("/proc/meminfo") as f:
        kib = int(f.readline().split()[1])
    return round(kib / 2**20, 1)

def os_name():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()

def profile(name):
    """The profile's settings as Cargo resolves them: its own keys over those it inherits."""
    with open("Cargo.toml", "rb") as f:
        profiles = tomllib.load(f)["profile"]
    settings = {}
    while name:
        p = profiles.get(name, {})
        for k, v in p.items():
            if k != "inherits":
                settings.setdefault(k, v)
        name = p.get("inherits")
    return settings

builds = {}
for name, profile_name in (("cli", "release"), ("lambda", "lambda")):
    b = time_v(read(f"{name}.time"))
    b["profile"] = profile_name
    b["settings"] = profile(profile_name)
    b["command"] = read(f"{name}.command")
    b["binary_bytes"] = int(read(f"{name}.size"))
    b["load_start"] = " ".join(read(f"{name}.load-start").split()[:3])
    b["load_end"] = " ".join(read(f"{name}.load-end").split()[:3])
    builds[name] = b

doc = {
    "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    "git": sh(["git", "describe", "--always", "--dirty"]),
    "machine": {
        "cpus": os.cpu_count(),
        "cpu": cpu_model(),
        "mem_gib": mem_gib(),
        "os": os_name(),
        "kernel": platform.release(),
        "rustc": sh(["rustc", "--version"]),
    },
    "builds": builds,
}
with open(out, "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
print(json.dumps(doc, indent=2))
EOF
say "wrote $OUT"
