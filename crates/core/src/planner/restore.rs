//! After a successful instance refresh, the groups amiroll pinned go back on the version
//! reference they named before (`$Default` or `$Latest`), so that they match their
//! infrastructure-as-code again: only the template's default and latest version have moved.
//!
//! With `auto_rollback`, a `$Default`/`$Latest` group is pinned to the number it launches before
//! its refresh (`amiroll:pinned-from` records the old reference; see `refresh.rs`), because Auto
//! Scaling rolls back only to a numbered version ("Undo changes with a manual or auto rollback",
//! https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-refresh-rollback.html). A
//! successful refresh leaves the group on the desired configuration's number ("Use an instance
//! refresh to update instances in an Auto Scaling group", desired configuration,
//! https://docs.aws.amazon.com/autoscaling/ec2/userguide/asg-instance-refresh.html). Once the
//! reference names that same number again, putting the group back changes nothing it launches.
//!
//! The rules, each checked here (and the last one again by the engine just before the call):
//!
//! - the whole target is done: every group on the AMI, nothing in flight, nothing failed, no hold
//!   (a failure recorded for the AMI, a gate such as a closed maintenance window): the run in
//!   which the default follows the fleet, or any later one;
//! - the group's newest refresh (amiroll's or anyone's) ended `Successful` (or is older than the
//!   six weeks Auto Scaling keeps), and no `amiroll rollback` is under way on it
//!   (`amiroll:cancel`): after a failure or a rollback the group stays where the rollback put it
//!   — pinned to the version it went back to, which neither the default nor the latest version is
//!   meant to be;
//! - `$Default` (after the default move planned in this run, if any) or `$Latest` is the number
//!   the group is pinned to.
//!
//! No refresh can be running: `UpdateAutoScalingGroup` changing the launch template is refused
//! while a refresh with a desired configuration is active ("How an instance refresh works",
//! Limitations, https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-refresh-overview.html).
//!
//! The action updates the group, then removes the record. A run that stops in between leaves a
//! group on its reference with the record; the next run sees a group that is not pinned and only
//! removes the record (also when someone else — a Terraform apply — put the group back).

use super::*;
use crate::state::{Cancel, Pin};

/// The references a pin is undone to.
const REFERENCES: [&str; 2] = ["$Default", "$Latest"];

/// The restores of the target's pinned groups. `default_to`: the version the default moves to
/// earlier in this plan.
pub(super) fn restore_pins(
    b: &mut Builder,
    cx: &Ctx,
    fleet: &FleetOutcome,
    hold: bool,
    default_to: Option<u64>,
) -> Vec<PlannedAction> {
    let tmpl = cx.tmpl;
    let done = cx.t.settings.strategy == Strategy::InstanceRefresh
        && !cx.source.alias
        && !hold
        && fleet.all_converged
        && !fleet.failed
        && !fleet.in_flight
        && !fleet.started;
    if !done {
        return Vec::new();
    }
    let mut out = Vec::new();
    for v in &cx.views {
        let g = v.group;
        let Some(pin) = Pin::from_tags(&g.tags) else {
            continue;
        };
        let VersionSpec::Pinned(n) = v.spec else {
            out.push(PlannedAction {
                action: Action::UntagGroup {
                    group: g.name.clone(),
                    keys: vec![tags::PINNED_FROM.to_string()],
                },
                reason: format!(
                    "the group names {} again: the pin is undone, its record goes",
                    v.spec_text
                ),
            });
            continue;
        };
        if !REFERENCES.contains(&pin.from.as_str()) {
            b.warn(format!(
                "group `{}`: {} = `{}` is neither $Default nor $Latest; the group stays pinned to v{n}",
                g.name,
                tags::PINNED_FROM,
                pin.from
            ));
            continue;
        }
        if Cancel::from_tags(&g.tags).is_some() {
            continue;
        }
        // Whoever started it: a refresh that failed or was rolled back leaves the group where
        // Auto Scaling put it.
        let newest = cx.obs.refreshes.get(&g.name).and_then(|rs| rs.first());
        if newest.is_some_and(|r| !r.is_terminal() || r.status != "Successful") {
            continue;
        }
        let now = if pin.from == "$Latest" {
            tmpl.template.latest_version
        } else {
            default_to.unwrap_or(tmpl.template.default_version)
        };
        if now != n {
            b.info(format!(
                "group `{}` stays pinned to v{n}: its {} is v{now}, so going back to it would change what the group launches",
                g.name, pin.from
            ));
            continue;
        }
        out.push(PlannedAction {
            action: Action::RestoreGroupVersion {
                group: g.name.clone(),
                template_id: cx.template_id.to_string(),
                version: pin.from.clone(),
                pinned: n,
                mixed_instances_policy: g.mixed_instances_policy.clone(),
            },
            reason: format!(
                "the refresh succeeded and {} is v{n}, the version the group is pinned to: back on {} it matches its infrastructure-as-code again and launches the same",
                pin.from, pin.from
            ),
        });
    }
    out
}
