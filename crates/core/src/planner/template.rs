//! Steps 3 and 5: the version the groups launch today (the source of the new version) and the
//! template moves — one version per (template, source, AMI), the default, the pinned groups.
//!
//! The moves are decided before the fleet is planned (a refresh needs to know the version it
//! rolls to) and written into the plan after it, once the fleet's outcome says whether the
//! default goes forward or back ([`TemplateMoves::actions`]).

use super::*;
use crate::port::{BlockDeviceMapping, Image, LaunchTemplateVersion, SsmParameter};

/// The version the groups launch today and the image it names.
pub(crate) struct Source<'a> {
    pub(crate) number: u64,
    pub(crate) version: &'a LaunchTemplateVersion,
    pub(crate) image: String,
    /// The version takes its AMI from an SSM parameter at launch (`resolve:ssm:`).
    pub(crate) alias: bool,
}

/// Step 3: the one version every group launches (or the default when no group is left).
pub(super) fn source<'a>(
    t: &Target,
    tmpl: &'a ObservedTemplate,
    views: &[GroupView],
) -> Result<Source<'a>, Stop> {
    let sources: BTreeSet<u64> = views.iter().map(|v| v.effective).collect();
    let mut shared = sources.iter().copied();
    let number = match (shared.next(), shared.next()) {
        (None, _) => tmpl.template.default_version,
        (Some(n), None) => n,
        (Some(_), Some(_)) => {
            return Err(Stop::Refused(Refusal::SourceVersionsDiffer {
                template: t.launch_template.clone(),
                groups: views
                    .iter()
                    .map(|v| GroupVersion {
                        group: v.group.name.clone(),
                        spec: v.spec_text.clone(),
                        version: v.effective,
                    })
                    .collect(),
            }));
        }
    };
    let Some(version) = tmpl.version(number) else {
        return Err(Stop::Refused(Refusal::SourceVersionMissing {
            template: t.launch_template.clone(),
            version: number,
        }));
    };
    let Some(image) = version.image_id.clone() else {
        return Err(Stop::Refused(Refusal::SourceVersionNoImage {
            template: t.launch_template.clone(),
            version: number,
        }));
    };
    Ok(Source {
        number,
        version,
        alias: image.starts_with("resolve:ssm:"),
        image,
    })
}

/// The template moves of a rollout, decided before the fleet is planned.
#[derive(Default)]
pub(crate) struct TemplateMoves {
    /// The version the fleet rolls to, known or to be created.
    pub(crate) target_version: Option<VersionRef>,
    create: Option<PlannedAction>,
    set_default: Option<PlannedAction>,
    /// Re-pins of pinned groups, by group.
    pins: Vec<(String, PlannedAction)>,
}

impl TemplateMoves {
    /// Whether the rollout changes the template (or a group's pin).
    pub(crate) fn changes(&self) -> bool {
        self.create.is_some() || self.set_default.is_some() || !self.pins.is_empty()
    }

    /// The moves that go into the plan. A failure in this run sends the default back instead
    /// ([`revert::Revert`]): then the default does not move forward, no version is made for an
    /// AMI that failed, and a group the revert re-pins is not pinned forward.
    pub(crate) fn actions(self, revert: &Revert) -> Vec<PlannedAction> {
        let forward = !revert.reverts_default;
        let create = self.create.filter(|a| {
            forward
                && !matches!(&a.action, Action::CreateVersion { image_id, .. }
                    if revert.failed_amis.contains(image_id))
        });
        let mut out: Vec<PlannedAction> = create.into_iter().collect();
        out.extend(self.set_default.filter(|_| forward));
        out.extend(
            self.pins
                .into_iter()
                .filter(|(g, _)| !revert.repinned.contains(g))
                .map(|(_, a)| a),
        );
        out
    }
}

