//! Conformance: the same scripted call sequences against the simulator (`amiroll-sim`, through
//! the port) and against the local AWS emulator (`tests/moto/server.py`, through this adapter),
//! with the observable results compared field by field. Each side gets the same starting point
//! (a launch template on an AMI, a group, a parameter, a topic), named alike; what each side
//! makes up (template ids, instance ids, times) is replaced by a symbol, or by an offset from the
//! side's own clock, before comparing. A difference is fixed or listed in `docs/fidelity.md`.
//!
//! Run: `python3 tests/moto/server.py 5790 &` then
//! `AMIROLL_MOTO_URL=http://127.0.0.1:5790 cargo test -p amiroll-aws --test conformance -- --ignored`
//! (`scripts/test.sh` does both).

use std::collections::BTreeMap;
use std::fmt::Debug;

use amiroll_aws::AwsAdapter;
use amiroll_core::port::{
    Aws, AwsError, ContainerInstance, ContainerInstanceAttribute, ContainerInstanceStatus,
    CreateVersionRequest, LaunchTemplateVersion, LifecycleActionResult, Notification,
    PutLifecycleHookRequest, ScheduledAction, UpdateGroupRequest, VersionAlias,
    LIFECYCLE_TRANSITION_LAUNCHING, LIFECYCLE_TRANSITION_TERMINATING,
};
use amiroll_sim::{GroupSpec, ImageSpec, SimAws, TemplateData};

/// What both sides start from, by name.
struct Start {
    template: String,
    group: String,
    parameter: String,
    topic: String,
    old_ami: String,
    new_ami: String,
}

/// One side: the port, and the concrete values to replace by symbols.
struct Side<A: Aws> {
    aws: A,
    template_id: String,
    topic_arn: String,
}

/// A transcript of observations, one line each.
#[derive(Default)]
struct Transcript {
    lines: Vec<String>,
}

impl Transcript {
    fn note<T: Debug>(&mut self, label: &str, result: &Result<T, AwsError>) {
        let line = match result {
            Ok(v) => format!("{label}: {v:?}"),
            Err(e) => format!("{label}: error {:?} {}", e.kind, e.code),
        };
        self.lines.push(line);
    }
}

fn start() -> Start {
    let tag = amiroll_testkit::unique("conf");
    Start {
        template: format!("{tag}-lt"),
        group: format!("{tag}-asg"),
        parameter: format!("/{tag}/ami"),
        topic: format!("{tag}-topic"),
        old_ami: String::new(),
        new_ami: String::new(),
    }
}

/// The emulator side: the starting point made with the SDK, then the adapter.
async fn emulator(start: &mut Start) -> Side<AwsAdapter> {
    let url = amiroll_testkit::emulator_url();
    let conf = amiroll_testkit::sdk_config(&url, "testing", "testing").await;
    let ssm = aws_sdk_ssm::Client::new(&conf);
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let asg = aws_sdk_autoscaling::Client::new(&conf);
    let sns = aws_sdk_sns::Client::new(&conf);
    let (old, new) = amiroll_testkit::amis(&ssm, &ec2).await;
    start.old_ami = old;
    start.new_ami = new;
    let template_id =
        amiroll_testkit::launch_template(&ec2, &start.template, &start.old_ami, None, None).await;
    amiroll_testkit::group(&asg, &start.group, &template_id, &[]).await;
    amiroll_testkit::put_parameter(&ssm, &start.parameter, &start.old_ami).await;
    let topic_arn = amiroll_testkit::topic(&sns, &start.topic).await;
    Side {
        aws: AwsAdapter::from_conf(&conf).await,
        template_id,
        topic_arn,
    }
}

/// The simulator side, made the same way (after the emulator, which picks the AMIs).
fn simulator(start: &Start) -> Side<SimAws> {
    simulator_in(start, None)
}

