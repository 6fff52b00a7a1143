#!/usr/bin/env python3
"""Tests of tests/iam/evaluate.py, through its stdin/stdout contract:

    python3 tests/iam/test_evaluate.py

Each case could fail: every "allowed" has a neighbour that differs in one part (the group name,
the template, the cluster, a condition value, a missing key, the action) and must be "denied".
The policy has the shapes `amiroll iam-policy` generates (docs/iam.md): a `*` statement for the
actions without a resource type, a public SSM parameter (empty account), a group ARN with `*` for
its UUID, container instances scoped with ArnEquals on ecs:cluster, and the three launch checks
(ArnLike on ec2:LaunchTemplate, StringEquals on ec2:CreateAction and iam:PassedToService).
Needs iamprover (.ci/run installs it).
"""

from __future__ import annotations

import json
import subprocess
import sys
import unittest
from pathlib import Path

EVALUATE = Path(__file__).resolve().parent / "evaluate.py"
A = "123456789012"
R = "us-east-1"
UUID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
TEMPLATE = f"arn:aws:ec2:{R}:{A}:launch-template/lt-0abc123"
OTHER_TEMPLATE = f"arn:aws:ec2:{R}:{A}:launch-template/lt-0def456"
CLUSTER = f"arn:aws:ecs:{R}:{A}:cluster/prod"
OTHER_CLUSTER = f"arn:aws:ecs:{R}:{A}:cluster/staging"
AMI_PARAMETER = "aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
ROLE = f"arn:aws:iam::{A}:role/ecsInstanceRole"


def group(name: str) -> str:
    return f"arn:aws:autoscaling:{R}:{A}:autoScalingGroup:{UUID}:autoScalingGroupName/{name}"


POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "ReadsWithoutResourceLevelPermissions", "Effect": "Allow", "Resource": ["*"],
         "Action": ["autoscaling:DescribeAutoScalingGroups", "ec2:DescribeImages"]},
        {"Sid": "ReadAmiParameters", "Effect": "Allow", "Action": ["ssm:GetParameters"],
         "Resource": [f"arn:aws:ssm:{R}::parameter/{AMI_PARAMETER}"]},
        {"Sid": "LaunchTemplateVersions", "Effect": "Allow",
         "Action": ["ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate"],
         "Resource": [TEMPLATE]},
        {"Sid": "AutoScalingGroups", "Effect": "Allow",
         "Action": ["autoscaling:CreateOrUpdateTags", "autoscaling:UpdateAutoScalingGroup"],
         "Resource": [f"arn:aws:autoscaling:{R}:{A}:autoScalingGroup:*:autoScalingGroupName/ecs-prod"]},
        {"Sid": "EcsListContainerInstancesOfTheClusters", "Effect": "Allow",
         "Action": ["ecs:ListContainerInstances"], "Resource": [CLUSTER]},
        {"Sid": "EcsDescribeContainerInstancesOfTheClusters", "Effect": "Allow",
         "Action": ["ecs:DescribeContainerInstances"],
         "Resource": [f"arn:aws:ecs:{R}:{A}:container-instance/prod/*"],
         "Condition": {"ArnEquals": {"ecs:cluster": [CLUSTER]}}},
        {"Sid": "AutoScalingChecksLaunchFromTheseTemplates", "Effect": "Allow",
         "Action": ["ec2:RunInstances"], "Resource": [f"arn:aws:ec2:{R}:*:*"],
         "Condition": {"ArnLike": {"ec2:LaunchTemplate": [TEMPLATE]}}},
        {"Sid": "AutoScalingChecksTagsAtLaunch", "Effect": "Allow",
         "Action": ["ec2:CreateTags"], "Resource": [f"arn:aws:ec2:{R}:*:*"],
         "Condition": {"StringEquals": {"ec2:CreateAction": ["RunInstances"]}}},
        {"Sid": "AutoScalingChecksInstanceProfileRole", "Effect": "Allow",
         "Action": ["iam:PassRole"], "Resource": [ROLE],
         "Condition": {"StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com"]}}},
    ],
}


def run(policy: dict, requests: list) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(EVALUATE)],
        input=json.dumps({"policy": policy, "requests": requests}),
        capture_output=True,
        text=True,
        timeout=120,
    )


def decide(*requests: tuple, policy: dict = POLICY) -> list[str]:
    """(action, resource[, context]) tuples → the decisions, asserting a clean exit."""
    body = [{"action": r[0], "resource": r[1], "context": r[2] if len(r) > 2 else {}} for r in requests]
    out = run(policy, body)
    if out.returncode != 0:
        raise AssertionError(f"evaluate.py exited {out.returncode}: {out.stderr}")
    decisions = json.loads(out.stdout)["decisions"]
    assert len(decisions) == len(requests), decisions
    return decisions


