#!/usr/bin/env bash
# The benchmark: the seed's Lambda handler vs `amiroll check` / `amiroll apply --dry-run` over
# N = 1, 50, 200 no-op targets on the local emulator (127.0.0.1 only). Writes docs/performance.md.
#
#   bench/run.sh                         # everything; ~15 min extra when the release build is stale
#   BENCH_SIZES=1,50 BENCH_REPEATS=1 bench/run.sh   # quicker, for trying changes to the harness
#   BENCH_BUILD=1 bench/run.sh           # also measure the cold build times first (~30 min more)
#   BENCH_BUILD=only bench/run.sh        # only measure the build times and rewrite that section
#   BENCH_BUILD=render bench/run.sh      # only rewrite that section from bench/build-times.json
#   BENCH_ONLY=rollout bench/run.sh      # only the rollout times: rewrite that section (~2 min)
#   BENCH_ONLY=lambda bench/run.sh       # only what the Lambda costs: rewrite that section (~1 min
#                                        # once the `lambda` profile's bootstrap is built)
#   BENCH_ONLY=latency bench/run.sh      # only the real-AWS latency, close-to-the-limit and write-path
#                                        # sections (bench/latency.py): rewrite those (~6 min)
#   BENCH_DELAY_MS=50 bench/run.sh       # the latency proxy's delay per request (default 20 ms)
#
# The "Build times" section comes from bench/build-times.json (bench/build_times.sh, which builds
# the CLI's `release` and the Lambda's `lambda` profile from empty target directories).
#
# The "Rollout time (virtual time)" section comes from the simulator: the release build of
# crates/sim/examples/rollout_time.rs rolls groups of 4, 40 and 400 instances in virtual time on
# the deploy template's schedule and prints JSON (deterministic; seconds to run), which
# bench/rollout_md.py renders. Every full run measures it again; BENCH_ONLY=rollout measures and
# rewrites only that section (no emulator, no Python packages). BENCH_ROLLOUT_JSON=path keeps the
# JSON.
#
# The "What the Lambda costs" section: amiroll's `bootstrap` (the `lambda` profile, built as
# deploy/package.sh builds it) and the seed's handler under awslambdaric, against the same local
# Runtime API (bench/runtime_api.py) and emulator; bench/lambda_cost.py measures (JSON kept at
# $CARGO_TARGET_DIR/bench-lambda-cost.json), bench/lambda_cost_md.py writes the section. Needs
# awslambdaric (pip install awslambdaric).
#
# Needs: python3 with moto[server] and boto3 (tests/moto/README.md), /usr/bin/time (Debian `time`,
# installed with apt-get when missing and running as root), cargo. Honours CARGO_TARGET_DIR.
# BENCH_OUT=path writes the document elsewhere; BENCH_RAW=path also keeps every measurement (JSON).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
BIN=$TARGET_DIR/release/amiroll
OUT=${BENCH_OUT:-$ROOT/docs/performance.md}
SIZES=${BENCH_SIZES:-1,50,200}
REPEATS=${BENCH_REPEATS:-5}
# The seed text sits next to the repository (../shared/ from its root) in the workplace.
SEED=${AMIROLL_SEED_TEXT:-$ROOT/../shared/seed/000_4d772bf91f84b3a9.txt}

say() { printf '[bench] %s\n' "$*" >&2; }

ONLY=${BENCH_ONLY:-}
case $ONLY in
    "" | rollout | lambda | latency) ;;
    *) say "BENCH_ONLY is empty, rollout, lambda or latency, not '$ONLY'"; exit 1 ;;
esac
[[ -n $ONLY && -n ${BENCH_BUILD:-} ]] && { say "BENCH_ONLY=$ONLY and BENCH_BUILD do not go together"; exit 1; }

# What to clean up on exit: the emulator, once started, and a temporary rollout JSON.
SERVER_PID=""
ROLLOUT_JSON=${BENCH_ROLLOUT_JSON:-}
ROLLOUT_TMP=""
cleanup() {
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    [[ -z $ROLLOUT_TMP ]] || rm -f "$ROLLOUT_TMP"
}
trap cleanup EXIT

# The rollout times in virtual time: the example's release build (amiroll-core and the simulator,
# not the AWS SDK), run once; its JSON goes to $ROLLOUT_JSON.
rollout_times() {
    if [[ -z $ROLLOUT_JSON ]]; then
        ROLLOUT_TMP=$(mktemp -t amiroll-rollout.XXXXXX)
        ROLLOUT_JSON=$ROLLOUT_TMP
    fi
    say "rollout times: cargo build --release -p amiroll-sim --example rollout_time"
    cargo build --release -p amiroll-sim --example rollout_time
    "$TARGET_DIR/release/examples/rollout_time" --template "$ROOT/deploy/template.yaml" >"$ROLLOUT_JSON"
}
if [[ $ONLY == rollout ]]; then
    rollout_times
    head=$(git rev-parse --short HEAD)
    [[ -n $(git status --porcelain --untracked-files=no) ]] && head="$head + uncommitted changes"
    python3 bench/rollout_md.py "$ROLLOUT_JSON" "$OUT" --command "BENCH_ONLY=rollout bench/run.sh" --git "$head"
    exit 0
fi

# 0. Build times: measured only when asked (they take two cold builds).
BUILD=${BENCH_BUILD:-}
BUILD_TIMES=$ROOT/bench/build-times.json
case $BUILD in
    "" | 0) ;;
    1 | only) bench/build_times.sh ;;
    render) ;;
    *) say "BENCH_BUILD is 1, only or render, not '$BUILD'"; exit 1 ;;