/// [`simulator`]; with a cluster, the ECS cluster exists first and the template's user data
/// names it, so the group's instance registers in it as it comes into service.
fn simulator_in(start: &Start, cluster: Option<&str>) -> Side<SimAws> {
    let sim = SimAws::new();
    let mut data = TemplateData::new(start.old_ami.as_str(), "m5.large");
    if let Some(cluster) = cluster {
        sim.create_cluster(cluster).expect("cluster");
        data = data.with_user_data(format!(
            "#!/bin/bash\necho ECS_CLUSTER={cluster} >> /etc/ecs/ecs.config"
        ));
    }
    for ami in [&start.old_ami, &start.new_ami] {
        sim.register_image(ImageSpec::new(
            ami.as_str(),
            format!("image {ami}"),
            "x86_64",
            sim.now(),
        ));
    }
    let template_id = sim
        .create_launch_template(&start.template, data)
        .expect("template");
    sim.create_group(
        GroupSpec::new(&start.group, &template_id, 1, 2, 1)
            .with_version("$Default")
            .with_availability_zones(&["us-east-1a"]),
    )
    .expect("group");
    sim.put_parameter(&start.parameter, &start.old_ami);
    let topic_arn = sim.create_topic(&start.topic);
    Side {
        aws: sim,
        template_id,
        topic_arn,
    }
}

/// Replace what each side makes up by symbols.
fn symbolic<A: Aws>(side: &Side<A>, start: &Start, lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            l.replace(&side.template_id, "<template-id>")
                .replace(&side.topic_arn, "<topic-arn>")
                .replace(&start.template, "<template-name>")
                .replace(&start.group, "<group>")
                .replace(&start.parameter, "<parameter>")
                .replace(&start.old_ami, "<old-ami>")
                .replace(&start.new_ami, "<new-ami>")
        })
        .collect()
}

/// A version without the times the sides make up.
fn timeless(mut v: LaunchTemplateVersion) -> LaunchTemplateVersion {
    v.create_time = v
        .create_time
        .map(|_| chrono::DateTime::<chrono::Utc>::UNIX_EPOCH);
    v
}

fn assert_same(sim: Vec<String>, emu: Vec<String>) {
    let differences: Vec<String> = sim
        .iter()
        .zip(&emu)
        .filter(|(s, e)| s != e)
        .map(|(s, e)| format!("simulator: {s}\nemulator:  {e}"))
        .collect();
    assert!(
        differences.is_empty() && sim.len() == emu.len(),
        "the simulator and the emulator differ ({} and {} observations):\n{}",
        sim.len(),
        emu.len(),
        differences.join("\n\n")
    );
}

/// Run `script` on both sides and compare.
macro_rules! conform {
    ($script:ident) => {{
        let mut start = start();
        let emu = emulator(&mut start).await;
        let sim = simulator(&start);
        let on_emu = $script(&emu, &start).await;
        let on_sim = $script(&sim, &start).await;
        assert_same(
            symbolic(&sim, &start, &on_sim.lines),
            symbolic(&emu, &start, &on_emu.lines),
        );
    }};
}

// ----- the scripts -----

