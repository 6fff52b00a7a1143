//! `amiroll rollback` of an instance refresh Auto Scaling cannot undo (issue 11, item 3): the
//! group's saved configuration is `$Default`, so `RollbackInstanceRefresh` would answer
//! `IrreversibleInstanceRefresh`. amiroll says so, changes nothing, and after the operator
//! cancels the refresh, rolls back with a refresh onto the rollback version.

mod common;

use std::time::Duration;

use amiroll_core::port::op;
use amiroll_core::Refusal;
use common::*;

#[test]
fn a_refresh_returning_to_default_is_refused_clearly_then_rolled_back_after_a_cancel() {
    let w = World::new();
    let w = World {
        // auto_rollback = false: amiroll does not pin the group before the refresh, so the
        // configuration saved by the refresh is `$Default`.
        toml: w.toml.replace(
            "strategy = \"scheduled-surge\"\n",
            "auto_rollback = false\n",
        ),
        ..w
    };
    w.publish(NEW);
    w.apply_ok();
    assert_eq!(w.sim.instance_refreshes("web").len(), 1);
    // Until the refresh has replaced one instance (of two), and still runs.
    for _ in 0..120 {
        if w.sim.instances_by_ami("web").contains_key(NEW) {
            break;
        }
        w.sim.advance(Duration::from_secs(10));
    }
    assert!(w.sim.instances_by_ami("web").contains_key(NEW));
    assert!(w.sim.instances_by_ami("web").contains_key(OLD));
    assert_eq!(w.sim.instance_refreshes("web")[0].status, "InProgress");

    let report = w.rollback();
    let t = &report.targets[0];
    assert!(
        matches!(&t.plan.errors[..], [Refusal::IrreversibleRefresh { group, why, .. }]
            if group == "web" && why.contains("$Default")),
        "{:?}",
        t.plan.errors
    );
    let sentence = t.plan.errors[0].to_string();
    assert!(sentence.contains("cancel-instance-refresh"), "{sentence}");
    assert_eq!(w.sim.call_count(op::ROLLBACK_INSTANCE_REFRESH), 0);

    // The operator cancels it; amiroll rollback now replaces the instances with a refresh onto
    // the version the fleet ran before.
    w.sim.cancel_instance_refresh("web").expect("cancel");
    let report = w.rollback();
    assert!(
        report.targets[0].plan.errors.is_empty(),
        "{:?}",
        report.targets[0].plan
    );
    assert_eq!(w.sim.instance_refreshes("web").len(), 2);
    let last = w.converge();
    assert!(last.targets[0].succeeded(), "{:?}", last.targets[0]);
    assert_eq!(
        w.sim.instances_by_ami("web").keys().collect::<Vec<_>>(),
        vec![OLD]
    );
}
