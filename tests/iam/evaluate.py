#!/usr/bin/env python3
"""Decide recorded requests against an identity policy with a maintained IAM evaluator.

    python3 tests/iam/evaluate.py < in.json > out.json

stdin:  {"policy": {...}, "requests": [{"action": "ec2:RunInstances", "resource": "arn:...",
                                         "context": {"ec2:LaunchTemplate": "arn:..."}}, ...]}
stdout: {"decisions": ["allowed" | "denied", ...]}   one per request, in order
Exit 0 with the decisions; exit 2 (and a message on stderr) for input the evaluator cannot decide.

The evaluator is iamprover (PyPI `iamprover`, Apache-2.0, https://github.com/UTKARSH698/iamprover).
It encodes IAM's policy evaluation logic ("Policy evaluation logic", IAM User Guide,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html: an
explicit Deny wins, otherwise a matching Allow is needed, otherwise the request is implicitly
denied) as Z3 constraints: Action/NotAction matched case-insensitively, Resource/NotResource with
`*` and `?`, and the condition operators StringEquals/StringLike, ArnEquals/ArnLike (and their
Not forms), Bool and IpAddress. A request is "allowed" when `iamprover.engine.encoder.allowed` is
satisfiable with the action, the resource and every context key pinned to the request's values.

iamprover is built to over-approximate (it proves invariants over all requests). This adapter
sees that no decision is "allowed" through that:
- a key the policy's conditions test but the request lacks would be a free variable that the
  solver may set to anything; it is pinned to "" instead. IAM takes a condition on a missing key
  as false, and as true for the negated operators ("IAM JSON policy elements: Condition operators",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html);
  "" gives the same results unless a condition value matches "" (a bare `*`), and such a request
  is refused;
- a condition iamprover cannot encode (it would take it as met on an Allow: `...IfExists`, `Null`,
  `Numeric*`, `Date*`, `ForAnyValue:`/`ForAllValues:`, `StringEqualsIgnoreCase`, ...) and a policy
  variable (it would widen it to `*`) are refused with exit 2, not approximated.
"""

from __future__ import annotations

import json
import sys

try:
    import z3
    from iamprover.engine.conditions import encode_condition
    from iamprover.engine.context import Context
    from iamprover.engine.encoder import allowed
    from iamprover.engine.patterns import has_variable
    from iamprover.model import Principal
    from iamprover.parsers.iam import parse_policy_document
except ImportError as e:  # pragma: no cover - an environment problem, not a decision
    sys.exit(f"evaluate.py: {e}; install it with: python3 -m pip install 'iamprover>=0.7,<0.8'")

# Identity-based policies name no principal; iamprover needs one to attach the policy to.
CALLER = "arn:aws:iam::000000000000:user/amiroll"


class Refused(Exception):
    """Input the evaluator cannot decide exactly."""


def load_policy(document: dict):
    policy = parse_policy_document("policy", document)
    for i, st in enumerate(policy.statements):
        if st.effect not in ("Allow", "Deny"):
            raise Refused(f"statement {i}: Effect {st.effect!r}")
        patterns = st.actions + st.not_actions + st.resources + st.not_resources
        if any(has_variable(p) for p in patterns):
            raise Refused(f"statement {i}: a policy variable (iamprover widens it to *)")
        for cond in st.conditions:
            if encode_condition(cond, Context()) is None:
                raise Refused(
                    f"statement {i}: condition {cond.operator} on {cond.key} is not one iamprover "
                    "encodes (it would take it as met)"
                )
    return policy


def decide(policy, tested_keys: set[str], matches_empty: set[str], request: dict) -> str:
    action = request["action"]
    resource = request["resource"]
    context = request.get("context") or {}
    if not isinstance(action, str) or not isinstance(resource, str) or not isinstance(context, dict):
        raise Refused(f"request {request!r}: action and resource must be strings, context an object")
    ctx = Context()
    solver = z3.Solver()
    # iamprover compares actions in lower case (IAM action names are case-insensitive).
    caller = Principal(CALLER, [policy])
    solver.add(allowed(caller, z3.StringVal(action.lower()), z3.StringVal(resource), ctx))
    for key, value in context.items():
        if not isinstance(value, str):
            raise Refused(f"context key {key}: only single string values are supported")
        solver.add(ctx.constrain(key, value))
    for key in tested_keys - {k.lower() for k in context}:
        if key == "aws:sourceip" or key in matches_empty:
            raise Refused(f"request {request!r} lacks {key}, and \"\" cannot stand for it")
        solver.add(ctx.constrain(key, ""))
    result = solver.check()
    if result == z3.unknown:
        raise Refused(f"request {request!r}: the solver gave no answer ({solver.reason_unknown()})")
    return "allowed" if result == z3.sat else "denied"


def evaluate(document: dict, requests: list) -> list[str]:
    policy = load_policy(document)
    conditions = [c for st in policy.statements for c in st.conditions]
    tested_keys = {c.key.lower() for c in conditions}
    # Keys with a value that matches "" cannot be pinned to "" when the request lacks them.
    matches_empty = {c.key.lower() for c in conditions if any(v.strip("*") == "" for v in c.values)}
    seen: dict[str, str] = {}  # a recording repeats pairs; each solver call takes milliseconds
    decisions = []
    for r in requests:
        key = json.dumps(r, sort_keys=True)
        if key not in seen:
            seen[key] = decide(policy, tested_keys, matches_empty, r)
        decisions.append(seen[key])
    return decisions


def main() -> int:
    try:
        data = json.load(sys.stdin)
        decisions = evaluate(data["policy"], data["requests"])
    except (Refused, KeyError, TypeError, ValueError) as e:
        print(f"evaluate.py: cannot decide: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    json.dump({"decisions": decisions}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