/// Create (with a replayed and a mismatched client token), describe, move the default, delete
/// (with partial failure), and the errors for unknown templates and versions.
async fn templates<A: Aws>(side: &Side<A>, start: &Start) -> Transcript {
    let mut t = Transcript::default();
    let aws = &side.aws;
    let lt = side.template_id.as_str();
    t.note(
        "header by name",
        &aws.describe_launch_template(&start.template).await,
    );
    t.note("header by id", &aws.describe_launch_template(lt).await);
    t.note(
        "unknown name",
        &aws.describe_launch_template(&format!("{}-missing", start.template))
            .await,
    );
    let token = amiroll_testkit::unique("token");
    let request = CreateVersionRequest {
        template_id: lt.to_owned(),
        source_version: 1,
        image_id: start.new_ami.clone(),
        description: "amiroll: v2".to_owned(),
        client_token: token.clone(),
        block_device_mappings: Vec::new(),
    };
    let created = aws.create_launch_template_version(&request).await;
    t.note("create v2", &created.clone().map(timeless));
    t.note(
        "replay v2",
        &aws.create_launch_template_version(&request)
            .await
            .map(timeless),
    );
    t.note(
        "token mismatch",
        &aws.create_launch_template_version(&CreateVersionRequest {
            description: "amiroll: other".to_owned(),
            ..request.clone()
        })
        .await,
    );
    t.note(
        "unknown source",
        &aws.create_launch_template_version(&CreateVersionRequest {
            source_version: 99,
            client_token: amiroll_testkit::unique("token"),
            ..request.clone()
        })
        .await,
    );
    t.note(
        "create v3",
        &aws.create_launch_template_version(&CreateVersionRequest {
            description: String::new(),
            client_token: amiroll_testkit::unique("token"),
            ..request.clone()
        })
        .await
        .map(timeless),
    );
    t.note(
        "versions",
        &aws.describe_launch_template_versions(lt)
            .await
            .map(|vs| vs.into_iter().map(timeless).collect::<Vec<_>>()),
    );
    t.note(
        "default to 2",
        &aws.modify_launch_template_default_version(lt, 2).await,
    );
    t.note(
        "default to 99",
        &aws.modify_launch_template_default_version(lt, 99).await,
    );
    // The failures' messages are free text; their codes are the contract.
    t.note(
        "delete 1, 2, 99",
        &aws.delete_launch_template_versions(lt, &[1, 2, 99])
            .await
            .map(|out| {
                let failed: Vec<_> = out
                    .failed
                    .into_iter()
                    .map(|f| (f.version, f.code))
                    .collect();
                (out.deleted, failed)
            }),
    );
    t.note(
        "versions after delete",
        &aws.describe_launch_template_versions(lt)
            .await
            .map(|vs| vs.into_iter().map(timeless).collect::<Vec<_>>()),
    );
    for which in [VersionAlias::Default, VersionAlias::Latest] {
        let ours = aws
            .describe_current_template_versions(which)
            .await
            .map(|vs| {
                vs.into_iter()
                    .filter(|v| v.template_id == lt)
                    .map(timeless)
                    .collect::<Vec<_>>()
            });
        t.note(&format!("current {}", which.as_str()), &ours);
    }
    t.note("header after", &aws.describe_launch_template(lt).await);
    t
}

/// Describe a group (also by tag), resize it (and fail to), and put, update, describe and delete
/// scheduled actions.
async fn groups_and_scheduled_actions<A: Aws>(side: &Side<A>, start: &Start) -> Transcript {
    let mut t = Transcript::default();
    let aws = &side.aws;
    let group = start.group.as_str();
    let describe = |label: &'static str| async move {
        aws.describe_auto_scaling_groups(&[group.to_owned()])
            .await
            .map(|gs| {
                gs.into_iter()
                    .map(|g| {
                        // Lifecycle states only of the fleet that was there from the start:
                        // the emulator's new instances are InService at once, the simulator's
                        // boot first (docs/fidelity.md, instances).
                        let instances: Vec<_> = g
                            .instances
                            .iter()
                            .map(|i| {
                                (
                                    (label == "created").then(|| i.lifecycle_state.clone()),
                                    (label == "created").then(|| i.health_status.clone()),
                                    i.protected_from_scale_in,
                                    i.launch_template.clone(),
                                )
                            })
                            .collect();
                        (
                            label,
                            g.name,
                            (g.min_size, g.max_size, g.desired_capacity),
                            g.launch_template,
                            g.mixed_instances_policy,
                            g.termination_policies,
                            g.suspended_processes,
                            g.tags,
                            instances,
                        )
                    })
                    .collect::<Vec<_>>()
            })
    };
    t.note("group", &describe("created").await);
    t.note(
        "unknown group",
        &aws.describe_auto_scaling_groups(&[format!("{group}-missing")])
            .await
            .map(|gs| gs.len()),
    );
    t.note(
        "resize",
        &aws.update_auto_scaling_group(&UpdateGroupRequest {
            group_name: group.to_owned(),
            min_size: Some(0),
            max_size: Some(3),
            desired_capacity: Some(2),
            ..UpdateGroupRequest::default()
        })
        .await,
    );
    t.note("group", &describe("resized").await);
    t.note(
        "desired above max",
        &aws.update_auto_scaling_group(&UpdateGroupRequest {
            group_name: group.to_owned(),
            desired_capacity: Some(5),
            ..UpdateGroupRequest::default()
        })
        .await,
    );
    // A whole second, as the services keep it.
    let at = chrono::DateTime::<chrono::Utc>::from_timestamp(
        (aws.now() + chrono::Duration::days(1)).timestamp(),
        0,
    )
    .expect("a time in range");
    let action = ScheduledAction {
        group_name: group.to_owned(),
        name: format!("{group}-surge"),
        start_time: at,
        min_size: None,
        max_size: Some(3),
        desired_capacity: Some(3),
        recurrence: None,
    };
    let actions = |label: &'static str| async move {
        aws.describe_scheduled_actions(group).await.map(|all| {
            all.into_iter()
                .map(|a| {
                    (
                        label,
                        a.name,
                        (a.start_time - at).num_seconds(),
                        (a.min_size, a.max_size, a.desired_capacity),
                        a.recurrence,
                    )
                })
                .collect::<Vec<_>>()
        })
    };
    t.note("put", &aws.put_scheduled_update_group_action(&action).await);
    t.note("actions", &actions("put").await);
    t.note(
        "update the desired capacity only",
        &aws.put_scheduled_update_group_action(&ScheduledAction {
            max_size: None,
            desired_capacity: Some(2),
            ..action.clone()
        })
        .await,
    );
    t.note("actions", &actions("updated").await);
    t.note(
        "delete",
        &aws.delete_scheduled_action(group, &action.name).await,
    );
    t.note("actions", &actions("deleted").await);
    t
}