class Resources(unittest.TestCase):
    def test_group_arn_with_a_wildcard_uuid_matches_its_name_only(self):
        self.assertEqual(
            decide(
                ("autoscaling:UpdateAutoScalingGroup", group("ecs-prod")),
                ("autoscaling:UpdateAutoScalingGroup", group("ecs-other")),
                ("autoscaling:UpdateAutoScalingGroup", group("ecs-prod-2")),
                ("autoscaling:CreateOrUpdateTags", group("ecs-prod")),
            ),
            ["allowed", "denied", "denied", "allowed"],
        )

    def test_public_ssm_parameter_has_an_empty_account(self):
        self.assertEqual(
            decide(
                ("ssm:GetParameters", f"arn:aws:ssm:{R}::parameter/{AMI_PARAMETER}"),
                # The same name as an own parameter (with the account) is another resource.
                ("ssm:GetParameters", f"arn:aws:ssm:{R}:{A}:parameter/{AMI_PARAMETER}"),
                ("ssm:GetParameters", f"arn:aws:ssm:{R}::parameter/aws/service/ecs/optimized-ami/"
                                      "amazon-linux-2/recommended/image_id"),
                ("ssm:GetParameters", f"arn:aws:ssm:eu-west-1::parameter/{AMI_PARAMETER}"),
            ),
            ["allowed", "denied", "denied", "denied"],
        )

    def test_template_of_another_target_is_denied(self):
        self.assertEqual(
            decide(
                ("ec2:CreateLaunchTemplateVersion", TEMPLATE),
                ("ec2:CreateLaunchTemplateVersion", OTHER_TEMPLATE),
                ("ec2:ModifyLaunchTemplate", OTHER_TEMPLATE),
            ),
            ["allowed", "denied", "denied"],
        )

    def test_star_is_a_resource_only_for_the_star_statement(self):
        # Actions without a resource type are authorized against "*"; an action with one
        # recorded against "*" would not match a statement scoped to ARNs.
        self.assertEqual(
            decide(
                ("autoscaling:DescribeAutoScalingGroups", "*"),
                ("autoscaling:UpdateAutoScalingGroup", "*"),
                ("ec2:DescribeImages", "*"),
            ),
            ["allowed", "denied", "allowed"],
        )


class Actions(unittest.TestCase):
    def test_action_not_in_the_policy_is_denied(self):
        self.assertEqual(
            decide(
                ("autoscaling:DeleteAutoScalingGroup", group("ecs-prod")),
                ("ec2:DeleteLaunchTemplateVersions", TEMPLATE),
                ("sns:Publish", f"arn:aws:sns:{R}:{A}:ami-updates"),
            ),
            ["denied", "denied", "denied"],
        )

    def test_action_names_are_case_insensitive(self):
        self.assertEqual(
            decide(("AutoScaling:updateAutoScalingGroup", group("ecs-prod"))),
            ["allowed"],
        )


class Conditions(unittest.TestCase):
    def test_arn_like_on_the_launch_template(self):
        instance = f"arn:aws:ec2:{R}:{A}:instance/*"
        image = f"arn:aws:ec2:{R}::image/ami-0123456789abcdef0"  # AMIs have no account
        self.assertEqual(
            decide(
                ("ec2:RunInstances", instance, {"ec2:LaunchTemplate": TEMPLATE}),
                ("ec2:RunInstances", image, {"ec2:LaunchTemplate": TEMPLATE}),
                ("ec2:RunInstances", instance, {"ec2:LaunchTemplate": OTHER_TEMPLATE}),
                ("ec2:RunInstances", instance, {}),  # the key is missing
                ("ec2:RunInstances", f"arn:aws:ec2:eu-west-1:{A}:instance/*", {"ec2:LaunchTemplate": TEMPLATE}),
            ),
            ["allowed", "allowed", "denied", "denied", "denied"],
        )

    def test_arn_equals_on_the_cluster(self):
        instance = f"arn:aws:ecs:{R}:{A}:container-instance/prod/0123456789abcdef0123456789abcdef"
        self.assertEqual(
            decide(
                ("ecs:DescribeContainerInstances", instance, {"ecs:cluster": CLUSTER}),
                ("ecs:DescribeContainerInstances", instance, {"ecs:cluster": OTHER_CLUSTER}),
                ("ecs:DescribeContainerInstances", instance, {}),  # the key is missing
                ("ecs:DescribeContainerInstances",
                 f"arn:aws:ecs:{R}:{A}:container-instance/staging/0123", {"ecs:cluster": CLUSTER}),
                ("ecs:ListContainerInstances", CLUSTER),
                ("ecs:ListContainerInstances", OTHER_CLUSTER),
            ),
            ["allowed", "denied", "denied", "denied", "allowed", "denied"],
        )

    def test_string_equals(self):
        self.assertEqual(
            decide(
                ("ec2:CreateTags", f"arn:aws:ec2:{R}:{A}:instance/*", {"ec2:CreateAction": "RunInstances"}),
                ("ec2:CreateTags", f"arn:aws:ec2:{R}:{A}:instance/*", {"ec2:CreateAction": "CreateTags"}),
                ("ec2:CreateTags", f"arn:aws:ec2:{R}:{A}:instance/*", {"ec2:CreateAction": "runinstances"}),
                ("ec2:CreateTags", f"arn:aws:ec2:{R}:{A}:instance/*", {}),  # the key is missing
                ("iam:PassRole", ROLE, {"iam:PassedToService": "ec2.amazonaws.com"}),
                ("iam:PassRole", ROLE, {"iam:PassedToService": "lambda.amazonaws.com"}),
                ("iam:PassRole", ROLE, {}),  # the key is missing
                ("iam:PassRole", f"arn:aws:iam::{A}:role/admin", {"iam:PassedToService": "ec2.amazonaws.com"}),
            ),
            ["allowed", "denied", "denied", "denied", "allowed", "denied", "denied", "denied"],
        )

    def test_condition_key_names_are_case_insensitive(self):
        self.assertEqual(
            decide(("iam:PassRole", ROLE, {"IAM:PassedToService": "ec2.amazonaws.com"})),
            ["allowed"],
        )


