#!/usr/bin/env python3
"""tests/moto/server.py (moto with amiroll's shims), plus one fix that IAM enforcement needs.

Usage (scripts/test.sh starts it next to the plain emulator):
    INITIAL_NO_AUTH_ACTION_COUNT=0 python3 tests/iam/server.py PORT

With INITIAL_NO_AUTH_ACTION_COUNT set, moto authenticates every request after that many
(moto reads the variable when it is imported, so it must be in this process's environment) and
checks its action against the caller's IAM policies (resource "*" only, conditions treated as met;
see docs/iam.md). tests/iam/moto_iam.py reopens a window with /moto-api/reset-auth to create the
users.

The fix: to check a SigV4 signature, moto (5.2, server mode) needs the request body, but for
`application/x-www-form-urlencoded` requests (EC2, Auto Scaling, SNS, IAM: the Query protocol) the
web framework has already parsed the body into form fields, so moto re-encodes the fields. Its
encoding (Python's urlencode: a space is "+") differs from the AWS SDK for Rust's (a space is
"%20"), so every request whose parameters contain a space or another character the two encode
differently (a version description, an SNS message) fails with AuthFailure/SignatureDoesNotMatch
although it was signed correctly; boto3 requests pass because moto re-encodes the way botocore
does. Here the raw body is kept before parsing and handed to the signature check, which then
verifies exactly the bytes that were signed, as AWS does. Nothing else changes.
"""

from __future__ import annotations

import importlib.util
import io
import os
import sys
from typing import Any

from moto.core.responses import BaseResponse
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

_RAW = "amiroll.raw_body"


def _keep_raw_body(original: Any) -> Any:
    def __call__(self: DomainDispatcherApplication, environ: dict, start_response: Any) -> Any:
        if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            try:
                size = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                size = 0
            if size:
                body = environ["wsgi.input"].read(size)
                environ["wsgi.input"] = io.BytesIO(body)
                environ[_RAW] = body
        return original(self, environ, start_response)

    return __call__


def _use_raw_body(original: Any) -> Any:
    def setup_class(self: BaseResponse, request: Any, *args: Any, **kwargs: Any) -> None:
        original(self, request, *args, **kwargs)
        raw = getattr(request, "environ", {}).get(_RAW)
        if raw and not self.raw_body:
            self.raw_body = raw

    return setup_class


def main() -> None:
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "moto", "server.py")
    spec = importlib.util.spec_from_file_location("amiroll_moto_server", path)
    if spec is None or spec.loader is None:
        sys.exit(f"cannot load {path}")
    server = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(server)
    DomainDispatcherApplication.__call__ = _keep_raw_body(DomainDispatcherApplication.__call__)
    BaseResponse.setup_class = _use_raw_body(BaseResponse.setup_class)
    server.main()


if __name__ == "__main__":
    main()
