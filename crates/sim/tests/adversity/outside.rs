//! People and other actors changing the account mid-rollout. Each change must end in a safe state
//! (every invariant holds) and be told: a run after the change reports an error, a warning or an
//! apply error — never a silent success.

use std::time::Duration;

use amiroll_core::port::ScheduledAction;
use amiroll_sim::{GroupSpec, ImageSpec};

use super::common::*;
use super::oracle::Oracle;
use super::world::{refresh_world, Cue, Expect, Scenario, When};

/// One outside change: on which fleet, when, what, and what must hold at the end besides the
/// invariants.
pub struct Change {
    pub name: &'static str,
    pub build: fn() -> World,
    pub when: When,
    pub change: fn(&World, &Oracle),
    /// An extra end-state check: `Some(problem)` is a violation.
    pub end: Option<fn(&World) -> Option<String>>,
    /// Whether a run after the change must say something (an error, a warning, a failure):
    /// false only where the change is ordinary operation amiroll need not mention.
    pub must_tell: bool,
}

/// After the surge fired and the new instances are in service (surge at +2 min, boot 90 s).
const MID_ROUND: When = When::After(Duration::from_secs(5 * 60));

fn surge() -> World {
    World::new()
}

/// A group with room above the surge: `big` 1/10/2.
fn roomy() -> World {
    let w = World::new();
    w.sim
        .create_group(
            GroupSpec::new("big", &w.lt, 1, 10, 2)
                .with_termination_policies(&["OldestLaunchTemplate"]),
        )
        .expect("group");
    w.targeting(&["big"])
}

fn two_groups() -> World {
    let w = World::new();
    w.sim
        .create_group(
            GroupSpec::new("api", &w.lt, 1, 4, 2)
                .with_termination_policies(&["OldestLaunchTemplate"]),
        )
        .expect("group");
    w.targeting(&["web", "api"])
}

fn round_action(w: &World, group: &str, suffix: &str) -> Option<String> {
    w.sim
        .scheduled_actions(group)
        .into_iter()
        .map(|a| a.name)
        .find(|n| n.starts_with("amiroll-") && n.ends_with(suffix))
}

fn instances_on(w: &World, group: &str, ami: &str) -> Vec<String> {
    w.sim
        .group(group)
        .instances
        .iter()
        .map(|i| i.instance_id.clone())
        .filter(|id| w.sim.instance(id).is_some_and(|x| x.image_id == ami))
        .collect()
}