class Evaluation(unittest.TestCase):
    def test_an_explicit_deny_wins(self):
        policy = {"Version": "2012-10-17", "Statement": POLICY["Statement"] + [
            {"Effect": "Deny", "Action": ["ec2:RunInstances"], "Resource": ["*"],
             "Condition": {"StringEquals": {"ec2:CreateAction": ["RunInstances"]}}},
        ]}
        ctx = {"ec2:LaunchTemplate": TEMPLATE}
        instance = f"arn:aws:ec2:{R}:{A}:instance/*"
        self.assertEqual(
            decide(("ec2:RunInstances", instance, ctx),
                   ("ec2:RunInstances", instance, {**ctx, "ec2:CreateAction": "RunInstances"}),
                   policy=policy),
            ["allowed", "denied"],
        )

    def test_decisions_keep_the_order_of_the_requests_and_repeats(self):
        ok = ("ec2:CreateLaunchTemplateVersion", TEMPLATE)
        no = ("ec2:CreateLaunchTemplateVersion", OTHER_TEMPLATE)
        self.assertEqual(decide(no, ok, no, ok, ok), ["denied", "allowed", "denied", "allowed", "allowed"])
        self.assertEqual(decide(), [])

    def test_what_it_cannot_decide_exactly_is_refused(self):
        refused = [
            # An operator iamprover does not encode (it would take it as met).
            {"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": "*",
             "Condition": {"StringEqualsIfExists": {"ec2:LaunchTemplate": TEMPLATE}}},
            {"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": "*",
             "Condition": {"Null": {"ec2:LaunchTemplate": "false"}}},
            # A policy variable (it would widen it to *).
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": f"arn:aws:iam::{A}:role/${{aws:username}}"},
        ]
        for statement in refused:
            out = run({"Version": "2012-10-17", "Statement": [statement]},
                      [{"action": "ec2:RunInstances", "resource": "*", "context": {}}])
            self.assertEqual(out.returncode, 2, (statement, out.stdout, out.stderr))
            self.assertIn("cannot decide", out.stderr)
        # A condition value that matches "" cannot decide a request that lacks the key (IAM: the
        # condition is false), but can one that has it.
        star = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": "*",
             "Condition": {"ArnLike": {"ec2:LaunchTemplate": "*"}}}]}
        out = run(star, [{"action": "ec2:RunInstances", "resource": "*", "context": {}}])
        self.assertEqual(out.returncode, 2, out.stderr)
        self.assertEqual(decide(("ec2:RunInstances", "*", {"ec2:LaunchTemplate": TEMPLATE}), policy=star),
                         ["allowed"])
        # A malformed request is refused too, not decided.
        out = run(POLICY, [{"action": "ec2:RunInstances", "resource": "*", "context": {"k": ["a", "b"]}}])
        self.assertEqual(out.returncode, 2, out.stderr)


if __name__ == "__main__":
    try:
        import iamprover  # noqa: F401  (evaluate.py runs in this interpreter)
    except ImportError:
        sys.exit("test_evaluate.py: iamprover is missing: python3 -m pip install 'iamprover>=0.7,<0.8'")
    unittest.main(verbosity=2)