/// Group tags: create, overwrite, delete (a missing key too), and the tag-key filter.
async fn tags<A: Aws>(side: &Side<A>, start: &Start) -> Transcript {
    let mut t = Transcript::default();
    let aws = &side.aws;
    let group = start.group.as_str();
    let key = format!("{group}:marker");
    let tags: BTreeMap<String, String> = [
        (key.clone(), "1".to_owned()),
        ("amiroll:rollout".to_owned(), "r1".to_owned()),
    ]
    .into_iter()
    .collect();
    t.note("tag", &aws.create_or_update_tags(group, &tags).await);
    let overwrite: BTreeMap<String, String> = [("amiroll:rollout".to_owned(), "r2".to_owned())]
        .into_iter()
        .collect();
    t.note(
        "overwrite",
        &aws.create_or_update_tags(group, &overwrite).await,
    );
    let read = |label: &'static str| async move {
        aws.describe_auto_scaling_groups(&[group.to_owned()])
            .await
            .map(|gs| (label, gs.into_iter().map(|g| g.tags).collect::<Vec<_>>()))
    };
    t.note("tags", &read("tagged").await);
    t.note(
        "by tag-key",
        &aws.describe_auto_scaling_groups_by_tag(&key)
            .await
            .map(|gs| gs.into_iter().map(|g| g.name).collect::<Vec<_>>()),
    );
    t.note(
        "untag",
        &aws.delete_tags(group, &[key.clone(), format!("{key}-missing")])
            .await,
    );
    t.note("tags", &read("untagged").await);
    t.note(
        "by tag-key after",
        &aws.describe_auto_scaling_groups_by_tag(&key)
            .await
            .map(|gs| gs.len()),
    );
    t
}

/// SSM: a parameter by name and by `name:version`, a missing one and a missing version.
async fn ssm<A: Aws>(side: &Side<A>, start: &Start) -> Transcript {
    let mut t = Transcript::default();
    let p = &start.parameter;
    let names = vec![
        p.clone(),
        format!("{p}:1"),
        format!("{p}-missing"),
        format!("{p}:7"),
    ];
    let out = side.aws.get_parameters(&names).await.map(|mut o| {
        for p in &mut o.parameters {
            p.last_modified = None;
        }
        o
    });
    t.note("get", &out);
    t.note("no names", &side.aws.get_parameters(&[]).await);
    t
}