/// Step 5: one version per AMI, from the source version; without a refresh the default (and
/// the pinned groups) move now. Nothing moves while a rollout is held back.
pub(super) fn decide(
    b: &mut Builder,
    cx: &Ctx,
    param: &SsmParameter,
    image: &Image,
    hold: bool,
) -> Result<TemplateMoves, Stop> {
    let (t, tmpl, ami) = (cx.t, cx.tmpl, cx.ami.as_str());
    let (template_id, source, source_image) =
        (cx.template_id, cx.source.number, cx.source.image.as_str());
    let refresh = t.settings.strategy == Strategy::InstanceRefresh;
    let mut m = TemplateMoves::default();
    if cx.source.alias {
        b.info(format!(
            "version {source} of `{}` takes its AMI from `{}` at launch; amiroll leaves the template as it is and only replaces instances — instance-refresh rollback is not available for such templates",
            t.launch_template, source_image
        ));
        if let Some(alias_param) = source_image.strip_prefix("resolve:ssm:") {
            if alias_param != t.ami_parameter {
                b.warn(format!(
                    "the template resolves `{alias_param}` but the target watches `{}`; new launches may get a different AMI than {ami}",
                    t.ami_parameter
                ));
            }
        }
        return Ok(m);
    }
    // Checked even while held: a template the new AMI cannot be written into is an error now,
    // not when the hold lifts.
    let carried = if source_image == ami {
        Vec::new()
    } else {
        carried_mappings(t, cx.source.number, cx.source.version, image)?
    };
    if hold {
        return Ok(m);
    }
    let tv = if source_image == ami {
        VersionRef::Number(source)
    } else if let Some(existing) = tmpl.versions.iter().find(|v| {
        v.version > source
            && v.image_id.as_deref() == Some(ami)
            && v.description.as_deref().is_some_and(|d| {
                d.starts_with(DESCRIPTION_PREFIX) && d.contains(&format!(" from v{source} "))
            })
    }) {
        b.info(format!(
            "version {} already carries {ami} (made by an earlier run); reusing it",
            existing.version
        ));
        VersionRef::Number(existing.version)
    } else {
        let description = truncate(
            &format!(
                "{DESCRIPTION_PREFIX} {ami} ({}) from v{source} via {}:{}",
                image.name.as_deref().unwrap_or("unnamed"),
                t.ami_parameter,
                param.version
            ),
            255,
        );
        m.create = Some(PlannedAction {
            action: Action::CreateVersion {
                template_id: template_id.to_string(),
                source_version: source,
                image_id: ami.to_string(),
                description,
                client_token: client_token(template_id, source, ami),
                block_device_mappings: carried,
            },
            reason: format!(
                "version {source} (what the groups launch) uses {source_image}; SSM parameter {} (version {}) now gives {ami}",
                t.ami_parameter, param.version
            ),
        });
        VersionRef::Created
    };
    m.target_version = Some(tv);
    if refresh {
        // A refresh moves the default once the fleet runs the AMI (`default_follows`).
        return Ok(m);
    }
    // Without a refresh, the default moves now: that is what makes $Default groups launch the
    // new AMI.
    let default_image = tmpl
        .version(tmpl.template.default_version)
        .and_then(|v| v.image_id.clone());
    let already_default = tv == VersionRef::Number(tmpl.template.default_version);
    if !already_default && default_image.as_deref() != Some(ami) {
        m.set_default = Some(PlannedAction {
            action: Action::SetDefaultVersion {
                template_id: template_id.to_string(),
                version: tv,
            },
            reason: format!(
                "groups on $Default launch v{} ({}) until the default moves",
                tmpl.template.default_version,
                default_image.unwrap_or_else(|| "no ImageId".to_string())
            ),
        });
    }
    for v in &cx.views {
        if let VersionSpec::Pinned(n) = v.spec {
            if tv != VersionRef::Number(n) {
                m.pins.push((
                    v.group.name.clone(),
                    PlannedAction {
                        action: Action::PinGroupVersion {
                            group: v.group.name.clone(),
                            template_id: template_id.to_string(),
                            version: tv,
                            mixed_instances_policy: v.group.mixed_instances_policy.clone(),
                        },
                        reason: format!(
                            "the group pins v{n}; pinned = \"update\" lets amiroll re-pin it"
                        ),
                    },
                ));
            }
        }
        if v.spec == VersionSpec::Latest {
            let latest_ok = match tv {
                VersionRef::Created => true,
                VersionRef::Number(n) => n == tmpl.template.latest_version,
            };
            if !latest_ok {
                return Err(Stop::Refused(Refusal::LatestWithoutAmi {
                    group: v.group.name.clone(),
                    latest: tmpl.template.latest_version,
                    ami: ami.to_string(),
                }));
            }
            b.info(format!(
                "group `{}` launches $Latest: a new version is live for it the moment it is created (validated above)",
                v.group.name
            ));
        }
    }
    Ok(m)
}

