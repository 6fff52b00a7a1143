//! Property tests of the planner's safety rules over generated fleets.

mod common;

use std::collections::BTreeSet;

use amiroll_core::model::{Action, Refusal, TargetStatus};
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
            prop_assert!(matches!(p.errors[0], Refusal::NoSurgeRoom { .. }), "{:?}", p.errors);
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

    pub(super) fn time() -> impl Strategy<Value = amiroll_core::port::Timestamp> {
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
            (time(), capacity(), any::<bool>()).prop_map(|(since, capacity, keep_new)| {
                Phase::Draining {
                    since,
                    capacity,
                    keep_new,
                }
            }),
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

mod records_state {
    use amiroll_core::model::Event;
    use amiroll_core::planner::tags;
    use amiroll_core::state::{
        Announced, Cancel, Failure, Pin, Recovery, Refresh, RollbackVersion, StateError, Success,
        Tags, Unannounced,
    };
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::round_state::time;

    /// Free text as the product writes it: an AMI id, or what a template named.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "ami-[0-9a-f]{17}",
            "resolve:ssm:/[a-z/]{1,20}",
            "[ -~]{0,60}",
        ]
    }

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            Just(Event::RolloutStarted),
            Just(Event::RolloutSucceeded),
            Just(Event::RolloutFailed),
            Just(Event::RolledBack),
            Just(Event::Cancelled),
            Just(Event::RollbackStarted),
            Just(Event::Error),
            Just(Event::Current),
        ]
    }

    fn rollback_version() -> impl Strategy<Value = RollbackVersion> {
        ("lt-[0-9a-f]{17}", any::<u64>()).prop_map(|(template_id, version)| RollbackVersion {
            template_id,
            version,
        })
    }

    fn refresh() -> impl Strategy<Value = Refresh> {
        (
            proptest::option::of(text()),
            proptest::option::of("[0-9a-f-]{36}"),
        )
            .prop_filter("a record has a tag", |(a, i)| a.is_some() || i.is_some())
            .prop_map(|(ami, id)| Refresh { ami, id })
    }

    fn failure() -> impl Strategy<Value = Failure> {
        (proptest::option::of(text()), proptest::option::of(text()))
            .prop_filter("a record has a tag", |(a, r)| a.is_some() || r.is_some())
            .prop_map(|(ami, reason)| Failure { ami, reason })
    }

    fn announced() -> impl Strategy<Value = Announced> {
        (
            "[0-9a-f-]{36}",
            "Successful|Failed|Cancelled|RollbackSuccessful|RollbackFailed",
        )
            .prop_map(|(refresh, status)| Announced { refresh, status })
    }

    /// Every tag a record writes is an `amiroll:*` tag whose value fits AWS's 256 characters.
    fn well_formed(t: &Tags) -> bool {
        !t.is_empty()
            && t.keys().all(|k| k.starts_with("amiroll:"))
            && t.values().all(|v| v.len() <= 256)
    }

    /// The error for `tag` with the value `value` is the one `e` is, and its text names the tag.
    fn names(e: StateError, tag: &str, value: &str) -> Result<(), TestCaseError> {
        prop_assert_eq!(e.tag, tag);
        prop_assert_eq!(e.value.as_deref(), Some(value));
        prop_assert!(e.to_string().contains(tag));
        Ok(())
    }

    proptest! {
        /// What a run writes, the next run reads back the same: every record round-trips.
        #[test]
        fn every_record_round_trips_through_its_tags(
            rv in rollback_version(),
            refresh in refresh(),
            pin in text(),
            failure in failure(),
            (ami, at) in (text(), time()),
            announced in announced(),
            event in event(),
            from in "ami-[0-9a-f]{8}|ami-[0-9a-f]{17}",
            cancel in ("[0-9a-f-]{36}", proptest::option::of(text())),
        ) {
            let t = rv.to_tags();
            prop_assert!(well_formed(&t));
            prop_assert_eq!(RollbackVersion::from_tags(&t), Ok(Some(rv.clone())));
            prop_assert_eq!(RollbackVersion::of_template(&t, &rv.template_id), Some(rv.version));

            let t = refresh.to_tags();
            prop_assert!(well_formed(&t));
            prop_assert_eq!(Refresh::from_tags(&t), Some(refresh));

            let pin = Pin { from: pin };
            let t = pin.to_tags();
            prop_assert!(well_formed(&t));
            prop_assert_eq!(Pin::from_tags(&t), Some(pin));

            let t = failure.to_tags();
            prop_assert!(well_formed(&t));
            prop_assert_eq!(Failure::from_tags(&t), Some(failure));

            let success = Success { ami, at };
            let t = success.to_tags();
            prop_assert!(well_formed(&t));
            prop_assert_eq!(Success::from_tags(&t), Ok(Some(success)));

            let t = announced.to_tags();
            prop_assert!(well_formed(&t));
            prop_assert_eq!(Announced::from_tags(&t), Ok(Some(announced)));

            let t = Unannounced(event).to_tags();
            prop_assert!(well_formed(&t));
            prop_assert_eq!(Unannounced::from_tags(&t), Ok(Some(Unannounced(event))));

            let recovery = Recovery { from };
            let t = recovery.to_tags();
            prop_assert!(well_formed(&t));
            prop_assert_eq!(Recovery::from_tags(&t), Ok(Some(recovery)));

            let cancel = Cancel { refresh: cancel.0, ami: cancel.1 };
            let t = cancel.to_tags();
            prop_assert!(well_formed(&t));
            prop_assert!(t.keys().all(|k| Cancel::keys().contains(k)));
            prop_assert_eq!(Cancel::from_tags(&t), Some(cancel));
        }

        /// A malformed value of a tag with a format is an error that names that tag.
        #[test]
        fn a_malformed_record_tag_is_named(junk in "[a-z =,]{0,12}", (ami, at) in (text(), time())) {
            let bad = format!("x{junk}");
            let with = |tag: &str| Tags::from([(tag.to_string(), bad.clone())]);

            let e = RollbackVersion::from_tags(&with(tags::ROLLBACK_VERSION)).expect_err("malformed");
            names(e, tags::ROLLBACK_VERSION, &bad)?;
            let e = Announced::from_tags(&with(tags::ANNOUNCED)).expect_err("malformed");
            names(e, tags::ANNOUNCED, &bad)?;
            let e = Unannounced::from_tags(&with(tags::UNANNOUNCED)).expect_err("malformed");
            names(e, tags::UNANNOUNCED, &bad)?;
            let e = Recovery::from_tags(&with(tags::RECOVERING_FROM)).expect_err("malformed");
            names(e, tags::RECOVERING_FROM, &bad)?;

            let mut t = Success { ami, at }.to_tags();
            t.insert(tags::SUCCEEDED_AT.to_string(), bad.clone());
            let e = Success::from_tags(&t).expect_err("malformed");
            names(e, tags::SUCCEEDED_AT, &bad)?;
            t.remove(tags::SUCCEEDED_AT);
            let e = Success::from_tags(&t).expect_err("missing");
            prop_assert_eq!(e.tag, tags::SUCCEEDED_AT);
            prop_assert_eq!(e.value, None);
        }
    }

    #[test]
    fn no_tag_is_no_record() {
        let t = Tags::from([(tags::SKIP.to_string(), String::new())]);
        assert_eq!(RollbackVersion::from_tags(&t), Ok(None));
        assert_eq!(Refresh::from_tags(&t), None);
        assert_eq!(Pin::from_tags(&t), None);
        assert_eq!(Failure::from_tags(&t), None);
        assert_eq!(Success::from_tags(&t), Ok(None));
        assert_eq!(Announced::from_tags(&t), Ok(None));
        assert_eq!(Unannounced::from_tags(&t), Ok(None));
        assert_eq!(Recovery::from_tags(&t), Ok(None));
        assert_eq!(Cancel::from_tags(&t), None);
    }

    #[test]
    fn a_rollback_version_of_another_template_is_none() {
        let t = RollbackVersion {
            template_id: "lt-0123456789abcdef0".to_string(),
            version: 7,
        }
        .to_tags();
        assert_eq!(
            RollbackVersion::of_template(&t, "lt-0123456789abcdef0"),
            Some(7)
        );
        assert_eq!(
            RollbackVersion::of_template(&t, "lt-1123456789abcdef0"),
            None
        );
    }

    /// Exactly the tags that record an outcome make an action one that runs after the
    /// notification.
    #[test]
    fn outcome_records_are_the_states_to_say() {
        use amiroll_core::model::Action;
        let tag = |t: Tags| Action::TagGroup {
            group: "g".to_string(),
            tags: t,
        };
        let untag = |k: &str| Action::UntagGroup {
            group: "g".to_string(),
            keys: vec![k.to_string()],
        };
        let at = chrono::Utc
            .timestamp_opt(1_700_000_000, 0)
            .single()
            .expect("time");
        assert!(tag(Failure::of("ami-12345678", "r".to_string()).to_tags()).records_outcome());
        assert!(!tag(Failure {
            ami: None,
            reason: Some("r".to_string())
        }
        .to_tags())
        .records_outcome());
        assert!(tag(Success {
            ami: "ami-12345678".to_string(),
            at
        }
        .to_tags())
        .records_outcome());
        assert!(tag(Unannounced(Event::RolloutFailed).to_tags()).records_outcome());
        assert!(tag(Announced {
            refresh: "i".to_string(),
            status: "Failed".to_string()
        }
        .to_tags())
        .records_outcome());
        assert!(!tag(Refresh::to_ami("ami-12345678").to_tags()).records_outcome());
        assert!(untag(tags::ROLLOUT).records_outcome());
        assert!(untag(tags::UNANNOUNCED).records_outcome());
        assert!(!untag(tags::FAILED_AMI).records_outcome());
    }
}