/// SNS: the topic exists, a missing one does not, a publish returns a message id.
async fn sns<A: Aws>(side: &Side<A>, start: &Start) -> Transcript {
    let mut t = Transcript::default();
    let aws = &side.aws;
    t.note("topic", &aws.get_topic_attributes(&side.topic_arn).await);
    t.note(
        "missing topic",
        &aws.get_topic_attributes(&format!("{}-missing", side.topic_arn))
            .await,
    );
    let published = aws
        .publish(&Notification {
            topic_arn: side.topic_arn.clone(),
            subject: format!("amiroll: {} rolling", start.group),
            message: "the message".to_owned(),
            attributes: [("event".to_owned(), "rollout-started".to_owned())]
                .into_iter()
                .collect(),
        })
        .await
        .map(|id| !id.is_empty());
    t.note("publish returns an id", &published);
    t
}

/// ECS container instances of a cluster holding the group's instance: list (by name and ARN),
/// describe (with an unknown one), drain and activate (with an unknown one), and the three
/// calls on a cluster that does not exist. What each side makes up — the EC2 instance id, the
/// container instance ARN (the emulator uses the short ARN format), the registration time, the
/// failures' ARNs — is replaced or left out.
async fn container_instances<A: Aws>(side: &Side<A>, start: &Start, cluster: &str) -> Transcript {
    let mut t = Transcript::default();
    let aws = &side.aws;
    let instances: Vec<String> = aws
        .describe_auto_scaling_groups(std::slice::from_ref(&start.group))
        .await
        .map(|gs| {
            gs.iter()
                .flat_map(|g| g.instances.iter().map(|i| i.instance_id.clone()))
                .collect()
        })
        .unwrap_or_default();
    let listed = aws.list_container_instances(cluster).await;
    let arns = listed.clone().unwrap_or_default();
    let symbols = |text: String| {
        let text = instances
            .iter()
            .enumerate()
            .fold(text, |t, (n, id)| t.replace(id, &format!("<instance-{n}>")));
        arns.iter().enumerate().fold(text, |t, (n, arn)| {
            t.replace(arn, &format!("<container-instance-{n}>"))
        })
    };
    let mut note = |label: &str, line: Result<String, AwsError>| {
        t.note(label, &line.map(&symbols));
    };
    note("list", listed.map(|a| format!("{a:?}")));
    let cluster_arn = format!("arn:aws:ecs:us-east-1:123456789012:cluster/{cluster}");
    note(
        "list by arn",
        aws.list_container_instances(&cluster_arn)
            .await
            .map(|a| format!("{a:?}")),
    );
    let unknown = "0000000000000000000000000000beef".to_owned();
    let mut asked = arns.clone();
    asked.push(unknown.clone());
    let seen = |out: amiroll_core::port::ContainerInstancesOutput| {
        let instances: Vec<_> = out
            .container_instances
            .into_iter()
            .map(|mut c| {
                let registered = c.registered_at.take().is_some();
                (custom_attributes_only(c), registered)
            })
            .collect();
        let failures: Vec<String> = out.failures.into_iter().map(|f| f.reason).collect();
        format!("{instances:?} {failures:?}")
    };
    note(
        "describe",
        aws.describe_container_instances(cluster, &asked)
            .await
            .map(seen),
    );
    note(
        "drain",
        aws.update_container_instances_state(cluster, &asked, ContainerInstanceStatus::Draining)
            .await
            .map(seen),
    );
    note(
        "described draining",
        aws.describe_container_instances(&cluster_arn, &arns)
            .await
            .map(seen),
    );
    note(
        "listed draining",
        aws.list_container_instances(cluster)
            .await
            .map(|a| format!("{a:?}")),
    );
    note(
        "activate",
        aws.update_container_instances_state(cluster, &arns, ContainerInstanceStatus::Active)
            .await
            .map(seen),
    );
    let missing = format!("{cluster}-missing");
    note(
        "list missing cluster",
        aws.list_container_instances(&missing)
            .await
            .map(|a| format!("{a:?}")),
    );
    note(
        "describe in missing cluster",
        aws.describe_container_instances(&missing, &asked)
            .await
            .map(seen),
    );
    note(
        "drain in missing cluster",
        aws.update_container_instances_state(&missing, &asked, ContainerInstanceStatus::Draining)
            .await
            .map(seen),
    );
    t
}

