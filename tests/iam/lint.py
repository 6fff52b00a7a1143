#!/usr/bin/env python3
"""Minimality check of `amiroll iam-policy`: parliament on the generated policies, cfn-lint on the
generated CloudFormation templates. Fails on any finding.

Usage:
    python3 tests/iam/lint.py [PATH/TO/amiroll]      # default: target/debug/amiroll
Needs: pip install parliament cfn-lint   (.ci/run installs both)

The policies linted (tests/iam/configs/ and the seed's four environment variables), each with a
Region and account and with the defaults (`*`):
- seed: one scheduled-surge target from the seed's variables (what deploy/template.yaml holds);
- instance-refresh.toml: two instance-refresh targets, one template named (launch-template/*), an
  instance profile role for iam:PassRole, pruning, a topic, ECS clusters by name and by ARN;
- mixed.toml: scheduled-surge with termination policies, `none` re-pinning, own parameters, a
  target without groups, no pruning, two topics.

One parliament finding is accepted, narrowly: RESOURCE_MISMATCH for `ssm:GetParameters` on AWS's
public parameters. Their ARNs have an empty account field (`arn:aws:ssm:REGION::parameter/aws/
service/...`, as the SSM and ECS documentation give them), and parliament's ARN matcher never lets
the `*` of the documented format `arn:*:ssm:*:*:parameter/*` match an empty field (it reserves that
for S3-style ARNs), so it reports no resource matching. The exception applies only when that is
the finding's whole detail and the policy's ssm:GetParameters resources are all public-parameter
ARNs; and the same policy with `*` in those account fields must then lint clean, so that nothing
else can hide behind it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "tests" / "iam" / "configs"
ACCOUNT = "123456789012"
REGION = "eu-west-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/ecsInstanceRole"
PUBLIC_PARAMETER = re.compile(r"^arn:[^:]+:ssm:[^:]*::parameter/aws/")
# cfn-lint's console script, run with this interpreter (no dependence on PATH or shims).
CFN_LINT = "import sys; sys.argv[0] = 'cfn-lint'; from cfnlint.runner import main; sys.exit(main())"
SEED_ENV = {
    "launch_template_id": "lt-0123456789abcdef0",
    "image_id_ssm_parameter": "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",
    "sns_arn": f"arn:aws:sns:{REGION}:{ACCOUNT}:ami-updates",
    "asg_name": "ecs-cluster-asg",
}


def amiroll(binary: str, args: list[str], env: dict[str, str]) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AMIROLL_")) and k not in SEED_ENV}
    clean.update(env)
    out = subprocess.run([binary, *args], env=clean, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"lint.py: `amiroll {' '.join(args)}` failed ({out.returncode}):\n{out.stderr}")
    return out.stdout


def parliament_findings(policy: dict) -> list:
    import parliament

    analysed = parliament.analyze_policy_string(json.dumps(policy, indent=2))
    return analysed.findings


def accepted(finding, policy: dict) -> bool:
    """The one parliament limitation described in the module docstring."""
    if finding.issue != "RESOURCE_MISMATCH":
        return False
    detail = finding.detail
    if not (
        isinstance(detail, list)
        and len(detail) == 1
        and detail[0].get("action") == "ssm:GetParameters"
    ):
        return False
    resources = [
        r
        for st in policy["Statement"]
        if "ssm:GetParameters" in st["Action"]
        for r in st["Resource"]
    ]
    return bool(resources) and all(PUBLIC_PARAMETER.match(r) for r in resources)


def with_account_star(policy: dict) -> dict:
    copy = json.loads(json.dumps(policy))
    for st in copy["Statement"]:
        st["Resource"] = [
            re.sub(r"^(arn:[^:]+:ssm:[^:]*)::", r"\1:*:", r) if PUBLIC_PARAMETER.match(r) else r
            for r in st["Resource"]
        ]
    return copy


def lint_policy(name: str, policy: dict) -> list[str]:
    problems = []
    findings = parliament_findings(policy)
    exception = False
    for f in findings:
        if accepted(f, policy):
            exception = True
            continue
        problems.append(f"{name}: parliament: {f.issue} {f.detail} {f.location}")
    if exception:
        for f in parliament_findings(with_account_star(policy)):
            problems.append(
                f"{name} (public-parameter accounts as *): parliament: {f.issue} {f.detail}"
            )
    statements = len(policy["Statement"])
    actions = sum(len(s["Action"]) for s in policy["Statement"])
    note = " (accepted: RESOURCE_MISMATCH for ssm:GetParameters on public parameters)" if exception else ""
    print(f"  parliament {name}: {statements} statements, {actions} actions, "
          f"{len(problems)} finding(s){note}")
    return problems


def lint_template(name: str, text: str) -> list[str]:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"{name}.yaml"
        path.write_text(text)
        out = subprocess.run([sys.executable, "-c", CFN_LINT, str(path)], capture_output=True, text=True)
    print(f"  cfn-lint {name}: exit {out.returncode}")
    if out.returncode != 0:
        return [f"{name}: cfn-lint:\n{out.stdout}{out.stderr}"]
    return []


def main(argv: list[str]) -> None:
    binary = argv[1] if len(argv) > 1 else str(
        Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "amiroll"
    )
    if not Path(binary).exists():
        sys.exit(f"lint.py: {binary} not found (cargo build -p amiroll-cli first)")
    try:
        import parliament  # noqa: F401
    except ImportError:
        sys.exit("lint.py: parliament is not installed: pip install parliament cfn-lint")
    try:
        import cfnlint  # noqa: F401
    except ImportError:
        sys.exit("lint.py: cfn-lint is not installed: pip install parliament cfn-lint")

    cases: list[tuple[str, list[str], dict[str, str]]] = [("seed", [], SEED_ENV)]
    for config in sorted(CONFIGS.glob("*.toml")):
        extra = ["--pass-role", ROLE] if config.stem == "instance-refresh" else []
        cases.append((config.stem, ["--config", str(config), *extra], {}))

    problems: list[str] = []
    for name, args, env in cases:
        # Global flags (--config, --region) before the subcommand; its own flags after.
        config_args = args[:2]
        own = args[2:]
        scoped = amiroll(
            binary,
            [*config_args, "--region", REGION, "iam-policy", "--account-id", ACCOUNT, *own],
            env,
        )
        problems += lint_policy(f"{name} ({REGION}, {ACCOUNT})", json.loads(scoped))
        wildcard = amiroll(binary, [*config_args, "iam-policy", *own], env)
        problems += lint_policy(f"{name} (any Region/account)", json.loads(wildcard))
        template = amiroll(binary, [*config_args, "iam-policy", "--format", "cloudformation", *own], env)
        problems += lint_template(f"{name}-policy", template)

    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(f"lint.py: {len(problems)} finding(s)")
    print(f"lint.py: {len(cases)} configurations, no findings")


if __name__ == "__main__":
    main(sys.argv)