/// The block-device mappings a copy of `v` sends again so that it keeps `v`'s snapshots:
/// `CreateLaunchTemplateVersion` with a `SourceVersion` ignores "snapshots applied to the block
/// device mapping ... unless they are explicitly included" ("CreateLaunchTemplateVersion",
/// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateLaunchTemplateVersion.html).
/// A list sent replaces the inherited one as a whole, so all of `v`'s mappings go, unchanged;
/// none when no mapping names a snapshot (the inherited list is then complete).
pub(crate) fn snapshot_mappings(v: &LaunchTemplateVersion) -> Vec<BlockDeviceMapping> {
    let any_snapshot = v
        .block_device_mappings
        .iter()
        .any(|m| m.ebs.as_ref().is_some_and(|e| e.snapshot_id.is_some()));
    if any_snapshot {
        v.block_device_mappings.clone()
    } else {
        Vec::new()
    }
}

/// The mappings a new version for `image`, made from `source`, sends again
/// ([`snapshot_mappings`]). A snapshot on the device the new AMI provides as its root is
/// refused: the root volume comes from the AMI ("Block device mappings for volumes on Amazon
/// EC2 instances",
/// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/block-device-mapping-concepts.html), and
/// carrying the old root snapshot would boot the old image's disk under the new AMI's name.
fn carried_mappings(
    t: &Target,
    number: u64,
    source: &LaunchTemplateVersion,
    image: &Image,
) -> Result<Vec<BlockDeviceMapping>, Stop> {
    let carried = snapshot_mappings(source);
    let root = image.root_device_name.as_deref();
    if let Some((device, snapshot)) = carried.iter().find_map(|m| {
        let snapshot = m.ebs.as_ref()?.snapshot_id.as_deref()?;
        (Some(m.device_name.as_str()) == root).then_some((m.device_name.as_str(), snapshot))
    }) {
        return Err(Stop::Refused(Refusal::RootSnapshot {
            template: t.launch_template.clone(),
            version: number,
            device: device.to_string(),
            snapshot: snapshot.to_string(),
            ami: image.image_id.clone(),
        }));
    }
    Ok(carried)
}

/// With a refresh, the default follows once the whole fleet runs the AMI.
pub(super) fn default_follows(
    cx: &Ctx,
    moves: &TemplateMoves,
    fleet: &FleetOutcome,
    hold: bool,
) -> Option<PlannedAction> {
    let (tmpl, ami) = (cx.tmpl, cx.ami.as_str());
    let refresh = cx.t.settings.strategy == Strategy::InstanceRefresh;
    if !refresh || hold || fleet.failed || fleet.in_flight || !fleet.all_converged {
        return None;
    }
    let tv = moves.target_version?;
    let default_image = tmpl
        .version(tmpl.template.default_version)
        .and_then(|v| v.image_id.as_deref());
    (tv != VersionRef::Number(tmpl.template.default_version) && default_image != Some(ami)).then(
        || PlannedAction {
            action: Action::SetDefaultVersion {
                template_id: cx.template_id.to_string(),
                version: tv,
            },
            reason: format!(
                "every group runs {ami}; the default follows so that other launches get it too"
            ),
        },
    )
}
