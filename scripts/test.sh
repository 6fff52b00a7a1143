#!/usr/bin/env bash
# The whole test suite: unit, property and simulator tests, then the real-protocol tests (the AWS
# adapter, the simulator-vs-emulator conformance suite and the `amiroll` binary end to end)
# against the local AWS emulator, tests/moto/server.py.
#
#   scripts/test.sh                          # from any directory
#   scripts/test.sh -- --nocapture           # extra arguments go to both `cargo test` runs
#   scripts/test.sh -p amiroll-cli           # only these packages (instead of --workspace)
#     (a package-only run resolves features differently: its first build compiles the SDK again)
#
# Needs cargo, and python3 with moto[server] (see tests/moto/README.md), parliament and cfn-lint
# (the IAM policy lint, tests/iam/lint.py) and iamprover (the IAM policy evaluator behind
# tests/iam/evaluate.py). Two emulators listen on 127.0.0.1 only, on free ports, and are stopped
# on exit: the plain one, and one that enforces IAM (tests/iam/server.py with
# INITIAL_NO_AUTH_ACTION_COUNT=0) for the generated policy's tests (crates/cli/tests/iam.rs).
# CARGO_TARGET_DIR is honoured if set.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

section() { printf '\n==> %s\n' "$*"; }

# The emulator starts first so that a missing moto fails in seconds, not after the first test run.
section "starting the local AWS emulator (tests/moto/server.py)"
# A free port: bind port 0, read it, close. (Should another process take it in between, the wait
# below fails and shows the server's log.)
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
log="$(mktemp -t amiroll-moto.XXXXXX)"
python3 tests/moto/server.py "$port" >"$log" 2>&1 &
server_pid=$!
# The second emulator enforces IAM from the first request on (the tests open their own window to
# create users through /moto-api/reset-auth). moto reads the variable when it is imported.
iam_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
iam_log="$(mktemp -t amiroll-moto-iam.XXXXXX)"
INITIAL_NO_AUTH_ACTION_COUNT=0 python3 tests/iam/server.py "$iam_port" >"$iam_log" 2>&1 &
iam_server_pid=$!

on_exit() {
    local status=$1
    local pid
    for pid in "$server_pid" "$iam_server_pid"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    if ((status != 0)) && [[ -s "$log" ]]; then
        echo "--- last lines of the emulator's log" >&2
        tail -n 40 "$log" >&2
    fi
    if ((status != 0)) && [[ -s "$iam_log" ]]; then
        echo "--- last lines of the IAM-enforcing emulator's log" >&2
        tail -n 40 "$iam_log" >&2
    fi
    rm -f "$log" "$iam_log"
}
trap 'on_exit $?' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

deadline=$((SECONDS + 60))
until grep -qx ready "$log"; do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "scripts/test.sh: the emulator exited before it was ready (is moto[server] installed? see tests/moto/README.md)" >&2
        exit 1
    fi
    if ((SECONDS >= deadline)); then
        echo "scripts/test.sh: the emulator did not print \"ready\" within 60 s on 127.0.0.1:$port" >&2
        exit 1
    fi
    sleep 0.2
done
echo "emulator ready on 127.0.0.1:$port (pid $server_pid)"
until grep -qx ready "$iam_log"; do
    if ! kill -0 "$iam_server_pid" 2>/dev/null; then
        echo "scripts/test.sh: the IAM-enforcing emulator (tests/iam/server.py) exited before it was ready" >&2
        exit 1
    fi
    if ((SECONDS >= deadline)); then
        echo "scripts/test.sh: the IAM-enforcing emulator did not print \"ready\" within 60 s on 127.0.0.1:$iam_port" >&2
        exit 1
    fi
    sleep 0.2
done
echo "IAM-enforcing emulator ready on 127.0.0.1:$iam_port (pid $iam_server_pid)"

# `--workspace` unless the caller picked packages (cargo ignores `-p` next to `--workspace`).
# `--ignored` is a test-binary argument: it goes after the caller's own `--` if they gave one.
scope=(--workspace)
has_separator=0
for a in "$@"; do
    if [[ "$a" == "--" ]]; then
        has_separator=1
        break
    fi
    case "$a" in -p | -p?* | --package | --package=*) scope=() ;; esac
done
args=("${scope[@]+"${scope[@]}"}" "$@")
if ((has_separator)); then
    ignored=("${args[@]}" --ignored)
else
    ignored=("${args[@]}" -- --ignored)
fi

section "cargo test ${args[*]}"
cargo test "${args[@]}"

# The emulator tests are #[ignore]d so that a plain `cargo test` needs no server.
section "AMIROLL_MOTO_URL=http://127.0.0.1:$port AMIROLL_MOTO_IAM_URL=http://127.0.0.1:$iam_port cargo test ${ignored[*]}"
AMIROLL_MOTO_URL="http://127.0.0.1:$port" AMIROLL_MOTO_IAM_URL="http://127.0.0.1:$iam_port" \
    cargo test "${ignored[@]}"

# The generated IAM policies are minimal: parliament (and cfn-lint on the CloudFormation form).
# The binary is the one `cargo test` built for the CLI's integration tests (CARGO_BIN_EXE_amiroll):
# a separate `cargo build -p amiroll-cli` would resolve features differently and compile the AWS
# SDK a second time.
section "python3 tests/iam/lint.py"
amiroll_bin="${CARGO_TARGET_DIR:-target}/debug/amiroll"
if [[ ! -x "$amiroll_bin" ]]; then
    # A package-only run (`-p …`) that did not include the CLI.
    cargo build --quiet -p amiroll-cli
fi
python3 tests/iam/lint.py "$amiroll_bin"

# The IAM policy evaluator for recorded (action, resource, context) requests: iamprover behind
# tests/iam/evaluate.py, checked on the policy shapes amiroll generates (resources and conditions).
section "python3 tests/iam/test_evaluate.py"
python3 tests/iam/test_evaluate.py

section "all tests passed"
