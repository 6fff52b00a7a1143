//! AMI provenance in the simulated account: whoever can write the AMI parameter decides what
//! every instance boots, so amiroll rolls only images of owners the target trusts
//! (`ami_owners`, by default `self` and `amazon` for the account's own parameter) and never one
//! the account's Allowed AMIs criteria reject. A refused image is an error that names it, with
//! no change in AWS and an `error` notification.

mod common;

use amiroll_core::model::TargetStatus;
use amiroll_core::Refusal;
use amiroll_sim::{AllowedAmis, ImageSpec, ACCOUNT_ID};
use chrono::TimeZone;
use common::{World, NEW, OLD, PARAM};

const FOREIGN: &str = "ami-0000000000000f0f1";
const OWN: &str = "ami-0000000000000f0f2";
const VENDOR: &str = "444455556666";

fn world() -> World {
    let w = World::new();
    let created = chrono::Utc
        .with_ymd_and_hms(2026, 11, 25, 0, 0, 0)
        .single()
        .expect("date");
    w.sim.register_image(
        ImageSpec::new(FOREIGN, "ecs-lookalike-2026.11.25", "x86_64", created)
            .owned_by(None, Some(VENDOR)),
    );
    w.sim.register_image(
        ImageSpec::new(OWN, "golden-ecs-2026.11.25", "x86_64", created)
            .owned_by(None, Some(ACCOUNT_ID))
            .with_public(false),
    );
    w
}

/// One apply is refused: the target is in error with `refusal`, nothing was written, and the
/// error was announced.
fn assert_refused(w: &World, what: &str) -> Refusal {
    let report = w.apply_ok();
    let t = &report.targets[0];
    assert_eq!(t.plan.status, TargetStatus::Error, "{what}: {:#?}", t.plan);
    assert_eq!(report.exit_code(), 1, "{what}");
    assert!(w.writes().is_empty(), "{what}: wrote {:?}", w.writes());
    assert_eq!(w.versions(), vec![1], "{what}");
    assert_eq!(w.events_of("error"), 1, "{what}: {:?}", w.subjects());
    t.plan.errors[0].clone()
}

#[test]
fn a_public_image_of_another_account_behind_the_own_parameter_is_refused() {
    let w = world();
    w.publish(FOREIGN);
    let e = assert_refused(&w, "a foreign public image");
    assert!(
        matches!(&e, Refusal::AmiOwnerNotAllowed { ami, owner, own_account: Some(id), .. }
            if ami == FOREIGN && owner == "444455556666 (public)" && id == ACCOUNT_ID),
        "{e:?}"
    );
    let text = e.to_string();
    for needle in [FOREIGN, PARAM, VENDOR, "ami_owners"] {
        assert!(text.contains(needle), "`{needle}` in {text}");
    }
    // The fleet is untouched and still on the old AMI.
    assert_eq!(w.sim.instances_by_ami("web").get(OLD), Some(&2));
}

#[test]
fn the_accounts_own_private_image_and_amazons_roll_by_default() {
    let w = world();
    w.publish(OWN);
    let last = w.converge();
    assert_eq!(last.targets[0].plan.status, TargetStatus::Current);
    w.assert_converged("web", OWN, (1, 4, 2));

    let w = world();
    w.publish(NEW);
    w.converge();
    w.assert_converged("web", NEW, (1, 4, 2));
}

#[test]
fn a_vendor_listed_in_ami_owners_rolls_and_amazon_then_does_not() {
    let w = world().setting(&format!("ami_owners = [\"{VENDOR}\"]"));
    w.publish(FOREIGN);
    w.converge();
    w.assert_converged("web", FOREIGN, (1, 4, 2));

    let w = world().setting(&format!("ami_owners = [\"{VENDOR}\"]"));
    w.publish(NEW);
    let e = assert_refused(&w, "an Amazon image with only a vendor allowed");
    assert!(matches!(e, Refusal::AmiOwnerNotAllowed { .. }), "{e:?}");
}

#[test]
fn allowed_amis_in_audit_mode_rejecting_the_image_is_refused_until_the_criteria_allow_it() {
    let w = world();
    w.sim
        .set_allowed_amis(AllowedAmis::AuditMode(vec!["aws-marketplace".to_string()]));
    w.publish(NEW);
    let e = assert_refused(&w, "Allowed AMIs (audit mode) rejects Amazon's image");
    assert!(
        matches!(&e, Refusal::AmiNotAllowedByAccount { ami, .. } if ami == NEW),
        "{e:?}"
    );
    assert!(e.to_string().contains("Allowed AMIs"), "{e}");

    // The account's own images are never restricted by Allowed AMIs.
    w.publish(OWN);
    w.converge();
    w.assert_converged("web", OWN, (1, 4, 2));
}

#[test]
fn allowed_amis_enabled_hides_the_image_and_amiroll_says_it_is_not_visible() {
    let w = world();
    w.sim
        .set_allowed_amis(AllowedAmis::Enabled(vec![VENDOR.to_string()]));
    w.publish(NEW);
    let e = assert_refused(&w, "Allowed AMIs (enabled) hides Amazon's image");
    assert!(
        matches!(&e, Refusal::AmiMissing { ami, .. } if ami == NEW),
        "{e:?}"
    );
    // The simulator also refuses to launch an image outside the criteria: a scale-out of the
    // group, still on Amazon's old image, launches nothing.
    w.sim.set_desired_capacity("web", 3).expect("scale out");
    w.sim.advance(std::time::Duration::from_secs(600));
    assert_eq!(w.sim.instances_by_ami("web").get(OLD), Some(&2));
    assert!(
        w.sim
            .events()
            .iter()
            .any(|(_, e)| e.contains("Allowed AMIs")),
        "the failed launch is in the account's history"
    );
}
