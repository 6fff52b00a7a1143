#!/usr/bin/env bash
# Build the Lambda function's `bootstrap` binary and zip it for the provided.al2023 runtime
# ("Building Lambda functions with Rust": the zip holds an executable named `bootstrap` at its root).
#
#   deploy/package.sh                        # x86_64 (and arm64 when this machine can build it)
#   AMIROLL_PROFILE=NAME deploy/package.sh   # another Cargo profile (default: lambda)
#   AMIROLL_ARCH=arm64 deploy/package.sh     # one architecture only (x86_64 or arm64)
#   AMIROLL_ZIGBUILD=1 deploy/package.sh     # link with cargo-zigbuild against glibc 2.34 (both
#                                            # architectures from one machine; the release workflow)
#
# Output: target/lambda/amiroll-x86_64.zip (and amiroll-arm64.zip), under CARGO_TARGET_DIR if set.
# The `lambda` profile (root Cargo.toml: the release profile with full LTO, one codegen unit and
# opt-level "s", stripped) gives the smallest binary; a cold build took 15 minutes on 2 cores and
# ~9 GB of memory (docs/performance.md, "Build times").
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

profile="${AMIROLL_PROFILE:-lambda}"
only_arch="${AMIROLL_ARCH:-}"
zigbuild="${AMIROLL_ZIGBUILD:-}"
case $only_arch in "" | x86_64 | arm64) ;; *)
    echo "package.sh: AMIROLL_ARCH is x86_64 or arm64, not '$only_arch'" >&2
    exit 1
    ;;
esac
target_dir="${CARGO_TARGET_DIR:-target}"
out_dir="$target_dir/lambda"
# Amazon Linux 2023 ships glibc 2.34: a binary needing newer symbols fails to start there.
max_glibc="2.34"

mkdir -p "$out_dir"

# Newest GLIBC_x.y symbol version the binary needs (empty if objdump is missing).
glibc_needed() {
    command -v objdump >/dev/null || return 0
    objdump -T "$1" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1
}

# build ARCH TRIPLE: build `bootstrap` for TRIPLE and zip it as amiroll-ARCH.zip.
build() {
    local arch=$1 triple=$2
    if [[ -n $zigbuild ]]; then
        # cargo-zigbuild links against the glibc named after the triple, and writes to the plain
        # triple's directory.
        echo "==> cargo zigbuild --locked --profile $profile -p amiroll-lambda --bin bootstrap --target $triple.$max_glibc"
        cargo zigbuild --locked --profile "$profile" -p amiroll-lambda --bin bootstrap --target "$triple.$max_glibc"
    else
        echo "==> cargo build --profile $profile -p amiroll-lambda --bin bootstrap --target $triple"
        cargo build --profile "$profile" -p amiroll-lambda --bin bootstrap --target "$triple"
    fi
    # Cargo names the output directory after the profile, except `dev` (and `test`), which land in `debug`.
    local profile_dir=$profile
    case $profile in dev | test) profile_dir=debug ;; esac
    local bin="$target_dir/$triple/$profile_dir/bootstrap"
    local needed
    needed="$(glibc_needed "$bin")"
    if [[ -n "$needed" ]] && [[ "$(printf '%s\n%s\n' "$needed" "$max_glibc" | sort -V | tail -n 1)" != "$max_glibc" ]]; then
        echo "package.sh: $bin needs glibc $needed; provided.al2023 has $max_glibc. Build on an older distribution or with 'cargo lambda build' (zig)." >&2
        exit 1
    fi
    local zip="$out_dir/amiroll-$arch.zip"
    rm -f "$zip"
    # `bootstrap` at the root of the archive, executable bit kept.
    if command -v zip >/dev/null; then
        zip -j -q "$zip" "$bin"
    else
        python3 -m zipfile -c "$zip" "$bin"
    fi
    echo "==> $zip: $(du -k "$zip" | cut -f1) KiB (bootstrap $(du -k "$bin" | cut -f1) KiB, needs glibc ${needed:-?})"
}

if [[ $only_arch != arm64 ]]; then
    build x86_64 x86_64-unknown-linux-gnu
fi
[[ $only_arch == x86_64 ]] && exit 0

# arm64 (Graviton) needs the Rust target and a cross linker (or zig); build it only when both are
# here.
arm_triple=aarch64-unknown-linux-gnu
if [[ -n $zigbuild ]]; then
    build arm64 "$arm_triple"
elif rustup target list --installed 2>/dev/null | grep -qx "$arm_triple" &&
    command -v aarch64-linux-gnu-gcc >/dev/null; then
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
        CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
        build arm64 "$arm_triple"
else
    cat <<EOF
==> arm64 skipped: this machine cannot build for $arm_triple.
    It needs the Rust target and a cross linker:
        rustup target add $arm_triple
        apt-get install gcc-aarch64-linux-gnu     # linker and C compiler for aws-lc/ring
    then run deploy/package.sh again. Or link with zig (the release workflow's way; it needs
    the Rust target too):
        python3 -m pip install cargo-zigbuild ziglang
        AMIROLL_ZIGBUILD=1 deploy/package.sh
EOF
fi
