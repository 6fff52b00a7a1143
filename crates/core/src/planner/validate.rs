//! Steps 1 and 4: the candidate AMI from its parameter, validated before anything is written,
//! and the group references and ECS set-ups amiroll must not break.

use super::*;
use crate::port::{Image, SsmParameter};

/// Step 1: the parameter and the AMI id it names today.
pub(super) fn candidate<'a>(
    t: &Target,
    obs: &'a Observation,
) -> Result<(&'a SsmParameter, String), Stop> {
    let Some(param) = obs.parameters.get(&t.ami_parameter) else {
        return Err(Stop::Refused(Refusal::ParameterMissing {
            parameter: t.ami_parameter.clone(),
        }));
    };
    let ami = parse_ami_value(&param.value, t.expected_format(), &t.ami_parameter)
        .map_err(Stop::Refused)?;
    Ok((param, ami))
}

/// Step 4: the image exists, comes from an allowed owner and is not rejected by the account's
/// Allowed AMIs, is available, is not deprecated (unless allowed), fits every instance type the
/// groups launch and is not older than the one in use (unless allowed).
pub(super) fn image<'a>(
    b: &mut Builder,
    t: &Target,
    obs: &'a Observation,
    (ami, param): (&str, &SsmParameter),
    tmpl: &ObservedTemplate,
    source: &Source,
    views: &[GroupView],
) -> Result<&'a Image, Stop> {
    let s = &t.settings;
    let now = obs.now;
    let Some(image) = obs.images.get(ami) else {
        return Err(Stop::Refused(Refusal::AmiMissing {
            ami: ami.to_string(),
            parameter: t.ami_parameter.clone(),
            parameter_version: param.version,
        }));
    };
    b.plan.target_ami = Some(TargetAmi {
        image_id: ami.to_string(),
        name: image.name.clone(),
        parameter: t.ami_parameter.clone(),
        parameter_version: param.version,
    });
    provenance(t, obs, ami, image)?;
    if image.state != "available" {
        return Err(Stop::Refused(Refusal::AmiNotAvailable {
            ami: ami.to_string(),
            state: image.state.clone(),
        }));
    }
    if let Some(dep) = image.deprecation_time {
        if dep <= now && !s.allow_deprecated {
            return Err(Stop::Refused(Refusal::AmiDeprecated {
                ami: ami.to_string(),
                since: dep,
            }));
        }
    }
    let mut types: BTreeSet<String> = BTreeSet::new();
    if let Some(it) = &source.version.instance_type {
        types.insert(it.clone());
    }
    for v in views {
        types.extend(v.override_types.iter().cloned());
    }
    if types.is_empty() {
        b.info(format!(
            "version {} of `{}` sets no InstanceType; the AMI's architecture ({}) was not checked against instance types",
            source.number, t.launch_template, image.architecture
        ));
    }
    for it in &types {
        match obs.instance_types.get(it) {
            Some(archs) if !archs.iter().any(|a| a == &image.architecture) => {
                return Err(Stop::Refused(Refusal::ArchitectureMismatch {
                    ami: ami.to_string(),
                    architecture: image.architecture.clone(),
                    instance_type: it.clone(),
                    supported: archs.clone(),
                }));
            }
            Some(_) => {}
            // Types are only read for targets that may change (an incomplete template means the
            // target was plainly current and they were not asked for).
            None if !tmpl.complete => {}
            None => b.warn(format!(
                "instance type {it} is unknown in this region; the AMI's architecture was not checked against it"
            )),
        }
    }
    let source_image = source.image.as_str();
    if !source.alias && source_image != ami {
        match obs.images.get(source_image) {
            Some(current) => {
                if let (Some(new_c), Some(cur_c)) = (image.creation_date, current.creation_date) {
                    if new_c < cur_c && !s.allow_downgrade {
                        return Err(Stop::Refused(Refusal::Downgrade {
                            ami: ami.to_string(),
                            created: new_c,
                            current: source_image.to_string(),
                            current_created: cur_c,
                            version: source.number,
                        }));
                    }
                }
            }
            None => b.warn(format!(
                "the AMI in use, `{source_image}`, is not visible any more; amiroll could not check that `{ami}` is newer"
            )),
        }
    }
    Ok(image)
}

