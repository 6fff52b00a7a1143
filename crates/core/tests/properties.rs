//! Property tests of the planner's safety rules over generated fleets.

mod common;

use std::collections::BTreeSet;

use amiroll_core::model::{Action, TargetStatus};
use amiroll_core::planner::{self, surge_capacity, versions_to_prune, Capacity};
use common::*;
use proptest::prelude::*;

proptest! {
    #[test]
    fn prune_never_touches_protected_or_newest(
        existing in proptest::collection::btree_set(1u64..60, 1..40),
        keep in 1usize..6,
        planned_new in 0usize..2,
        protected_picks in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let existing: Vec<u64> = existing.into_iter().collect();
        let protected: BTreeSet<u64> = protected_picks.iter().map(|i| existing[i.index(existing.len())]).collect();
        let doomed = versions_to_prune(&existing, keep, planned_new, &protected);
        let mut newest = existing.clone();
        newest.sort_unstable_by(|a, b| b.cmp(a));
        let kept_newest: BTreeSet<u64> = newest.into_iter().take(keep.saturating_sub(planned_new)).collect();
        for d in &doomed {
            prop_assert!(!protected.contains(d), "deleted protected v{d}");
            prop_assert!(!kept_newest.contains(d), "deleted one of the newest, v{d}");
            prop_assert!(existing.contains(d));
        }
        // Everything neither protected nor among the newest goes.
        let expected = existing.iter().filter(|v| !protected.contains(v) && !kept_newest.contains(v)).count();
        prop_assert_eq!(doomed.len(), expected);
    }

    #[test]
    fn surge_never_passes_the_ceiling(
        min in 0i32..10, extra_max in 0i32..20, desired_off in 0i32..20,
        factor in 2u32..5, ceiling in proptest::option::of(1i32..60),
        left_surged in 0i32..5,
    ) {
        let max = min + extra_max;
        let desired = (min + desired_off).min(max);
        let original = Capacity { min, max, desired };
        // A group left surged by a failed round runs more than its original desired capacity.
        let current = desired + left_surged;
        match surge_capacity(original, current, factor, ceiling) {
            Some((d, m)) => {
                prop_assert!(d > current, "no new instance");
                prop_assert!(d <= current + desired * (factor as i32 - 1));
                if left_surged == 0 && ceiling.is_none() { prop_assert_eq!(d, desired * factor as i32); }
                if let Some(c) = ceiling { prop_assert!(d <= c); prop_assert!(m <= max.max(c)); }
                prop_assert!(m >= d && m >= max);
            }
            None => {
                prop_assert!(desired == 0 || ceiling.is_some_and(|c| c <= current));
            }
        }
    }

    /// Over random templates (versions, default, which versions instances run) the plan never
    /// deletes the default, the rollback version or a version in use, creates at most one
    /// version, and never surges past the ceiling.
    #[test]
    fn plans_keep_every_safety_rule(
        n_versions in 1u64..12,
        default_pick in any::<prop::sample::Index>(),
        instance_picks in proptest::collection::vec(any::<prop::sample::Index>(), 1..5),
        own in any::<bool>(),
        prune_all in any::<bool>(),
        keep in 1u32..4,
        ceiling in proptest::option::of(1i32..10),
        desired in 1i32..5,
        new_ami in any::<bool>(),
    ) {
        let mut f = Fleet::healthy().with_setting(&format!("keep_versions = {keep}"));
        if prune_all { f = f.with_setting("prune = \"all\""); }
        if let Some(c) = ceiling { f = f.with_setting(&format!("surge_max_capacity = {c}")); }
        let versions: Vec<u64> = (1..=n_versions).collect();
        let default = versions[default_pick.index(versions.len())];
        let desc = if own { Some(format!("amiroll: {AMI_OLD} (x) from v1 via p:1")) } else { None };
        {
            let tmpl = f.template_mut();
            tmpl.versions = versions.iter().map(|n| version(*n, AMI_OLD, desc.as_deref())).collect();
            tmpl.template.default_version = default;
            tmpl.template.latest_version = n_versions;
        }
        f.obs.groups.clear();
        f.obs.instances.clear();
        f.add_group("web-asg", None, (1, 10, desired), AMI_OLD, default);
        let in_use: Vec<u64> = instance_picks.iter().map(|i| versions[i.index(versions.len())]).collect();
        for (inst, v) in f.obs.instances.values_mut().zip(in_use.iter().cycle()) {
            inst.launch_template_version = Some(*v);
        }
        let used: BTreeSet<u64> = f.obs.instances.values().filter_map(|i| i.launch_template_version).collect();
        if !new_ami { f.set_param(AMI_OLD); }
        let p = f.plan();
        if p.status == TargetStatus::Error {
            // The only refusal possible here: a ceiling with no room above the desired capacity.
            prop_assert!(new_ami && ceiling.is_some_and(|c| c <= desired), "{:?}", p.errors);
            prop_assert!(p.errors[0].contains("surge_max_capacity"));
            prop_assert!(p.actions.is_empty());
            return Ok(());
        }
        let creates = p.actions.iter().filter(|a| matches!(a.action, Action::CreateVersion { .. })).count();
        prop_assert!(creates <= 1);
        for a in &p.actions {
            match &a.action {
                Action::DeleteVersions { versions: doomed, .. } => {
                    prop_assert!(doomed.len() <= planner::MAX_DELETE_PER_CALL);
                    for d in doomed {
                        prop_assert!(*d != default, "deleted the default v{d}");
                        prop_assert!(!used.contains(d), "deleted v{d}, which instances run");
                    }
                    if !prune_all { prop_assert!(own); }
                }
                Action::PutScheduledAction { action } => {
                    if let (Some(c), Some(d)) = (ceiling, action.desired_capacity) {
                        prop_assert!(d <= c.max(desired), "surged to {d} past ceiling {c}");
                    }
                    if let (Some(mx), Some(d)) = (action.max_size, action.desired_capacity) {
                        prop_assert!(d <= mx);
                    }
                }
                _ => {}
            }
        }
    }
}

