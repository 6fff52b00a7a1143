//! Putting the default back after a failure: to the rollback version, or — for a recovery
//! round — to a copy of it newer than the failed AMI's versions; pinned groups follow.

use super::*;

/// What a failure in this run does to the template: the moves that send new launches back to
/// the AMI the fleet ran before (they go first in the plan: the restore or the recovery round
/// that follows must launch the old AMI), and what that rules out of the forward moves
/// ([`super::template::TemplateMoves::actions`]).
#[derive(Default)]
pub(crate) struct Revert {
    pub(crate) front: Vec<PlannedAction>,
    /// The default goes back: it does not move forward in this run.
    pub(crate) reverts_default: bool,
    /// Groups re-pinned back: they are not pinned forward.
    pub(crate) repinned: BTreeSet<String>,
    /// The AMIs of the rounds that failed in this run: no version is made for them.
    pub(crate) failed_amis: BTreeSet<String>,
}

/// The template moves a failed rollout needs.
pub(crate) fn revert_moves(cx: &Ctx, fleet: &FleetOutcome) -> Revert {
    let (tmpl, template_id, views, obs) = (cx.tmpl, cx.template_id, &cx.views, cx.obs);
    let (revert_to, failed_amis, recover) = (fleet.revert_to, &fleet.failed_amis, fleet.recover);
    let mut out = Revert {
        failed_amis: failed_amis.clone(),
        ..Revert::default()
    };
    // A failed round puts the default back to the version the fleet ran before, so that new
    // launches stop using the AMI that failed. These moves come first in the plan: the restore
    // or the recovery round that follows must launch the old AMI.
    if let Some(rv) = revert_to.filter(|rv| {
        // Never "back" onto the AMI that failed.
        tmpl.version(*rv)
            .and_then(|x| x.image_id.as_deref())
            .is_some_and(|i| !failed_amis.contains(i))
    }) {
        let rv_image = tmpl.version(rv).and_then(|x| x.image_id.clone());
        let default_image = tmpl
            .version(tmpl.template.default_version)
            .and_then(|v| v.image_id.clone());
        // No forward template move in this run: it would undo the revert.
        out.reverts_default = true;
        let front = &mut out.front;
        // Where the fleet goes: the rollback version itself, or — for a recovery round, whose
        // settle removes the instances on the oldest version first ("Control which Auto Scaling
        // instances terminate during scale in",
        // https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-termination-policies.html)
        // — a copy of it newer than every version the failed AMI's instances run.
        let failed_versions: Vec<u64> = views
            .iter()
            .flat_map(|v| instance_views(v.group, obs, template_id))
            .filter(|i| i.image.as_deref().is_some_and(|a| failed_amis.contains(a)))
            .filter_map(|i| i.template_version)
            .collect();
        let default_is_newer_copy = default_image == rv_image
            && failed_versions
                .iter()
                .all(|n| *n < tmpl.template.default_version);
        let back_to = if recover && !default_is_newer_copy {
            let image = rv_image.clone().unwrap_or_default();
            front.push(PlannedAction {
                action: Action::CreateVersion {
                    template_id: template_id.to_string(),
                    source_version: rv,
                    image_id: image.clone(),
                    description: truncate(
                        &format!("{DESCRIPTION_PREFIX} {image} (rollback) from v{rv} via a failed rollout"),
                        255,
                    ),
                    client_token: client_token(template_id, rv, &image),
                    block_device_mappings: tmpl.version(rv).map(snapshot_mappings).unwrap_or_default(),
                },
                reason: format!(
                    "a copy of v{rv} ({image}) newer than the versions the failed AMI's instances run, so that the recovery round's settle removes them"
                ),
            });
            Some(VersionRef::Created)
        } else if recover {
            Some(VersionRef::Number(tmpl.template.default_version))
        } else if rv != tmpl.template.default_version && default_image != rv_image {
            Some(VersionRef::Number(rv))
        } else {
            None
        };
        if let Some(to) =
            back_to.filter(|to| *to != VersionRef::Number(tmpl.template.default_version))
        {
            front.push(PlannedAction {
                action: Action::SetDefaultVersion {
                    template_id: template_id.to_string(),
                    version: to,
                },
                reason: "the rollout failed; new launches go back to the AMI the fleet ran before"
                    .to_string(),
            });
        }
        // A group pinned to a version that carries the AMI that failed (amiroll re-pinned it for
        // the round, `pinned = "update"`) goes back too: left there, its next launch would bring
        // that AMI back into the fleet.
        let pin_to = back_to.unwrap_or(VersionRef::Number(rv));
        for v in views {
            let VersionSpec::Pinned(n) = v.spec else {
                continue;
            };
            let pinned_image = tmpl.version(n).and_then(|x| x.image_id.as_deref());
            // Never during an instance refresh: Auto Scaling rejects the update ("Update an
            // Auto Scaling group",
            // https://docs.aws.amazon.com/autoscaling/ec2/userguide/update-auto-scaling-group.html).
            if VersionRef::Number(n) == pin_to
                || !pinned_image.is_some_and(|i| failed_amis.contains(i))
                || refresh_active(obs, &v.group.name)
            {
                continue;
            }
            let group = v.group.name.clone();
            out.repinned.insert(group.clone());
            front.push(PlannedAction {
                action: Action::PinGroupVersion {
                    group,
                    template_id: template_id.to_string(),
                    version: pin_to,
                    mixed_instances_policy: v.group.mixed_instances_policy.clone(),
                },
                reason: format!(
                    "the rollout failed; the group pins v{n}, and goes back to {pin_to}, the AMI the fleet ran before"
                ),
            });
        }
    }
    out
}