/// Who published the image. Whoever can write the AMI parameter decides what every instance
/// boots, so the image's owner must be one the target trusts: `ami_owners`, or by default
/// `amazon` for AWS's public parameters and `self` + `amazon` for the account's own
/// ([`crate::config::default_ami_owners`]). `amazon`, `aws-marketplace` and `aws-backup-vault`
/// match `ImageOwnerAlias`, which AWS sets and an owner cannot ("Image", Amazon EC2 API
/// Reference, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Image.html); `self`
/// matches this account's id, read from the target's groups' ARNs. A public image of anyone
/// else is refused even when the parameter is the account's own. And an image the account's
/// Allowed AMIs criteria reject (`ImageAllowed = false`, audit mode) is refused whatever the
/// owner.
fn provenance(t: &Target, obs: &Observation, ami: &str, image: &Image) -> Result<(), Stop> {
    let owner = describe_owner(image);
    if image.image_allowed == Some(false) {
        return Err(Stop::Refused(Refusal::AmiNotAllowedByAccount {
            ami: ami.to_string(),
            parameter: t.ami_parameter.clone(),
            owner,
        }));
    }
    let allowed = t
        .settings
        .ami_owners
        .clone()
        .unwrap_or_else(|| crate::config::default_ami_owners(&t.ami_parameter));
    let own_account = own_account(t, obs);
    let owner_id = image.owner_id.as_deref();
    let ok = allowed.iter().any(|o| match o.as_str() {
        "self" => own_account.is_some() && owner_id == own_account.as_deref(),
        "amazon" | "aws-marketplace" | "aws-backup-vault" => {
            image.owner_alias.as_deref() == Some(o.as_str())
        }
        account => owner_id == Some(account),
    });
    if ok {
        return Ok(());
    }
    Err(Stop::Refused(Refusal::AmiOwnerNotAllowed {
        ami: ami.to_string(),
        parameter: t.ami_parameter.clone(),
        owner,
        allowed,
        own_account,
    }))
}

/// `444455556666`, `591542846629 (amazon, public)`, `an unknown owner`.
fn describe_owner(image: &Image) -> String {
    let mut notes: Vec<&str> = Vec::new();
    if let Some(alias) = image.owner_alias.as_deref() {
        notes.push(alias);
    }
    if image.public == Some(true) {
        notes.push("public");
    }
    let id = image.owner_id.as_deref().unwrap_or("an unknown owner");
    if notes.is_empty() {
        id.to_string()
    } else {
        format!("{id} ({})", notes.join(", "))
    }
}

/// This account's id, from the ARN of one of the target's groups
/// (`arn:PARTITION:autoscaling:REGION:ACCOUNT:autoScalingGroup:…`, "Amazon EC2 Auto Scaling
/// resource types", Service Authorization Reference). The groups are in the account amiroll
/// runs in, so no extra call (`sts:GetCallerIdentity`) is needed.
fn own_account(t: &Target, obs: &Observation) -> Option<String> {
    t.groups
        .iter()
        .filter_map(|g| obs.groups.get(g))
        .filter_map(|g| g.arn.as_deref())
        .filter_map(|arn| arn.split(':').nth(4))
        .find(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_string)
}

/// Group references amiroll must not break: a pinned group is moved only when the target says
/// so (`pinned = "update"`), and only through a plain `LaunchTemplate`.
pub(super) fn group_references(cx: &Ctx) -> Result<(), Stop> {
    let (t, s, tmpl, ami) = (cx.t, &cx.t.settings, cx.tmpl, cx.ami.as_str());
    let refresh = s.strategy == Strategy::InstanceRefresh;
    for v in &cx.views {
        // A refresh (and its pin) sends the group's policy back complete ("StartInstanceRefresh",
        // `DesiredConfiguration`,
        // https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_StartInstanceRefresh.html).
        if refresh
            && v.group
                .mixed_instances_policy
                .as_ref()
                .is_some_and(|m| m.has_instance_requirements())
        {
            return Err(Stop::Refused(Refusal::InstanceRequirements {
                group: v.group.name.clone(),
            }));
        }
        let VersionSpec::Pinned(n) = v.spec else {
            continue;
        };
        let pinned_image = tmpl.version(n).and_then(|x| x.image_id.clone());
        let moves = pinned_image.as_deref() != Some(ami) && !cx.source.alias;
        // A pin amiroll made (its own version, left by a successful refresh, or a pin taken
        // to keep rollback available) is amiroll's to move.
        let ours = tmpl
            .version(n)
            .and_then(|x| x.description.as_deref())
            .is_some_and(|d| d.starts_with(DESCRIPTION_PREFIX))
            || v.group.tags.contains_key(tags::PINNED_FROM);
        if moves && !refresh && s.pinned == Pinned::Update && v.group.launch_template.is_none() {
            return Err(Stop::Refused(Refusal::PinnedInMixedPolicy {
                group: v.group.name.clone(),
                version: n,
            }));
        }
        if moves && s.pinned == Pinned::Refuse && !(refresh && ours) {
            return Err(Stop::Refused(Refusal::Pinned {
                group: v.group.name.clone(),
                version: n,
                template: t.launch_template.clone(),
            }));
        }
    }
    Ok(())
}

