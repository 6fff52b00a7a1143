//! Which versions to delete.

use super::*;

/// Versions to delete: every existing version that is neither among the newest `keep` (counting
/// `planned_new` versions about to be created as the newest) nor protected.
pub fn versions_to_prune(
    existing: &[u64],
    keep: usize,
    planned_new: usize,
    protected: &BTreeSet<u64>,
) -> Vec<u64> {
    let mut sorted: Vec<u64> = existing.to_vec();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    let keep_existing = keep.saturating_sub(planned_new);
    let mut out: Vec<u64> = sorted
        .into_iter()
        .skip(keep_existing)
        .filter(|v| !protected.contains(v))
        .collect();
    out.sort_unstable();
    out
}

/// Step 7: the versions to delete — never the default, the source or target version, the rollback
/// version, a version any observed group, instance or recent refresh uses; only amiroll's own
/// versions unless `prune = "all"`; at most [`MAX_DELETE_PER_CALL`] per call.
#[allow(clippy::too_many_arguments)]
pub(crate) fn prune_actions(
    s: &TargetSettings,
    tmpl: &ObservedTemplate,
    template_id: &str,
    source: u64,
    target_version: Option<VersionRef>,
    revert_to: Option<u64>,
    obs: &Observation,
    views: &[GroupView],
) -> Vec<(Action, String)> {
    let mut out = Vec::new();
    let mut protected: BTreeSet<u64> = BTreeSet::new();
    protected.insert(tmpl.template.default_version);
    protected.insert(source);
    if let Some(VersionRef::Number(n)) = target_version {
        protected.insert(n);
    }
    if let Some(rv) = revert_to {
        protected.insert(rv);
    }
    // Every observed group on this template, in this target or not, keeps its version.
    for g in obs.groups.values() {
        let spec = g
            .launch_template
            .as_ref()
            .or(g.mixed_instances_policy.as_ref().map(|m| &m.template));
        let on_template = spec.is_some_and(|s| {
            s.template_id.as_deref() == Some(template_id)
                || s.template_name.as_deref() == Some(tmpl.template.name.as_str())
        });
        if let Some(n) = spec
            .filter(|_| on_template)
            .and_then(|s| s.version.as_deref())
            .and_then(|v| v.parse::<u64>().ok())
        {
            protected.insert(n);
        }
        if let Some(n) = tag_version(g, template_id) {
            protected.insert(n);
        }
    }
    // Versions an in-flight or recent refresh names.
    for rs in obs.refreshes.values() {
        for r in rs.iter().take(5) {
            if let Some(d) = &r.desired_template {
                if d.template_id.as_deref() == Some(template_id) {
                    if let Some(n) = d.version.as_deref().and_then(|v| v.parse::<u64>().ok()) {
                        protected.insert(n);
                    }
                }
            }
        }
    }
    for v in views {
        protected.insert(v.effective);
        for i in instance_views(v.group, obs, template_id) {
            if let Some(n) = i.template_version {
                protected.insert(n);
            }
        }
    }
    let existing: Vec<u64> = tmpl.versions.iter().map(|v| v.version).collect();
    let own: BTreeSet<u64> = tmpl
        .versions
        .iter()
        .filter(|v| {
            v.description
                .as_deref()
                .is_some_and(|d| d.starts_with(DESCRIPTION_PREFIX))
        })
        .map(|v| v.version)
        .collect();
    let planned_new = usize::from(target_version == Some(VersionRef::Created));
    let doomed: Vec<u64> =
        versions_to_prune(&existing, s.keep_versions as usize, planned_new, &protected)
            .into_iter()
            .filter(|n| s.prune == Prune::All || own.contains(n))
            .collect();
    for chunk in doomed.chunks(MAX_DELETE_PER_CALL) {
        out.push((
            Action::DeleteVersions {
                template_id: template_id.to_string(),
                versions: chunk.to_vec(),
            },
            format!(
                "keep the newest {} version(s), the default, the rollback version (v{source}) and every version in use; prune = \"{}\"",
                s.keep_versions,
                match s.prune {
                    Prune::Own => "own",
                    Prune::All => "all",
                    Prune::Off => "off",
                }
            ),
        ));
    }
    out
}
