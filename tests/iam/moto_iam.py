#!/usr/bin/env python3
"""IAM principals on a moto server that enforces IAM, for crates/cli/tests/iam.rs.

The server runs with INITIAL_NO_AUTH_ACTION_COUNT set (see scripts/test.sh): after that many
requests, every request must be signed by a known access key and allowed by its policies. moto
checks the *action* only: every request is evaluated against the resource "*" and every condition
counts as met (moto-gaps §6), so the caller rewrites Resource to "*" before using a generated policy.

Usage:
    moto_iam.py admin URL
        Reopen a window of 3 unauthenticated requests (POST /moto-api/reset-auth, text/plain:
        another content type makes moto answer 500) and spend it on an admin user with an inline
        Allow-everything policy and an access key. Prints {"AccessKeyId": …, "SecretAccessKey": …}.
    moto_iam.py user URL NAME POLICY_FILE
        As the admin whose key is in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY: a user NAME with
        POLICY_FILE as its inline policy, and an access key for it (printed as above).
"""

from __future__ import annotations

import json
import sys
import urllib.request
import uuid

import boto3

WINDOW = 3  # CreateUser, PutUserPolicy, CreateAccessKey


def iam(url: str, key: str, secret: str):
    return boto3.client(
        "iam",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
    )


def create(client, name: str, policy: str) -> dict:
    client.create_user(UserName=name)
    client.put_user_policy(UserName=name, PolicyName=f"{name}-policy", PolicyDocument=policy)
    key = client.create_access_key(UserName=name)["AccessKey"]
    return {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}


def admin(url: str) -> dict:
    request = urllib.request.Request(
        f"{url}/moto-api/reset-auth",
        data=str(WINDOW).encode(),
        headers={"Content-Type": "text/plain"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()
    everything = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    )
    # Any key will do inside the window; moto does not look at it.
    return create(iam(url, "testing", "testing"), f"admin-{uuid.uuid4().hex[:12]}", everything)


def user(url: str, name: str, policy_file: str) -> dict:
    import os

    with open(policy_file, encoding="utf-8") as f:
        policy = f.read()
    client = iam(url, os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    return create(client, name, policy)


def main(argv: list[str]) -> None:
    if len(argv) == 3 and argv[1] == "admin":
        print(json.dumps(admin(argv[2])))
    elif len(argv) == 5 and argv[1] == "user":
        print(json.dumps(user(argv[2], argv[3], argv[4])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