mod round_state {
    use amiroll_core::planner::{tags, Capacity};
    use amiroll_core::state::{Phase, SurgeRound};
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn time() -> impl Strategy<Value = amiroll_core::port::Timestamp> {
        (1_600_000_000i64..2_000_000_000).prop_map(|s| {
            chrono::Utc
                .timestamp_opt(s, 0)
                .single()
                .expect("a valid time")
        })
    }

    fn capacity() -> impl Strategy<Value = Capacity> {
        (0i32..50, 0i32..50, 0i32..50).prop_map(|(a, b, c)| Capacity {
            min: a,
            max: a + b + c,
            desired: a + b,
        })
    }

    fn phase() -> impl Strategy<Value = Phase> {
        prop_oneof![
            Just(Phase::Surge),
            (time(), capacity(), any::<bool>()).prop_map(|(since, capacity, keep_new)| {
                Phase::Settled {
                    since,
                    capacity,
                    keep_new,
                }
            }),
            (time(), capacity()).prop_map(|(since, capacity)| Phase::Restore { since, capacity }),
        ]
    }

    fn round() -> impl Strategy<Value = SurgeRound> {
        (
            "r[0-9a-f]{10}",
            "ami-[0-9a-f]{17}",
            capacity(),
            (1i32..100, 1i32..100),
            time(),
            time(),
            1u32..10,
            phase(),
            proptest::option::of(capacity()),
            proptest::option::of("ami-[0-9a-f]{8}"),
        )
            .prop_map(
                |(id, ami, original, surge, surge_at, settle_at, attempt, phase, sc, rf)| {
                    SurgeRound {
                        id,
                        ami,
                        original,
                        surge,
                        surge_at,
                        settle_at,
                        attempt,
                        phase,
                        settle_capacity: sc,
                        recovering_from: rf,
                    }
                },
            )
    }

    proptest! {
        /// Every round survives its tags: what a run writes, the next run reads back the same.
        #[test]
        fn every_round_round_trips_through_its_tags(r in round()) {
            let t = r.to_tags();
            prop_assert!(t.keys().all(|k| k.starts_with("amiroll:")));
            prop_assert!(t.values().all(|v| v.len() <= 256), "AWS tag values are at most 256 characters");
            prop_assert_eq!(SurgeRound::from_tags(&t), Ok(Some(r)));
        }

        /// A malformed or missing round tag is an error that names that tag.
        #[test]
        fn a_malformed_round_tag_is_named(r in round(), which in 0usize..8, junk in "[a-z =,]{0,12}") {
            let mut t = r.to_tags();
            let keys = [
                tags::ROLLOUT_AMI,
                tags::ORIGINAL,
                tags::SURGE,
                tags::SURGE_AT,
                tags::SETTLE_AT,
                tags::ATTEMPT,
                tags::PHASE,
                tags::SETTLE_CAPACITY,
            ];
            let key = keys[which];
            let required = which < 6;
            let value = if required && junk.is_empty() { None } else { Some(format!("x{junk}")) };
            match &value {
                Some(v) => { t.insert(key.to_string(), v.clone()); }
                None => { t.remove(key); }
            }
            let e = SurgeRound::from_tags(&t).expect_err("malformed");
            prop_assert_eq!(e.tag, key);
            prop_assert_eq!(&e.value, &value);
            prop_assert!(e.to_string().contains(key));
        }
    }

    #[test]
    fn no_round_tag_is_no_round() {
        let t = std::collections::BTreeMap::from([(
            tags::ORIGINAL.to_string(),
            "min=1,max=2,desired=1".to_string(),
        )]);
        assert_eq!(SurgeRound::from_tags(&t), Ok(None));
    }
}