/// The container instance with only its custom attributes: the emulator reports the built-in
/// `ecs.*` ones the agent would, the simulator none (docs/fidelity.md, row 68).
fn custom_attributes_only(mut c: ContainerInstance) -> ContainerInstance {
    c.attributes
        .retain(|name, _| !name.starts_with("ecs.") && !name.starts_with("com.amazonaws.ecs."));
    c
}

/// ECS custom attributes on the container instance of the group's instance: put by ARN (and one
/// without a value), replace, describe; an unknown target, a cluster that does not exist; none.
async fn container_attributes<A: Aws>(side: &Side<A>, cluster: &str) -> Transcript {
    let mut t = Transcript::default();
    let aws = &side.aws;
    let arns = aws
        .list_container_instances(cluster)
        .await
        .unwrap_or_default();
    let attribute = |target: &str, name: &str, value: &str| ContainerInstanceAttribute {
        target_id: target.to_owned(),
        name: name.to_owned(),
        value: value.to_owned(),
    };
    let described = || async {
        aws.describe_container_instances(cluster, &arns)
            .await
            .map(|out| {
                out.container_instances
                    .into_iter()
                    .map(|c| custom_attributes_only(c).attributes)
                    .collect::<Vec<_>>()
            })
    };
    let Some(arn) = arns.first() else {
        t.lines.push("no container instance".to_owned());
        return t;
    };
    t.note("before", &described().await);
    t.note(
        "put",
        &aws.put_attributes(
            cluster,
            &[
                attribute(arn, "amiroll.drain-since", "2026-11-26T13:00:00Z"),
                attribute(arn, "marker", ""),
            ],
        )
        .await,
    );
    t.note("after put", &described().await);
    t.note(
        "replace",
        &aws.put_attributes(
            cluster,
            &[attribute(
                arn,
                "amiroll.drain-since",
                "2026-11-26T14:30:00Z",
            )],
        )
        .await,
    );
    t.note("after replace", &described().await);
    let unknown = format!(
        "{}/0000000000000000000000000000beef",
        arn.rsplit_once('/').map_or(arn.as_str(), |(head, _)| head)
    );
    t.note(
        "unknown target",
        &aws.put_attributes(cluster, &[attribute(&unknown, "a", "1")])
            .await,
    );
    t.note(
        "missing cluster",
        &aws.put_attributes(&format!("{cluster}-missing"), &[attribute(arn, "a", "1")])
            .await,
    );
    t.note("none", &aws.put_attributes(cluster, &[]).await);
    t
}