/// A scheduled surge must reach its health gate after Auto Scaling has checked the new
/// instances: the surge may start [`LATE_ACTION_MINUTES`] late, an instance is taken to need
/// [`BOOT_ALLOWANCE_MINUTES`] to come into service, then the group's health-check grace period
/// passes before its `Healthy` means anything (see [`InstanceView::health_checked`]); the gate
/// opens [`HEALTH_GATE_MINUTES`] before the settle.
///
/// An instance refresh judges a new instance at the end of its warm-up by the health Auto
/// Scaling reports, so a warm-up shorter than the grace period lets an unchecked instance count:
/// that is said as a warning.
pub(super) fn surge_window(b: &mut Builder, cx: &Ctx) -> Result<(), Stop> {
    let s = &cx.t.settings;
    if s.strategy == Strategy::InstanceRefresh {
        if let Some(warmup) = s.instance_warmup_secs {
            for v in &cx.views {
                let grace = u64::from(v.group.health_check_grace_period_secs);
                if warmup < grace {
                    b.warn(format!(
                        "group `{}`: instance_warmup ({warmup} s) is shorter than its health-check grace period ({grace} s): the refresh may count a new instance healthy before Auto Scaling has checked it — set instance_warmup to at least {grace} s or leave it unset",
                        v.group.name
                    ));
                }
            }
        }
        return Ok(());
    }
    if s.strategy != Strategy::ScheduledSurge {
        return Ok(());
    }
    for v in &cx.views {
        let grace = v.group.health_check_grace_period_secs;
        if grace == 0 {
            continue;
        }
        let fixed = LATE_ACTION_MINUTES + BOOT_ALLOWANCE_MINUTES + HEALTH_GATE_MINUTES;
        let needed = u32::try_from(fixed)
            .unwrap_or(u32::MAX)
            .saturating_add(grace.div_ceil(60));
        if s.surge_minutes < needed {
            return Err(Stop::Refused(Refusal::SurgeShorterThanGrace {
                group: v.group.name.clone(),
                grace_secs: grace,
                surge_minutes: s.surge_minutes,
                needed_minutes: needed,
            }));
        }
    }
    Ok(())
}

/// The ECS capacity provider a group backs, if any ("Amazon ECS capacity providers").
pub(crate) fn provider_of<'a>(
    obs: &'a Observation,
    g: &AutoScalingGroup,
) -> Option<&'a CapacityProvider> {
    let arn = g.arn.as_deref()?;
    obs.capacity_providers
        .as_ref()?
        .iter()
        .find(|cp| cp.auto_scaling_group_arn == arn)
}

/// ECS: a group behind a capacity provider with managed scaling cannot be surged; one without
/// managed draining loses its tasks when replaced.
pub(super) fn capacity_providers(b: &mut Builder, cx: &Ctx) -> Result<(), Stop> {
    let s = &cx.t.settings;
    let refresh = s.strategy == Strategy::InstanceRefresh;
    for v in &cx.views {
        let Some(cp) = provider_of(cx.obs, v.group) else {
            continue;
        };
        if cp.managed_scaling && s.strategy == Strategy::ScheduledSurge {
            return Err(Stop::Refused(Refusal::EcsManagedScaling {
                group: v.group.name.clone(),
                provider: cp.name.clone(),
            }));
        }
        // A surge drains in its health gate and a drain hook drains every termination; a
        // refresh without a hook stops the tasks of the instances it replaces.
        if !cp.managed_draining && refresh && cx.t.drain_hook().is_none() {
            b.warn(format!(
                "group `{}` backs ECS capacity provider `{}` without managed draining: tasks on replaced instances are stopped without draining — turn managed draining on, or set ecs_drain = \"lifecycle-hook\"",
                v.group.name, cp.name
            ));
        }
        if cp.managed_termination_protection && refresh && s.scale_in_protected_instances.is_none()
        {
            b.info(format!(
                "group `{}`: capacity provider `{}` protects instances from scale in; the refresh uses ScaleInProtectedInstances = Refresh so they are replaced",
                v.group.name, cp.name
            ));
        }
    }
    if cx.obs.capacity_providers.is_none()
        && cx.tmpl.complete
        && !cx.views.is_empty()
        && s.strategy != Strategy::None
    {
        b.info("ECS capacity providers could not be read; the ECS checks were skipped".to_string());
    }
    Ok(())
}