pub fn changes() -> Vec<Change> {
    vec![
        Change {
            name: "a person scales the group out during the surge",
            build: roomy,
            when: MID_ROUND,
            change: |w, _| {
                let (_, _, desired) = w.sim.group_capacity("big");
                w.sim
                    .set_desired_capacity("big", desired + 3)
                    .expect("scale out");
            },
            // Issue 9, bug 4: the settle keeps the operator's +3 (original 2 + 3).
            end: Some(|w| {
                let (_, _, d) = w.sim.group_capacity("big");
                (d != 5).then(|| format!("the operator's +3 was not kept: desired {d}, want 5"))
            }),
            must_tell: true,
        },
        Change {
            name: "a scaling policy scales the group in during the surge",
            build: roomy,
            when: MID_ROUND,
            change: |w, o| {
                let (_, _, desired) = w.sim.group_capacity("big");
                w.sim
                    .set_desired_capacity("big", desired - 1)
                    .expect("scale in");
                // A deliberate scale-in lowers the floor by one.
                o.set_floor(&w.sim, "big", 1);
            },
            end: None,
            must_tell: true,
        },
        Change {
            name: "the amiroll:rollout tag is deleted mid-round",
            build: surge,
            when: MID_ROUND,
            change: |w, _| {
                w.sim
                    .untag_group("web", &["amiroll:rollout"])
                    .expect("untag");
            },
            end: None,
            must_tell: true,
        },
        Change {
            name: "amiroll:original-capacity is edited to garbage mid-round",
            build: surge,
            when: MID_ROUND,
            change: |w, _| {
                w.sim
                    .tag_group("web", &[("amiroll:original-capacity", "min=one,max=lots")])
                    .expect("tag");
            },
            end: None,
            must_tell: true,
        },
        Change {
            name: "every amiroll:* tag is deleted mid-round",
            build: surge,
            when: MID_ROUND,
            change: |w, _| {
                let keys: Vec<String> = w
                    .sim
                    .group("web")
                    .tags
                    .keys()
                    .filter(|k| k.starts_with("amiroll:"))
                    .cloned()
                    .collect();
                let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                w.sim.untag_group("web", &keys).expect("untag");
            },
            end: None,
            must_tell: true,
        },
        Change {
            name: "the settle action is deleted mid-round",
            build: surge,
            when: MID_ROUND,
            change: |w, _| {
                if let Some(name) = round_action(w, "web", "-settle") {
                    w.sim.remove_scheduled_action("web", &name).expect("delete");
                }
            },
            end: None,
            must_tell: true,
        },
        Change {
            name: "the surge action is deleted before it fires",
            build: surge,
            when: When::InFlight,
            change: |w, _| {
                if let Some(name) = round_action(w, "web", "-surge") {
                    w.sim.remove_scheduled_action("web", &name).expect("delete");
                }
            },
            end: None,
            must_tell: true,
        },
        Change {
            name: "the group is deleted mid-round",
            build: surge,
            when: MID_ROUND,
            change: |w, o| {
                o.set_floor(&w.sim, "web", 0);
                w.sim.delete_group("web").expect("delete group");
            },
            end: None,
            must_tell: true,
        },
        Change {
            name: "the launch template is deleted mid-round",
            build: surge,
            when: MID_ROUND,
            change: |w, _| {
                w.sim
                    .delete_launch_template(&w.lt)
                    .expect("delete template");
            },
            end: None,
            must_tell: true,
        },
        Change {
            name: "the parameter is deleted mid-round",
            build: surge,
            when: MID_ROUND,
            change: |w, _| {
                w.sim.delete_parameter(PARAM).expect("delete parameter");
            },
            end: None,
            must_tell: true,
        },
        Change {
            name: "the parameter moves to a newer AMI mid-round",
            build: surge,
            when: MID_ROUND,
            change: |w, _| w.publish(NEWER),
            end: None,
            must_tell: true,
        },
        Change {
            name: "the AMI is deprecated mid-round",
            build: surge,
            when: MID_ROUND,
            change: |w, _| {
                w.sim.register_image(
                    ImageSpec::new(
                        NEW,
                        "ecs-2026.11.20",
                        "x86_64",
                        w.sim.now() - chrono::Duration::days(6),
                    )
                    .deprecated_at(w.sim.now() - chrono::Duration::hours(1)),
                );
            },
            end: None,
            must_tell: true,
        },
        Change {
            name: "the AMI is deregistered mid-round",
            build: surge,
            when: MID_ROUND,
            change: |w, _| {
                w.sim.register_image(
                    ImageSpec::new(
                        NEW,
                        "ecs-2026.11.20",
                        "x86_64",
                        w.sim.now() - chrono::Duration::days(6),
                    )
                    .with_state("deregistered"),
                );
            },
            end: None,
            must_tell: true,
        },
        Change {
            name: "someone protects every instance from scale in mid-round",
            build: surge,
            when: MID_ROUND,
            change: |w, _| {
                let ids: Vec<String> = w
                    .sim
                    .group("web")
                    .instances
                    .iter()
                    .map(|i| i.instance_id.clone())
                    .collect();
                let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                w.sim
                    .set_instance_protection("web", &ids, true)
                    .expect("protect");
            },
            end: None,
            must_tell: true,
        },
        Change {
            name: "someone lifts scale-in protection from the old instances mid-round",
            build: surge,
            when: MID_ROUND,
            change: |w, _| {
                let ids = instances_on(w, "web", OLD);
                let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                w.sim
                    .set_instance_protection("web", &ids, false)
                    .expect("unprotect");
            },
            end: None,
            must_tell: true,
        },
        Change {
            name: "a foreign scheduled action appears inside the round",
            build: surge,
            when: When::InFlight,
            change: |w, o| {
                // Its owner asks for one instance at +8 min: a deliberate scale-in, as for the
                // scaling policy above.
                o.set_floor(&w.sim, "web", 1);
                w.sim
                    .add_scheduled_action(ScheduledAction {
                        group_name: "web".to_string(),
                        name: "business-hours".to_string(),
                        start_time: w.sim.now() + chrono::Duration::minutes(8),
                        min_size: None,
                        max_size: None,
                        desired_capacity: Some(1),
                        recurrence: None,
                    })
                    .expect("foreign action");
            },
            end: None,
            must_tell: true,
        },
        Change {
            name: "one group's new instance turns unhealthy, the other's stays healthy",
            build: two_groups,
            when: MID_ROUND,
            change: |w, _| {
                if let Some(id) = instances_on(w, "api", NEW).first() {
                    w.sim.set_instance_health(id, false);
                }
            },
            // Issue 9, bug 5: the target fails as a whole; neither group ends on the AMI.
            end: Some(|w| {
                for g in ["web", "api"] {
                    if w.sim.instances_by_ami(g).keys().all(|a| a == NEW) {
                        return Some(format!(
                            "group {g} ends entirely on {NEW}, which failed on api"
                        ));
                    }
                }
                None
            }),
            must_tell: true,
        },
        Change {
            name: "a person changes the desired capacity during an instance refresh",
            build: refresh_world,
            when: When::InFlight,
            change: |w, _| {
                w.sim.set_desired_capacity("web", 3).expect("scale out");
            },
            end: None,
            // A refresh launches scale-outs from its desired configuration: ordinary operation.
            must_tell: false,
        },
        Change {
            name: "the group is deleted during an instance refresh",
            build: refresh_world,
            when: When::InFlight,
            change: |w, o| {
                o.set_floor(&w.sim, "web", 0);
                w.sim.delete_group("web").expect("delete group");
            },
            end: None,
            must_tell: true,
        },
    ]
}

/// The scenario a change runs in: publish the new AMI, make the change at its time.
pub fn scenario(c: &Change) -> Scenario {
    Scenario {
        name: c.name,
        build: c.build,
        cues: vec![
            (When::Start, Cue::Publish(NEW)),
            (c.when, Cue::Outside(c.name, c.change)),
        ],
        expect: Expect::Safe,
    }
}
