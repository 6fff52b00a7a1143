//! Text rendering of plans and reports for people (JSON comes from `serde`).

use crate::model::{ApplyReport, Level, Plan, TargetPlan};

/// One group on one line: name, version, sizes, instances per AMI and state.
pub fn group_line(g: &crate::model::GroupReport) -> String {
    let amis = g
        .instances_by_ami
        .iter()
        .map(|(a, n)| format!("{n}×{a}"))
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "{} ({} = v{}, min/max/desired {}/{}/{}) {}: {}",
        g.name,
        g.version_spec,
        g.effective_version
            .map(|v| v.to_string())
            .unwrap_or_default(),
        g.min_size,
        g.max_size,
        g.desired_capacity,
        if amis.is_empty() {
            "-".to_string()
        } else {
            amis
        },
        g.state
    )
}

fn target_header(out: &mut String, p: &TargetPlan) {
    out.push_str(&format!(
        "target {} [{}]: {}\n",
        p.target,
        p.status.as_str(),
        p.summary
    ));
    if let Some(a) = &p.target_ami {
        out.push_str(&format!(
            "  AMI      {} ({}) from {} v{}\n",
            a.image_id,
            a.name.clone().unwrap_or_else(|| "unnamed".to_string()),
            a.parameter,
            a.parameter_version
        ));
    }
    if let Some(t) = &p.template_id {
        out.push_str(&format!("  template {t}, strategy {}\n", p.strategy));
    }
    for g in &p.groups {
        out.push_str(&format!("  group    {}\n", group_line(g)));
    }
    for e in &p.errors {
        out.push_str(&format!("  error    {e}\n"));
    }
    for f in &p.findings {
        let tag = match f.level {
            Level::Info => "note",
            Level::Warning => "warning",
        };
        out.push_str(&format!("  {tag:<8} {}\n", f.message));
    }
}

/// `check`: per target, its state, without the actions.
pub fn check_text(plan: &Plan) -> String {
    let mut out = String::new();
    for p in &plan.targets {
        target_header(&mut out, p);
        if !p.actions.is_empty() {
            out.push_str(&format!(
                "  {} change(s) pending; `amiroll plan` lists them\n",
                p.actions.len()
            ));
        }
        out.push('\n');
    }
    out
}

/// The plan: per target, its state and the actions with their reasons.
pub fn plan_text(plan: &Plan) -> String {
    let mut out = String::new();
    for p in &plan.targets {
        target_header(&mut out, p);
        if p.actions.is_empty() {
            out.push_str("  (no changes)\n");
        }
        for (i, a) in p.actions.iter().enumerate() {
            out.push_str(&format!(
                "  {:>2}. {}\n      because {}\n",
                i + 1,
                a.action.describe(),
                a.reason
            ));
        }
        out.push('\n');
    }
    out
}

/// The outcome of an apply.
pub fn report_text(report: &ApplyReport) -> String {
    let mut out = String::new();
    if report.dry_run {
        out.push_str("dry run: nothing was changed\n\n");
    }
    for t in &report.targets {
        target_header(&mut out, &t.plan);
        if !report.dry_run
            && t.results
                .iter()
                .any(|r| r.result == crate::model::StepResult::Done)
        {
            out.push_str("  (state above is as observed before these changes)\n");
        }
        if t.results.is_empty() {
            out.push_str("  (no changes)\n");
        }
        for r in &t.results {
            out.push_str(&format!(
                "  [{}] {}{}\n",
                r.result,
                r.action,
                r.detail
                    .as_ref()
                    .map(|d| format!(" — {d}"))
                    .unwrap_or_default()
            ));
        }
        if let Some(e) = &t.apply_error {
            out.push_str(&format!("  APPLY FAILED: {e}\n"));
        }
        if let Some(n) = &t.notification {
            out.push_str(&format!("  notification: {n}\n"));
        }
        out.push('\n');
    }
    out
}

/// `status`: per target and group, the AMI in use vs the target, instances per AMI, the rollout
/// in flight and the last outcome.
pub fn status_text(plan: &Plan) -> String {
    let mut out = String::new();
    for p in &plan.targets {
        out.push_str(&format!(
            "{} [{}] target AMI {}\n",
            p.target,
            p.status.as_str(),
            p.target_ami
                .as_ref()
                .map(|a| a.image_id.clone())
                .unwrap_or_else(|| "-".to_string())
        ));
        out.push_str(&format!("  {}\n", p.summary));
        for g in &p.groups {
            let amis = g
                .instances_by_ami
                .iter()
                .map(|(a, n)| format!("{n}×{a}"))
                .collect::<Vec<_>>()
                .join(" ");
            out.push_str(&format!(
                "  {:<24} {} = v{}  {}\n",
                g.name,
                g.version_spec,
                g.effective_version
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
                if amis.is_empty() {
                    "-".to_string()
                } else {
                    amis
                }
            ));
            if let Some(r) = &g.rollout {
                out.push_str(&format!(
                    "  {:<24} in flight: {}{} — {}\n",
                    "",
                    r.strategy,
                    r.percent.map(|x| format!(" {x}%")).unwrap_or_default(),
                    r.detail
                ));
            }
            if let Some(o) = &g.last_outcome {
                out.push_str(&format!("  {:<24} last outcome: {o}\n", ""));
            }
        }
        for e in &p.errors {
            out.push_str(&format!("  error: {e}\n"));
        }
        out.push('\n');
    }
    out
}