esac
if [[ $BUILD == only || $BUILD == render ]]; then
    [[ -f $BUILD_TIMES ]] || { say "no $BUILD_TIMES: run bench/build_times.sh"; exit 1; }
    python3 bench/build_times_md.py "$BUILD_TIMES" "$OUT"
    exit 0
fi

# 1. Tools.
if [[ ! -x /usr/bin/time ]]; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        say "installing Debian 'time' for /usr/bin/time -v"
        apt-get install -y time >/dev/null || { apt-get update >/dev/null && apt-get install -y time >/dev/null; }
    else
        say "/usr/bin/time is missing: apt-get install time"; exit 1
    fi
fi
python3 -c 'import moto, boto3, werkzeug' 2>/dev/null || { say "python3 needs moto[server] and boto3 (pip install 'moto[server]')"; exit 1; }

# 2. The seed's handler must be the seed's code, byte for byte.
if [[ -f $SEED ]]; then
    python3 - "$SEED" bench/seed_lambda.py <<'EOF' || exit 1
import re, sys
seed = re.search(r"```python\n(.*?)```", open(sys.argv[1]).read(), re.S).group(1)
ours = open(sys.argv[2]).read().split("# ---- END OF HEADER ----\n", 1)[1]
if seed != ours:
    sys.exit("[bench] bench/seed_lambda.py is no longer the seed's code verbatim")
EOF
fi

# What the Lambda costs: build `bootstrap` as deploy/package.sh does (the host's triple, the `lambda`
# profile; a no-op when it is up to date, ~15 min cold), measure, and rewrite that section of $OUT.
lambda_costs() {
    python3 -c 'import awslambdaric' 2>/dev/null || { say "python3 needs awslambdaric for the Lambda costs (pip install awslambdaric)"; exit 1; }
    local triple json head
    triple=$(rustc -vV | sed -n 's/^host: //p')
    say "Lambda costs: cargo build --locked --profile lambda -p amiroll-lambda --bin bootstrap --target $triple"
    cargo build --locked --profile lambda -p amiroll-lambda --bin bootstrap --target "$triple"
    json=$TARGET_DIR/bench-lambda-cost.json
    python3 bench/lambda_cost.py --bootstrap "$TARGET_DIR/$triple/lambda/bootstrap" --out "$json" \
        --repeats "$REPEATS" --build "cargo build --profile lambda -p amiroll-lambda --bin bootstrap --target $triple"
    head=$(git rev-parse --short HEAD)
    [[ -n $(git status --porcelain --untracked-files=no) ]] && head="$head + uncommitted changes"
    local cmd=${1:-}  # the command that ran; by default this section's own
    if [[ -z $cmd ]]; then
        cmd="BENCH_ONLY=lambda bench/run.sh"
        [[ $REPEATS != 5 ]] && cmd="BENCH_REPEATS=$REPEATS $cmd"
    fi
    python3 bench/lambda_cost_md.py "$json" "$OUT" --command "$cmd" --git "$head"
}
if [[ $ONLY == lambda ]]; then
    lambda_costs
    exit 0
fi

# 3. The release binary (the `release` profile of Cargo.toml), rebuilt when missing
#    or older than its sources.
stale=""
if [[ ! -x $BIN ]]; then
    stale="missing"
elif [[ -n $(find crates Cargo.toml Cargo.lock \( -name '*.rs' -o -name '*.toml' -o -name Cargo.lock \) -newer "$BIN" -print -quit) ]]; then
    stale="older than its sources"
fi
if [[ -n $stale ]]; then
    say "release binary $stale: cargo build --release -p amiroll-cli (about 15 min cold on 2 cores; docs/performance.md, Build times)"
    cargo build --release -p amiroll-cli
fi
[[ -x $BIN ]] || { say "no binary at $BIN"; exit 1; }

# 3b. The rollout times (virtual time), for their section.
[[ $ONLY == latency ]] || rollout_times

# 4. The emulator with call counting, on a free port of 127.0.0.1.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
LOG=$(mktemp -t amiroll-bench-server.XXXXXX)
python3 bench/count_server.py "$PORT" >"$LOG" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 300); do
    grep -q '^ready' "$LOG" && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$LOG" >&2; say "the emulator did not start"; exit 1; }
    sleep 0.1
done
grep -q '^ready' "$LOG" || { say "the emulator did not answer within 30 s"; exit 1; }
say "emulator on 127.0.0.1:$PORT (pid $SERVER_PID)"

# 5. Measure and write the document.
CMD=bench/run.sh
[[ $REPEATS != 5 ]] && CMD="BENCH_REPEATS=$REPEATS $CMD"
[[ $SIZES != 1,50,200 ]] && CMD="BENCH_SIZES=$SIZES $CMD"
DELAY_MS=${BENCH_DELAY_MS:-20}
[[ $DELAY_MS != 20 ]] && CMD="BENCH_DELAY_MS=$DELAY_MS $CMD"
LATENCY=yes
[[ $ONLY == latency ]] && { LATENCY=only; CMD="BENCH_ONLY=latency $CMD"; }
python3 bench/bench.py \
    --amiroll "$BIN" \
    --endpoint "http://127.0.0.1:$PORT" \
    --target-dir "$TARGET_DIR" \
    --sizes "$SIZES" \
    --repeats "$REPEATS" \
    --out "$OUT" \
    ${BENCH_RAW:+--raw "$BENCH_RAW"} \
    --build-times "$BUILD_TIMES" \
    --rollout-time "$ROLLOUT_JSON" \
    --latency "$LATENCY" \
    --delay-ms "$DELAY_MS" \
    --command "$CMD"

# 6. What the Lambda costs, into the document bench.py wrote.
lambda_costs "$CMD"
