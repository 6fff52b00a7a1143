#!/usr/bin/env python3
"""moto, in-process, with a small shim for the AWS behaviour amiroll relies on and moto lacks.

Usage:
    python3 tests/moto/server.py [PORT]        # or AMIROLL_MOTO_PORT=PORT; default 5790

Binds 127.0.0.1 only, prints ``ready`` once the server answers HTTP, and runs until SIGINT/SIGTERM.
Each shim imitates documented AWS behaviour (its docstring names the API reference page); see
README.md next to this file for why each one exists. Product code is never changed to suit moto.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone
from typing import Any

from moto.autoscaling.exceptions import AutoscalingClientError, ValidationError
from moto.autoscaling.models import AutoScalingBackend, FakeAutoScalingGroup, InstanceState, LifecycleHook
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import ActionResult, EmptyResult
from moto.ec2.exceptions import (
    EC2ClientError,
    InvalidLaunchTemplateVersionNotFound,
    InvalidNextToken,
    InvalidParameterValue,
)
from moto.ec2.models.amis import Ami, AmiBackend
from moto.ec2.models.launch_templates import LaunchTemplate, LaunchTemplateBackend
from moto.ec2.responses.amis import AmisResponse
from moto.ec2.responses.instances import InstanceResponse
from moto.ec2.responses.launch_templates import LaunchTemplates
from moto.ecs.exceptions import ClusterNotFoundException, InvalidParameterException
from moto.ecs.responses import EC2ContainerServiceResponse, format_attributes
from moto.server import ThreadedMotoServer

# Shim state lives on moto's own objects, so `/moto-api/reset` (which rebuilds the backends) clears it.
_LOCK = threading.RLock()


class IdempotentParameterMismatch(EC2ClientError):
    def __init__(self, token: str) -> None:
        super().__init__(
            "IdempotentParameterMismatch",
            f"The client token {token} was already used with different request parameters.",
        )


def _deleted(template: LaunchTemplate) -> set[int]:
    """Version numbers removed by the DeleteLaunchTemplateVersions shim (kept in moto's list so
    that numbering, which moto derives from the list length, never reissues a number)."""
    return template.__dict__.setdefault("_amiroll_deleted", set())


def _client_tokens(backend: Any) -> dict[str, tuple[str, str, int]]:
    """ClientToken -> (request fingerprint, template id, version number), per account and Region."""
    return backend.__dict__.setdefault("_amiroll_lt_client_tokens", {})


def _version_result(self: LaunchTemplates, template: LaunchTemplate, version: Any) -> dict:
    return {
        "CreateTime": version.create_time,
        "CreatedBy": f"arn:{self.partition}:iam::{self.current_account}:root",
        "DefaultVersion": template.is_default(version),
        "LaunchTemplateData": version.data,
        "LaunchTemplateId": template.id,
        "LaunchTemplateName": template.name,
        "VersionDescription": version.description,
        "VersionNumber": version.number,
    }


# --- shim 1 + 2: CreateLaunchTemplateVersion -------------------------------------------------


def create_launch_template_version(self: LaunchTemplates) -> ActionResult:
    """Imitates "CreateLaunchTemplateVersion" (Amazon EC2 API Reference).

    * SourceVersion: "If you specify a source version, the new version inherits the same launch
      parameters as the source version, except for parameters that you explicitly specify" in
      LaunchTemplateData (top-level members replace the inherited ones). An unknown source version
      is InvalidLaunchTemplateId.VersionNotFound. moto keeps only the data passed.
    * "Snapshots applied to the block device mapping are ignored when creating a new version
      unless they are explicitly included" (SourceVersion): an inherited mapping keeps its device
      and volume settings without its SnapshotId. moto keeps nothing of the source.
    * ClientToken: "Unique, case-sensitive identifier you provide to ensure the idempotency of the
      request" ("Ensuring idempotency in Amazon EC2 API requests"): a retry with the same token and
      the same parameters returns the original version and creates none; the same token with
      different parameters fails with IdempotentParameterMismatch. moto ignores the token.
    """
    name = self._get_param("LaunchTemplateName")
    template_id = self._get_param("LaunchTemplateId")
    if name:
        template = self.ec2_backend.get_launch_template_by_name(name)
    else:
        template = self.ec2_backend.get_launch_template(template_id)
    description = self._get_param("VersionDescription")
    data = self._get_param("LaunchTemplateData", {}) or {}
    source = self._get_param("SourceVersion")
    token = self._get_param("ClientToken")
    self.error_on_dryrun()

    with _LOCK:
        tokens = _client_tokens(self.ec2_backend)
        fingerprint = json.dumps(
            [template.id, source, description, data], sort_keys=True, default=str
        )
        if token and token in tokens:
            seen_fingerprint, seen_template_id, number = tokens[token]
            if seen_fingerprint != fingerprint:
                raise IdempotentParameterMismatch(token)
            seen_template = self.ec2_backend.get_launch_template(seen_template_id)
            version = seen_template.get_version(number)
            return ActionResult({"LaunchTemplateVersion": _version_result(self, seen_template, version)})

        if source is not None:
            merged = copy.deepcopy(template.get_version(source).data)
            # "Snapshots applied to the block device mapping are ignored when creating a new
            # version unless they are explicitly included" (SourceVersion): inherited mappings
            # lose their SnapshotId; BlockDeviceMappings in the request replace them as a whole.
            for mapping in merged.get("BlockDeviceMappings") or []:
                if isinstance(mapping, dict) and isinstance(mapping.get("Ebs"), dict):
                    mapping["Ebs"].pop("SnapshotId", None)
            merged.update(data)
            data = merged
        version = template.create_version(data, description)
        if token:
            tokens[token] = (fingerprint, template.id, version.number)
    return ActionResult({"LaunchTemplateVersion": _version_result(self, template, version)})


# --- shim 3: DeleteLaunchTemplateVersions ------------------------------------------------------


def delete_launch_template_versions(self: LaunchTemplates) -> ActionResult:
    """Imitates "DeleteLaunchTemplateVersions" (Amazon EC2 API Reference); moto answers HTTP 500.

    "You can't delete the default version of a launch template". A partial failure is a 200: each
    version lands in SuccessfullyDeletedLaunchTemplateVersions or in
    UnsuccessfullyDeletedLaunchTemplateVersions with a ResponseError whose Code is a
    LaunchTemplateErrorCode: the default version -> unexpectedError, an unknown version ->
    launchTemplateVersionDoesNotExist, an unknown template -> launchTemplateIdDoesNotExist /
    launchTemplateNameDoesNotExist.
    """
    name = self._get_param("LaunchTemplateName")
    template_id = self._get_param("LaunchTemplateId")
    versions = [str(v) for v in (self._get_param("Versions", []) or [])]
    self.error_on_dryrun()

    ok: list[dict] = []
    failed: list[dict] = []

    def failure(version: str, code: str, message: str, template: LaunchTemplate | None) -> dict:
        item: dict[str, Any] = {"ResponseError": {"Code": code, "Message": message}}
        if template is not None:
            item["LaunchTemplateId"] = template.id
            item["LaunchTemplateName"] = template.name
        else:
            if template_id:
                item["LaunchTemplateId"] = template_id
            if name:
                item["LaunchTemplateName"] = name
        if version.isdigit():
            item["VersionNumber"] = int(version)
        return item

    with _LOCK:
        backend = self.ec2_backend
        if name:
            tid = backend.launch_template_name_to_ids.get(name)
            template = backend.launch_templates.get(tid) if tid else None
            missing = ("launchTemplateNameDoesNotExist", f"The specified launch template, with template name {name}, does not exist")
        else:
            template = backend.launch_templates.get(template_id)
            missing = ("launchTemplateIdDoesNotExist", f"The specified launch template, with template ID {template_id}, does not exist")
        for version in versions:
            if template is None:
                failed.append(failure(version, *missing, None))
                continue
            number = int(version) if version.isdigit() else 0
            if not 1 <= number <= len(template.versions) or number in _deleted(template):
                failed.append(failure(version, "launchTemplateVersionDoesNotExist",
                                      f"The specified launch template version {version} does not exist", template))
            elif number == template.default_version_number:
                failed.append(failure(version, "unexpectedError",
                                      "The default version of a launch template cannot be deleted", template))
            else:
                _deleted(template).add(number)
                ok.append({"LaunchTemplateId": template.id, "LaunchTemplateName": template.name,
                           "VersionNumber": number})
    return ActionResult({
        "SuccessfullyDeletedLaunchTemplateVersions": ok,
        "UnsuccessfullyDeletedLaunchTemplateVersions": failed,
    })


_original_get_version = LaunchTemplate.get_version
_original_describe_versions = LaunchTemplateBackend.describe_launch_template_versions


def get_version(self: LaunchTemplate, num: Any) -> Any:
    """Imitates "DescribeLaunchTemplateVersions" after "DeleteLaunchTemplateVersions": a deleted
    version is gone (InvalidLaunchTemplateId.VersionNotFound) and its number is not reissued."""
    if str(num).lower() == "$latest":
        return self.latest_version()
    version = _original_get_version(self, num)
    if version.number in _deleted(self):
        raise InvalidLaunchTemplateVersionNotFound(template_id=self.id, version=str(num))
    return version


def latest_version(self: LaunchTemplate) -> Any:
    """Imitates "DescribeLaunchTemplates" LatestVersionNumber: the highest version that still exists."""
    deleted = _deleted(self)
    for version in reversed(self.versions):
        if version.number not in deleted:
            return version
    return self.versions[-1]


def describe_launch_template_versions(self: LaunchTemplateBackend, *args: Any, **kwargs: Any) -> list:
    """Imitates "DescribeLaunchTemplateVersions": deleted versions are not listed (moto's own
    MaxResults cut is applied after they are left out)."""
    max_results = kwargs.pop("max_results", 15)
    found = _original_describe_versions(self, *args, max_results=10**9, **kwargs)
    found = [(t, v) for (t, v) in found if v.number not in _deleted(t)]
    return found[:max_results]


_original_modify = LaunchTemplateBackend.modify_launch_template


def modify_launch_template(
    self: LaunchTemplateBackend,
    default_version: str,
    template_name: str | None = None,
    template_id: str | None = None,
) -> Any:
    """Imitates "ModifyLaunchTemplate": a deleted version cannot become the default
    (InvalidLaunchTemplateId.VersionNotFound)."""
    tid = self.launch_template_name_to_ids.get(template_name) if template_name else template_id
    template = self.launch_templates.get(tid) if tid else None
    if template is not None and str(default_version).isdigit() and int(default_version) in _deleted(template):
        raise InvalidLaunchTemplateVersionNotFound(version=str(default_version))
    return _original_modify(self, default_version, template_name=template_name, template_id=template_id)


# --- shim 4: UpdateAutoScalingGroup TerminationPolicies ----------------------------------------

_original_update_group = AutoScalingResponse.update_auto_scaling_group


def update_auto_scaling_group(self: AutoScalingResponse) -> Any:
    """Imitates "UpdateAutoScalingGroup" (Amazon EC2 Auto Scaling API Reference): TerminationPolicies
    given in the request replace the group's policies; members not given stay as they are. moto
    ignores TerminationPolicies on update.

    "Update restriction — If you attempt to update an Auto Scaling group's launch template, launch
    configuration, or mixed instances policy while an instance refresh with a desired configuration
    is active, the request will fail with the following validation error" ("How an instance
    refresh works", Limitations,
    https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-refresh-overview.html)."""
    name = self._get_param("AutoScalingGroupName")
    group = self.autoscaling_backend.autoscaling_groups.get(name)
    if group is not None:
        # "UpdateAutoScalingGroup": the sizes after the update must keep min <= desired <= max; a
        # new min above (max below) the current desired capacity moves it when none is given.
        # moto accepts any sizes.
        min_size = self._get_int_param("MinSize")
        max_size = self._get_int_param("MaxSize")
        desired = self._get_int_param("DesiredCapacity")
        new_min = group.min_size if min_size is None else min_size
        new_max = group.max_size if max_size is None else max_size
        if new_min > new_max:
            raise ValidationError(f"Max bound, {new_max}, must be greater than or equal to min bound, {new_min}")
        if desired is not None and not new_min <= desired <= new_max:
            raise ValidationError(
                f"Desired capacity:{desired} must be between the specified min size:{new_min} and max size:{new_max}"
            )
    if self._get_param("LaunchTemplate") or self._get_param("MixedInstancesPolicy"):
        with _LOCK:
            active = [r for r in _refreshes(self, name) if r["Status"] in _ACTIVE]
        if any(r.get("DesiredConfiguration") for r in active):
            raise ValidationError(
                "An active instance refresh with a desired configuration exists. All configuration options "
                "derived from the desired configuration are not available for update while the instance "
                "refresh is active."
            )
    result = _original_update_group(self)
    policies = self._get_param("TerminationPolicies")
    if policies:
        group = self.autoscaling_backend.autoscaling_groups[self._get_param("AutoScalingGroupName")]
        group.termination_policies = list(policies)
    return result


# --- shim 5: instance refresh (Start / Describe / Cancel / Rollback) ---------------------------
#
# moto 5.2.1 has none of the four actions (HTTP 500). moto dispatches a Query action to the
# AutoScalingResponse method of the same name in snake_case and serializes an ActionResult (or a
# ServiceException, by its code) with the botocore model, as for every moto Auto Scaling action,
# so the methods below are simply added to that class. Refreshes live in memory per group and
# never progress on their own: no instance is replaced, the status only changes on Cancel and
# Rollback.

# "DescribeInstanceRefreshes" Status values of a refresh that still runs (not terminal).
_ACTIVE = ("Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking")


class InstanceRefreshInProgress(AutoscalingClientError):
    code = "InstanceRefreshInProgress"


class ActiveInstanceRefreshNotFound(AutoscalingClientError):
    code = "ActiveInstanceRefreshNotFound"


class IrreversibleInstanceRefresh(AutoscalingClientError):
    code = "IrreversibleInstanceRefresh"


def _refreshes(self: AutoScalingResponse, group_name: str) -> list[dict]:
    """The group's refreshes, oldest first, kept on moto's backend (so `/moto-api/reset` clears them)."""
    store = self.autoscaling_backend.__dict__.setdefault("_amiroll_refreshes", {})
    return store.setdefault(group_name, [])


def _active(self: AutoScalingResponse, group_name: str) -> dict:
    for refresh in _refreshes(self, group_name):
        if refresh["Status"] in _ACTIVE:
            return refresh
    raise ActiveInstanceRefreshNotFound(f"No in progress or pending Instance Refresh found for Auto Scaling group {group_name}")


def start_instance_refresh(self: AutoScalingResponse) -> ActionResult:
    """Imitates "StartInstanceRefresh" (Amazon EC2 Auto Scaling API Reference).

    An unknown group is a ValidationError. "only one instance refresh can be in progress at a time
    for an Auto Scaling group" -> InstanceRefreshInProgress (HTTP 400) while one is active. Stores
    the refresh as Pending with its Strategy (default Rolling), Preferences, DesiredConfiguration,
    StartTime and InstancesToUpdate (the group's instance count); returns InstanceRefreshId.
    """
    name = self._get_param("AutoScalingGroupName")
    group = self.autoscaling_backend.autoscaling_groups.get(name)
    if group is None:
        raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup {name} not found")
    with _LOCK:
        refreshes = _refreshes(self, name)
        active = [r for r in refreshes if r["Status"] in _ACTIVE]
        if active:
            raise InstanceRefreshInProgress(
                f"An Instance Refresh is already in progress and blocks the execution of this Instance Refresh. "
                f"(Existing Instance Refresh Id: {active[0]['InstanceRefreshId']})"
            )
        refresh: dict[str, Any] = {
            "InstanceRefreshId": str(uuid.uuid4()),
            "AutoScalingGroupName": name,
            "Status": "Pending",
            "StatusReason": "Waiting for instance refresh to start.",
            "StartTime": datetime.now(timezone.utc),
            "PercentageComplete": 0,
            "InstancesToUpdate": len(group.instance_states),
            "Strategy": self._get_param("Strategy") or "Rolling",
            "Preferences": self._get_param("Preferences") or {},
        }
        desired = self._get_param("DesiredConfiguration")
        if desired:
            refresh["DesiredConfiguration"] = desired
        # The configuration a rollback returns to (not part of the response: popped on describe).
        refresh["_saved"] = _saved_configuration(self, group)
        refreshes.append(refresh)
    return ActionResult({"InstanceRefreshId": refresh["InstanceRefreshId"]})


def describe_instance_refreshes(self: AutoScalingResponse) -> ActionResult:
    """Imitates "DescribeInstanceRefreshes" (Amazon EC2 Auto Scaling API Reference): the group's
    refreshes newest first, optionally only InstanceRefreshIds, MaxRecords (default 50, at most 100)
    per page with NextToken. An unknown group lists nothing."""
    name = self._get_param("AutoScalingGroupName")
    ids = self._get_param("InstanceRefreshIds") or []
    max_records = self._get_int_param("MaxRecords") or 50
    if not 1 <= max_records <= 100:
        raise ValidationError("MaxRecords must be between 1 and 100")
    start = int(self._get_param("NextToken") or 0)
    with _LOCK:
        found = [
            {k: v for k, v in r.items() if not k.startswith("_")}
            for r in reversed(_refreshes(self, name))
            if not ids or r["InstanceRefreshId"] in ids
        ]
    page = found[start : start + max_records]
    token = str(start + max_records) if start + max_records < len(found) else None
    return ActionResult({"InstanceRefreshes": page, "NextToken": token})


def cancel_instance_refresh(self: AutoScalingResponse) -> ActionResult:
    """Imitates "CancelInstanceRefresh" (Amazon EC2 Auto Scaling API Reference,
    https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CancelInstanceRefresh.html): the
    active refresh (or rollback) becomes Cancelled (AWS passes through Cancelling while instances
    under way finish; none are ever replaced here); none active -> ActiveInstanceRefreshNotFound.
    Returns its InstanceRefreshId. `amiroll rollback` calls it for a refresh Auto Scaling cannot
    roll back; tests also call it through the SDK, as an operator would."""
    name = self._get_param("AutoScalingGroupName")
    with _LOCK:
        refresh = _active(self, name)
        refresh.update(Status="Cancelled", StatusReason="Instance refresh cancelled by the user.",
                       EndTime=datetime.now(timezone.utc))
    return ActionResult({"InstanceRefreshId": refresh["InstanceRefreshId"]})


def _saved_configuration(self: AutoScalingResponse, group: FakeAutoScalingGroup) -> dict[str, Any]:
    """The group's launch template version when a refresh starts (the one a rollback returns to):
    the version as the group names it and the ImageId of the version it resolves to."""
    version = str(getattr(group, "launch_template_version", None) or "$Default")
    template = getattr(group, "ec2_launch_template", None)
    image = None
    if template is not None:
        try:
            image = (template.get_version(version).data or {}).get("ImageId")
        except EC2ClientError:  # a version that no longer exists: nothing to check against
            image = None
    return {"Version": version, "ImageId": image}


def rollback_instance_refresh(self: AutoScalingResponse) -> ActionResult:
    """Imitates "RollbackInstanceRefresh" (Amazon EC2 Auto Scaling API Reference,
    https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RollbackInstanceRefresh.html):
    none active -> ActiveInstanceRefreshNotFound. "A rollback is not supported" — an active refresh
    without a DesiredConfiguration, a group whose configuration before the refresh is on
    $Latest/$Default or takes its ImageId from an SSM parameter (resolve:ssm:), and a desired
    version $Latest/$Default -> IrreversibleInstanceRefresh. Otherwise it becomes
    RollbackSuccessful at once (AWS passes through RollbackInProgress while it replaces instances).
    Returns its InstanceRefreshId."""
    name = self._get_param("AutoScalingGroupName")
    with _LOCK:
        refresh = _active(self, name)
        desired = refresh.get("DesiredConfiguration") or {}
        template = desired.get("LaunchTemplate") or (
            ((desired.get("MixedInstancesPolicy") or {}).get("LaunchTemplate") or {}).get("LaunchTemplateSpecification")
        )
        if not template:
            raise IrreversibleInstanceRefresh("The instance refresh cannot be rolled back: it has no desired configuration.")
        if str(template.get("Version", "$Default")) in ("$Latest", "$Default"):
            raise IrreversibleInstanceRefresh("The instance refresh cannot be rolled back: its launch template version is $Latest or $Default.")
        saved = refresh.get("_saved") or {}
        if saved.get("Version") in ("$Latest", "$Default"):
            raise IrreversibleInstanceRefresh(
                "The instance refresh cannot be rolled back: the group used the launch template's $Latest or $Default version."
            )
        if str(saved.get("ImageId") or "").startswith("resolve:ssm:"):
            raise IrreversibleInstanceRefresh(
                "The instance refresh cannot be rolled back: the group's launch template uses a Systems Manager parameter for ImageId."
            )
        refresh.update(Status="RollbackSuccessful", StatusReason="Instance refresh rolled back by the user.",
                       PercentageComplete=0, EndTime=datetime.now(timezone.utc))
    return ActionResult({"InstanceRefreshId": refresh["InstanceRefreshId"]})


# --- shim 6: DescribeCapacityProviders without names ----------------------------------------

_original_describe_capacity_providers = EC2ContainerServiceResponse.describe_capacity_providers


def describe_capacity_providers(self: EC2ContainerServiceResponse) -> ActionResult:
    """Imitates "DescribeCapacityProviders" (Amazon ECS API Reference) without capacityProviders:
    every capacity provider of the account, with the AWS-managed FARGATE and FARGATE_SPOT (which
    have no autoScalingGroupProvider, as in the AWS CLI example "To describe all capacity
    providers"), at most maxResults (1-10, default 10) per page with nextToken. moto answers
    HTTP 500 when no names are given; with names moto's own answer is kept."""
    if self._get_param("capacityProviders"):
        return _original_describe_capacity_providers(self)
    max_results = self._get_int_param("maxResults") or 10
    if not 1 <= max_results <= 10:
        raise InvalidParameterException("maxResults must be between 1 and 10.")
    start = int(self._get_param("nextToken") or 0)
    arn = f"arn:{self.partition}:ecs:{self.region}:{self.current_account}:capacity-provider/"
    providers: list[Any] = list(self.ecs_backend.capacity_providers.values())
    providers += [{"capacityProviderArn": arn + name, "name": name, "status": "ACTIVE", "tags": []}
                  for name in ("FARGATE", "FARGATE_SPOT")]
    page = providers[start : start + max_results]
    token = str(start + max_results) if start + max_results < len(providers) else None
    return ActionResult({"capacityProviders": page, "failures": [], "nextToken": token})


# --- shim 7: DescribeLaunchTemplateVersions for every template of the account, paged -----------

_original_describe_versions_response = LaunchTemplates.describe_launch_template_versions


def describe_launch_template_versions_paged(self: LaunchTemplates) -> ActionResult:
    """Imitates "DescribeLaunchTemplateVersions" (Amazon EC2 API Reference) for all the launch
    templates of the account (`Versions` `$Latest` and/or `$Default`, no LaunchTemplateId or
    LaunchTemplateName): MaxResults is "The maximum number of results to return in a single call.
    To retrieve the remaining results, make another call with the returned NextToken value. This
    value can be between 1 and 200." At most MaxResults entries per response (200 when absent; AWS
    documents no default) and a NextToken for the rest; MaxResults outside 1-200 is
    InvalidParameterValue, a malformed NextToken InvalidNextToken. moto cuts the list at MaxResults
    (default 15) and never returns a token, so a caller sees only the first templates. With a
    template named, moto's own answer (with shim 3's deleted versions left out) is kept."""
    if self._get_param("LaunchTemplateId") or self._get_param("LaunchTemplateName"):
        return _original_describe_versions_response(self)
    versions = self._get_param("Versions", [])
    max_results = self._get_int_param("MaxResults", 200)
    if not 1 <= max_results <= 200:
        raise InvalidParameterValue(f"Value ( {max_results} ) for parameter maxResults is invalid. "
                                    "Parameter must be between 1 and 200.")
    token = self._get_param("NextToken")
    if token is not None and not str(token).isdigit():
        raise InvalidNextToken(str(token))
    start = int(token or 0)
    self.error_on_dryrun()
    # Through shim 3's backend method: deleted versions are left out, moto's validation is kept.
    found = self.ec2_backend.describe_launch_template_versions(
        template_name=None, template_id=None, versions=versions,
        min_version=None, max_version=None, max_results=10**9,
    )
    page = found[start : start + max_results]
    next_token = str(start + max_results) if start + max_results < len(found) else None
    return ActionResult({
        "LaunchTemplateVersions": [_version_result(self, t, v) for t, v in page],
        "NextToken": next_token,
    })


# --- shim 8: DescribeInstances with InstanceIds, in one response -------------------------------

_original_describe_instances = InstanceResponse.describe_instances


def describe_instances(self: InstanceResponse) -> ActionResult:
    """Imitates "DescribeInstances" (Amazon EC2 API Reference) with InstanceIds: MaxResults "You
    cannot specify this parameter and the instance IDs parameter in the same request", so every
    instance asked for comes back in one response, without a NextToken. moto pages such a request
    at 100 reservations. Without InstanceIds, with MaxResults (moto's
    InvalidParameterCombination) or with a NextToken, moto's own answer is kept."""
    ids = self._get_param("InstanceIds", [])
    if not ids or self._get_param("MaxResults") is not None or self._get_param("NextToken"):
        return _original_describe_instances(self)
    self.error_on_dryrun()
    reservations = self.ec2_backend.get_reservations_by_instance_ids(ids, filters=self._filters_from_querystring())
    return ActionResult({"Reservations": reservations, "NextToken": None})


# --- shim 9: an Auto Scaling instance's launch template version --------------------------------

_LT_ID_TAG = "aws:ec2launchtemplate:id"
_LT_VERSION_TAG = "aws:ec2launchtemplate:version"
_original_instance_launch_template = InstanceState.launch_template  # the property object
_original_replace_instances = FakeAutoScalingGroup.replace_autoscaling_group_instances


def _instance_launch_template(self: InstanceState) -> dict[str, Any] | None:
    """Imitates the `Instance` data type (Amazon EC2 Auto Scaling API Reference, "Instance",
    https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_Instance.html), which
    DescribeAutoScalingGroups and DescribeAutoScalingInstances share in moto: LaunchTemplate is
    "The launch template for the instance", i.e. the version the instance was launched from. Auto
    Scaling tracks that version per instance; the OldestLaunchTemplate termination policy and an
    instance refresh's skip matching act on it ("Configure termination policies for Amazon EC2
    Auto Scaling", https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-termination-policies.html).
    moto reports the template's current default version for every instance. Here LaunchTemplateId
    and Version come from the instance's `aws:ec2launchtemplate:id` / `aws:ec2launchtemplate:version`
    tags (which moto sets at launch) and LaunchTemplateName from the template in the EC2 backend
    (left out if the template is gone); an instance without the tags keeps moto's answer."""
    instance = self.instance
    tags = instance.ec2_backend.tags.get(instance.id, {})
    template_id, version = tags.get(_LT_ID_TAG), tags.get(_LT_VERSION_TAG)
    if not template_id or not version:
        return _original_instance_launch_template.fget(self)
    result: dict[str, Any] = {"LaunchTemplateId": template_id}
    template = instance.ec2_backend.launch_templates.get(template_id)
    if template is not None:
        result["LaunchTemplateName"] = template.name
    result["Version"] = version
    return result


def replace_autoscaling_group_instances(self: FakeAutoScalingGroup, count_needed: int, propagated_tags: dict[str, str]) -> None:
    """Part of shim 9. Imitates "LaunchTemplateSpecification" (Amazon EC2 Auto Scaling API
    Reference): a group's Version "$Latest" or "$Default" makes Auto Scaling select the latest or
    default version "when launching instances", a number selects that version. moto launches with
    the AMI, instance type and user data of the group's version but calls RunInstances without a
    Version, so the instance's `aws:ec2launchtemplate:version` tag says the template's default
    version; here that tag of each newly launched instance is set to the version the group's
    reference resolved to, which `_instance_launch_template` then reports."""
    before = {state.instance.id for state in self.instance_states}
    _original_replace_instances(self, count_needed, propagated_tags)
    if self.ec2_launch_template is None:
        return
    number = str(self.ec2_launch_template.get_version(self.launch_template_version).number)
    for state in self.instance_states:
        if state.instance.id not in before:
            tags = state.instance.ec2_backend.tags.get(state.instance.id, {})
            if tags.get(_LT_ID_TAG) == self.ec2_launch_template.id:
                tags[_LT_VERSION_TAG] = number


# --- shim 10: PutScheduledUpdateGroupAction keeps unspecified values on update ----------------

_original_put_scheduled_action = AutoScalingBackend.put_scheduled_update_group_action


def put_scheduled_update_group_action(self: AutoScalingBackend, name: str, desired_capacity: Any, max_size: Any,
                                      min_size: Any, scheduled_action_name: str, start_time: Any, end_time: Any,
                                      recurrence: Any, timezone: Any) -> Any:
    """Imitates "PutScheduledUpdateGroupAction" (Amazon EC2 Auto Scaling API Reference,
    https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PutScheduledUpdateGroupAction.html):
    "If you leave a parameter unspecified when updating a scheduled scaling action, the
    corresponding value remains unchanged." moto replaces the whole action."""
    existing = self.scheduled_actions.get(scheduled_action_name)
    if existing is not None and existing.auto_scaling_group_name == name:
        desired_capacity = existing.desired_capacity if desired_capacity is None else desired_capacity
        max_size = existing.max_size if max_size is None else max_size
        min_size = existing.min_size if min_size is None else min_size
        recurrence = existing.recurrence if recurrence is None else recurrence
        end_time = existing.end_time if end_time is None else end_time
        timezone = existing.time_zone if timezone is None else timezone
    return _original_put_scheduled_action(self, name, desired_capacity, max_size, min_size, scheduled_action_name,
                                          start_time, end_time, recurrence, timezone)


# --- shim 11: ListContainerInstances of a cluster that exists, paged ---------------------------


def list_container_instances(self: EC2ContainerServiceResponse) -> ActionResult:
    """Imitates "ListContainerInstances" (Amazon ECS API Reference): maxResults "can be between 1
    and 100. If this parameter isn't used, then ListContainerInstances returns up to 100 results
    and a nextToken value if applicable"; a cluster that does not exist is
    ClusterNotFoundException ("The specified cluster wasn't found"). moto answers every container
    instance in one response, and an empty list for a cluster that does not exist."""
    cluster = self._get_param("cluster", "default")
    if cluster.split("/")[-1] not in self.ecs_backend.clusters:
        raise ClusterNotFoundException
    max_results = self._get_int_param("maxResults") or 100
    if not 1 <= max_results <= 100:
        raise InvalidParameterException("maxResults must be between 1 and 100.")
    arns = self.ecs_backend.list_container_instances(cluster)
    start = int(self._get_param("nextToken") or 0)
    page = arns[start : start + max_results]
    token = str(start + max_results) if start + max_results < len(arns) else None
    return ActionResult({"containerInstanceArns": page, "nextToken": token})


# --- shim 12: lifecycle hooks (Put / Describe, and the two lifecycle-action calls) ---------------
#
# moto stores hooks without checking them, resets what an update leaves out, reports GlobalTimeout
# 172800 whatever the heartbeat, lists nothing for a group that does not exist, and answers
# CompleteLifecycleAction and RecordLifecycleActionHeartbeat with HTTP 500. It never holds an
# instance in Terminating:Wait, so the two calls are accepted for an instance of the group (one
# AWS would hold); whether an action is really under way is modelled by the simulator only.

_HOOK_TRANSITIONS = ("autoscaling:EC2_INSTANCE_LAUNCHING", "autoscaling:EC2_INSTANCE_TERMINATING")
_original_describe_lifecycle_hooks = AutoScalingResponse.describe_lifecycle_hooks


class LimitExceeded(AutoscalingClientError):
    code = "LimitExceeded"


def _hook_group(self: AutoScalingResponse) -> tuple[str, FakeAutoScalingGroup]:
    name = self._get_param("AutoScalingGroupName")
    group = self.autoscaling_backend.autoscaling_groups.get(name)
    if group is None:
        raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup {name} not found")
    return name, group


def put_lifecycle_hook(self: AutoScalingResponse) -> Any:
    """Imitates "PutLifecycleHook" (Amazon EC2 Auto Scaling API Reference,
    https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PutLifecycleHook.html): the group
    must exist; LifecycleTransition is one of the two; HeartbeatTimeout "from 30 to 7200 seconds"
    (3600 by default); DefaultResult CONTINUE or ABANDON (the default); at most 50 hooks per
    group (LimitExceeded). An update keeps what it does not give. GlobalTimeout is "48 hours or
    100 times the heartbeat timeout, whichever is smaller" ("Amazon EC2 Auto Scaling lifecycle
    hooks", https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks.html)."""
    group_name, _ = _hook_group(self)
    name = self._get_param("LifecycleHookName")
    hooks = self.autoscaling_backend.lifecycle_hooks
    existing = hooks.get(f"{group_name}_{name}")
    transition = self._get_param("LifecycleTransition") or (existing and existing.lifecycle_transition)
    if transition not in _HOOK_TRANSITIONS:
        raise ValidationError(f"Invalid Lifecycle Transition name: {transition}")
    heartbeat = self._get_int_param("HeartbeatTimeout")
    heartbeat = heartbeat if heartbeat is not None else (existing.heartbeat_timeout if existing else 3600)
    if not 30 <= heartbeat <= 7200:
        raise ValidationError(f"Heartbeat timeout must be between 30 and 7200 seconds (got {heartbeat})")
    result = self._get_param("DefaultResult") or (existing.default_result if existing else "ABANDON")
    if result not in ("CONTINUE", "ABANDON"):
        raise ValidationError(f"Invalid default result: {result} (CONTINUE or ABANDON)")
    if existing is None and sum(h.auto_scaling_group_name == group_name for h in hooks.values()) >= 50:
        raise LimitExceeded(f"Lifecycle hook limit of 50 reached for Auto Scaling group {group_name}")
    hook = LifecycleHook(name, group_name, transition, heartbeat, result)
    hook.global_timeout = min(172800, 100 * heartbeat)
    hooks[f"{group_name}_{name}"] = hook
    return EmptyResult()


def describe_lifecycle_hooks(self: AutoScalingResponse) -> Any:
    """Imitates "DescribeLifecycleHooks" (Amazon EC2 Auto Scaling API Reference): a group that
    does not exist is a ValidationError."""
    _hook_group(self)
    return _original_describe_lifecycle_hooks(self)


def _lifecycle_action(self: AutoScalingResponse) -> None:
    """The group exists, and so does the hook; InstanceId is one of the group's instances
    (otherwise "No active Lifecycle Action found with instance ID ...", ValidationError)."""
    group_name, group = _hook_group(self)
    hook = self._get_param("LifecycleHookName")
    if f"{group_name}_{hook}" not in self.autoscaling_backend.lifecycle_hooks:
        raise ValidationError(f"No Lifecycle Hook found with name {hook} for Auto Scaling group {group_name}")
    instance = self._get_param("InstanceId")
    if not any(state.instance.id == instance for state in group.instance_states):
        raise ValidationError(f"No active Lifecycle Action found with instance ID {instance}")


def complete_lifecycle_action(self: AutoScalingResponse) -> Any:
    """Imitates "CompleteLifecycleAction" by InstanceId (Amazon EC2 Auto Scaling API Reference,
    https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CompleteLifecycleAction.html):
    LifecycleActionResult CONTINUE or ABANDON; accepted for an instance of the group."""
    if self._get_param("LifecycleActionResult") not in ("CONTINUE", "ABANDON"):
        raise ValidationError("LifecycleActionResult must be CONTINUE or ABANDON")
    _lifecycle_action(self)
    return EmptyResult()


def record_lifecycle_action_heartbeat(self: AutoScalingResponse) -> Any:
    """Imitates "RecordLifecycleActionHeartbeat" by InstanceId (Amazon EC2 Auto Scaling API
    Reference,
    https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RecordLifecycleActionHeartbeat.html):
    accepted for an instance of the group."""
    _lifecycle_action(self)
    return EmptyResult()


# --- shim 13: UpdateContainerInstancesState answers the attributes as a list of Attribute ----------


def _container_instance_attributes_in_updates() -> None:
    """Imitates "UpdateContainerInstancesState" (Amazon ECS API Reference,
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateContainerInstancesState.html):
    the `containerInstances` it returns are `ContainerInstance` objects whose `attributes` is a
    list of `Attribute` (name, value), as DescribeContainerInstances returns them. moto formats
    them for DescribeContainerInstances and RegisterContainerInstance only, and answers the update
    with one empty object per attribute (found by the conformance suite once the adapter read
    attributes)."""
    key = "UpdateContainerInstancesStateResponse.containerInstances.ContainerInstance.attributes"
    EC2ContainerServiceResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER = {
        **EC2ContainerServiceResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER,
        key: format_attributes,
    }


# --- shim 14: ListClusters, paged ---------------------------------------------------------------


def list_clusters(self: EC2ContainerServiceResponse) -> ActionResult:
    """Imitates "ListClusters" (Amazon ECS API Reference): maxResults "can be between 1 and 100.
    If this parameter isn't used, then ListClusters returns up to 100 results and a nextToken
    value if applicable". moto answers every cluster in one response (ignores maxResults and
    nextToken)."""
    max_results = self._get_int_param("maxResults") or 100
    if not 1 <= max_results <= 100:
        raise InvalidParameterException("maxResults must be between 1 and 100.")
    arns = self.ecs_backend.list_clusters()
    start = int(self._get_param("nextToken") or 0)
    page = arns[start : start + max_results]
    token = str(start + max_results) if start + max_results < len(arns) else None
    return ActionResult({"clusterArns": page, "nextToken": token})


# --- shim 15: Allowed AMIs (the account's setting, and ImageAllowed in DescribeImages) ----------


def _allowed_images(backend: Any) -> dict[str, Any]:
    """The Region's Allowed AMIs setting, kept on moto's EC2 backend."""
    return backend.__dict__.setdefault("amiroll_allowed_images", {"state": "disabled", "providers": []})


def enable_allowed_images_settings(self: AmisResponse) -> ActionResult:
    """Imitates "EnableAllowedImagesSettings" (Amazon EC2 API Reference,
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_EnableAllowedImagesSettings.html):
    `AllowedImagesSettingsState` `enabled` or `audit-mode`. moto does not implement Allowed AMIs."""
    state = self._get_param("AllowedImagesSettingsState")
    if state not in ("enabled", "audit-mode"):
        raise InvalidParameterValue(f"AllowedImagesSettingsState {state!r}")
    _allowed_images(self.ec2_backend)["state"] = state
    return ActionResult({"AllowedImagesSettingsState": state})


def disable_allowed_images_settings(self: AmisResponse) -> ActionResult:
    """Imitates "DisableAllowedImagesSettings": the criteria stop applying."""
    _allowed_images(self.ec2_backend)["state"] = "disabled"
    return ActionResult({"AllowedImagesSettingsState": "disabled"})


def replace_image_criteria_in_allowed_images_settings(self: AmisResponse) -> ActionResult:
    """Imitates "ReplaceImageCriteriaInAllowedImagesSettings": `ImageCriteria`, each a list of
    `ImageProviders` (`amazon`, `aws-marketplace`, `aws-backup-vault`, 12-digit account ids, or
    `none`), replaces the criteria ("ImageCriterionRequest", Amazon EC2 API Reference)."""
    criteria = self._get_param("ImageCriteria", []) or []
    providers = [p for c in criteria for p in (c.get("ImageProviders") or [])]
    _allowed_images(self.ec2_backend)["providers"] = providers
    return ActionResult({"ReturnValue": True})


def _image_allowed(self: Ami) -> bool | None:
    """`ImageAllowed` ("Image", Amazon EC2 API Reference): whether the image matches the Region's
    Allowed AMIs criteria, reported in audit mode and enabled mode; absent when the setting is off.
    The account's own images always match ("The Allowed AMIs feature does not restrict the AMIs
    owned by your account", EnableAllowedImagesSettings). Providers match `ImageOwnerAlias` or
    `OwnerId`."""
    setting = _allowed_images(self.ec2_backend)
    if setting["state"] == "disabled":
        return None
    providers = setting["providers"]
    own = self.owner_id == self.ec2_backend.account_id
    return own or self.owner_alias in providers or self.owner_id in providers


_moto_describe_images = AmiBackend.describe_images


def describe_images_allowed(self: AmiBackend, *args: Any, **kwargs: Any) -> list[Ami]:
    """With Allowed AMIs `enabled`, "only AMIs matching these criteria are discoverable"
    (EnableAllowedImagesSettings): the others are left out."""
    images = _moto_describe_images(self, *args, **kwargs)
    if _allowed_images(self)["state"] != "enabled":
        return images
    return [i for i in images if i.image_allowed is not False]


def install_shims() -> None:
    AutoScalingBackend.put_scheduled_update_group_action = put_scheduled_update_group_action
    LaunchTemplates.create_launch_template_version = create_launch_template_version
    LaunchTemplates.delete_launch_template_versions = delete_launch_template_versions
    LaunchTemplate.get_version = get_version
    LaunchTemplate.latest_version = latest_version
    LaunchTemplateBackend.describe_launch_template_versions = describe_launch_template_versions
    LaunchTemplateBackend.modify_launch_template = modify_launch_template
    AutoScalingResponse.update_auto_scaling_group = update_auto_scaling_group
    AutoScalingResponse.start_instance_refresh = start_instance_refresh
    AutoScalingResponse.describe_instance_refreshes = describe_instance_refreshes
    AutoScalingResponse.cancel_instance_refresh = cancel_instance_refresh
    AutoScalingResponse.rollback_instance_refresh = rollback_instance_refresh
    EC2ContainerServiceResponse.describe_capacity_providers = describe_capacity_providers
    EC2ContainerServiceResponse.list_container_instances = list_container_instances
    EC2ContainerServiceResponse.list_clusters = list_clusters
    LaunchTemplates.describe_launch_template_versions = describe_launch_template_versions_paged
    InstanceResponse.describe_instances = describe_instances
    InstanceState.launch_template = property(_instance_launch_template)
    FakeAutoScalingGroup.replace_autoscaling_group_instances = replace_autoscaling_group_instances
    AutoScalingResponse.put_lifecycle_hook = put_lifecycle_hook
    AutoScalingResponse.describe_lifecycle_hooks = describe_lifecycle_hooks
    AutoScalingResponse.complete_lifecycle_action = complete_lifecycle_action
    AutoScalingResponse.record_lifecycle_action_heartbeat = record_lifecycle_action_heartbeat
    _container_instance_attributes_in_updates()
    AmisResponse.enable_allowed_images_settings = enable_allowed_images_settings
    AmisResponse.disable_allowed_images_settings = disable_allowed_images_settings
    AmisResponse.replace_image_criteria_in_allowed_images_settings = (
        replace_image_criteria_in_allowed_images_settings
    )
    Ami.image_allowed = property(_image_allowed)
    AmiBackend.describe_images = describe_images_allowed


def _port() -> int:
    raw = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("AMIROLL_MOTO_PORT", "5790")
    try:
        return int(raw)
    except ValueError:
        sys.exit(f"usage: {sys.argv[0]} [PORT]  (got {raw!r})")


def main() -> None:
    port = _port()
    if not os.environ.get("AMIROLL_MOTO_VERBOSE"):
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    install_shims()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()

    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=2):
                break
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                server.stop()
                sys.exit(f"moto did not answer on 127.0.0.1:{port}")
            time.sleep(0.05)
    print("ready", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(1):
        pass
    server.stop()


if __name__ == "__main__":
    main()