/// Lifecycle hooks: put a terminating and a launching hook (defaults), update one, describe;
/// the errors both sides answer alike (unknown group, a heartbeat out of range, an action for
/// an instance not in the group or a hook that does not exist). moto never holds an instance,
/// so actions on a held instance are the simulator's alone (docs/fidelity.md, rows 59–63).
async fn lifecycle_hooks<A: Aws>(side: &Side<A>, start: &Start) -> Transcript {
    let mut t = Transcript::default();
    let aws = &side.aws;
    let group = start.group.as_str();
    let hook = |name: &str, transition: &str, heartbeat: Option<u32>, result: Option<&str>| {
        PutLifecycleHookRequest {
            group_name: group.to_owned(),
            name: name.to_owned(),
            transition: transition.to_owned(),
            heartbeat_timeout_secs: heartbeat,
            default_result: result.map(str::to_owned),
        }
    };
    let describe = |label: &'static str| async move {
        aws.describe_lifecycle_hooks(group).await.map(|mut hooks| {
            hooks.sort_by(|a, b| a.name.cmp(&b.name));
            (label, hooks)
        })
    };
    t.note(
        "put drain",
        &aws.put_lifecycle_hook(&hook(
            "drain",
            LIFECYCLE_TRANSITION_TERMINATING,
            Some(300),
            Some("CONTINUE"),
        ))
        .await,
    );
    t.note(
        "put warm",
        &aws.put_lifecycle_hook(&hook("warm", LIFECYCLE_TRANSITION_LAUNCHING, None, None))
            .await,
    );
    t.note("hooks", &describe("created").await);
    t.note(
        "update drain",
        &aws.put_lifecycle_hook(&hook(
            "drain",
            LIFECYCLE_TRANSITION_TERMINATING,
            None,
            Some("ABANDON"),
        ))
        .await,
    );
    t.note("hooks", &describe("updated").await);
    t.note(
        "heartbeat timeout 29",
        &aws.put_lifecycle_hook(&hook(
            "short",
            LIFECYCLE_TRANSITION_TERMINATING,
            Some(29),
            None,
        ))
        .await,
    );
    let missing = format!("{group}-missing");
    t.note(
        "put on a missing group",
        &aws.put_lifecycle_hook(&PutLifecycleHookRequest {
            group_name: missing.clone(),
            ..hook("drain", LIFECYCLE_TRANSITION_TERMINATING, None, None)
        })
        .await,
    );
    t.note(
        "describe a missing group",
        &aws.describe_lifecycle_hooks(&missing).await,
    );
    t.note(
        "complete for an instance not in the group",
        &aws.complete_lifecycle_action(
            group,
            "drain",
            "i-0000000000000beef",
            LifecycleActionResult::Continue,
        )
        .await,
    );
    t.note(
        "heartbeat for an instance not in the group",
        &aws.record_lifecycle_action_heartbeat(group, "drain", "i-0000000000000beef")
            .await,
    );
    t.note(
        "complete for a hook that does not exist",
        &aws.complete_lifecycle_action(
            group,
            "missing",
            "i-0000000000000beef",
            LifecycleActionResult::Abandon,
        )
        .await,
    );
    t
}

/// Both sides with the group's instance registered as a container instance of a new cluster.
async fn ecs_sides() -> (Start, Side<AwsAdapter>, Side<SimAws>, String) {
    let mut start = start();
    let emu = emulator(&mut start).await;
    let cluster = format!("{}-cluster", start.group);
    // The emulator's instances never register: do what the group's instance's agent would.
    let conf =
        amiroll_testkit::sdk_config(&amiroll_testkit::emulator_url(), "testing", "testing").await;
    let ecs = aws_sdk_ecs::Client::new(&conf);
    ecs.create_cluster()
        .cluster_name(&cluster)
        .send()
        .await
        .expect("CreateCluster");
    let groups = emu
        .aws
        .describe_auto_scaling_groups(std::slice::from_ref(&start.group))
        .await
        .expect("group");
    for i in groups.iter().flat_map(|g| g.instances.iter()) {
        ecs.register_container_instance()
            .cluster(&cluster)
            .instance_identity_document(format!("{{\"instanceId\": \"{}\"}}", i.instance_id))
            .send()
            .await
            .expect("RegisterContainerInstance");
    }
    let sim = simulator_in(&start, Some(&cluster));
    (start, emu, sim, cluster)
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn conformance_container_instances() {
    let (start, emu, sim, cluster) = ecs_sides().await;
    let on_emu = container_instances(&emu, &start, &cluster).await;
    let on_sim = container_instances(&sim, &start, &cluster).await;
    assert_same(
        symbolic(&sim, &start, &on_sim.lines),
        symbolic(&emu, &start, &on_emu.lines),
    );
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn conformance_container_attributes() {
    let (start, emu, sim, cluster) = ecs_sides().await;
    let on_emu = container_attributes(&emu, &cluster).await;
    let on_sim = container_attributes(&sim, &cluster).await;
    assert_same(
        symbolic(&sim, &start, &on_sim.lines),
        symbolic(&emu, &start, &on_emu.lines),
    );
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn conformance_lifecycle_hooks() {
    conform!(lifecycle_hooks);
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn conformance_templates() {
    conform!(templates);
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn conformance_groups_and_scheduled_actions() {
    conform!(groups_and_scheduled_actions);
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn conformance_tags() {
    conform!(tags);
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn conformance_ssm() {
    conform!(ssm);
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn conformance_sns() {
    conform!(sns);
}
