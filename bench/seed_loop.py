#!/usr/bin/env python3
"""Run the seed's Lambda handler (bench/seed_lambda.py, verbatim) over many targets in one process.

Usage: python3 bench/seed_loop.py TARGETS.json [SUMMARY.json]

TARGETS.json is a list of objects with the seed's four environment variables (launch_template_id,
image_id_ssm_parameter, sns_arn, asg_name). For each target the variables are set in os.environ and
`lambda_handler(event, None)` is called once, as Lambda would call it once per function. The
handler's own prints go to stdout; SUMMARY.json (optional) gets one entry per target: the returned
message, or the exception. Exit 0 when every call returned, 1 otherwise.

The AWS endpoint, credentials and Region come from the environment (AWS_ENDPOINT_URL,
AWS_DEFAULT_REGION, ...), exactly as the unchanged handler's boto3 clients read them.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from seed_lambda import lambda_handler  # noqa: E402  (imports boto3, as the seed does)

SEED_ENV = ("launch_template_id", "image_id_ssm_parameter", "sns_arn", "asg_name")

# What EventBridge (CloudWatch Events) passes on a schedule; the handler ignores it.
EVENT = {
    "version": "0",
    "id": "00000000-0000-0000-0000-000000000000",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-01-01T13:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/amiroll-bench"],
    "detail": {},
}


def main() -> int:
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        targets = json.load(f)
    results = []
    for t in targets:
        for var in SEED_ENV:
            os.environ[var] = t[var]
        try:
            results.append({"ok": True, "result": lambda_handler(EVENT, None)})
        except Exception as e:  # report the seed's failure, keep going
            results.append({"ok": False, "error": f"{type(e).__name__}: {e}"})
    if len(sys.argv) == 3:
        with open(sys.argv[2], "w") as f:
            json.dump(results, f)
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
