//! Names the commit the binary was built from, for `amiroll --version` (`AMIROLL_COMMIT`): the
//! short hash from `git rev-parse`, with `-dirty` when the work tree has changes; `unknown` when
//! the source is not a git checkout (a crate tarball) or git is not installed.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    let commit = match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(hash) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{hash}-dirty")
            } else {
                hash
            }
        }
        None => "unknown".to_string(),
    };
    println!("cargo:rustc-env=AMIROLL_COMMIT={commit}");
    // Build again when HEAD moves (a commit, a checkout: logs/HEAD grows with each) or the index
    // changes (dirty or not); the paths come from git, so a worktree
    // (whose .git is a file) works too.
    for path in ["HEAD", "logs/HEAD", "index"] {
        if let Some(p) = git(&["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
