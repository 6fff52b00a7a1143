#!/usr/bin/env python3
"""The real minimum Rust version: the highest `rust-version` among the packages of Cargo.lock.

    python3 scripts/msrv.py            # prints it, and the packages that set it
    python3 scripts/msrv.py --check    # exit 1 if the workspace's rust-version is lower than that

Reads `cargo metadata --format-version 1 --locked` (every package of the lock file, whatever the
platform or feature, each with the `rust-version` of its manifest).
"""

import json
import subprocess
import sys
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def version(text: str) -> tuple:
    return tuple(int(p) for p in text.split("."))


def main() -> int:
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked"],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    members = set(meta["workspace_members"])
    deps = [p for p in meta["packages"] if p["id"] not in members and p.get("rust_version")]
    highest = max(version(p["rust_version"]) for p in deps)
    setters = sorted(f"{p['name']} {p['version']}" for p in deps if version(p["rust_version"]) == highest)
    msrv = ".".join(map(str, highest))
    # The [workspace.package] rust-version (a regex: tomllib is Python 3.11+, .ci/run allows 3.9).
    declared = re.search(r'^rust-version = "([0-9.]+)"', (ROOT / "Cargo.toml").read_text(), re.M).group(1)
    if "--check" in sys.argv:
        if version(declared) < highest:
            print(f"scripts/msrv.py: Cargo.toml says rust-version = \"{declared}\", but the dependencies need "
                  f"{msrv} ({', '.join(setters[:5])}{', …' if len(setters) > 5 else ''}); write \"{msrv}\"",
                  file=sys.stderr)
            return 1
        print(f"rust-version {declared}; the dependencies need {msrv} ({len(setters)} packages)")
        return 0
    print(msrv)
    print(f"set by {len(setters)} of {len(deps)} dependencies with a rust-version: {', '.join(setters)}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
