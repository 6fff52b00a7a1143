//! The records the account keeps for instance refreshes and ECS capacity providers. `account`
//! holds them; `refresh` and `ecs` move them along. Here, apart from both, so that neither of
//! those imports from a module that imports from it.

use amiroll_core::port::{
    DesiredTemplate, MixedInstancesPolicy, RefreshPreferences, TemplateSpec, Timestamp,
};

#[derive(Debug, Clone)]
pub(crate) struct CapacityProviderState {
    pub name: String,
    pub group: String,
    pub managed_scaling: bool,
    pub managed_termination_protection: bool,
    pub managed_draining: bool,
    /// The desired capacity managed scaling keeps (the group's when the provider was created).
    pub target_desired: i32,
}

/// `InstanceRefresh.Status` ("DescribeInstanceRefreshes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Pending,
    InProgress,
    Baking,
    Successful,
    Failed,
    RollbackInProgress,
    RollbackFailed,
    RollbackSuccessful,
    /// `CancelInstanceRefresh` was called: replacements under way finish, no new one starts.
    Cancelling,
    /// The cancellation is complete ("Cancel an instance refresh").
    Cancelled,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "Pending",
            Status::InProgress => "InProgress",
            Status::Baking => "Baking",
            Status::Successful => "Successful",
            Status::Failed => "Failed",
            Status::RollbackInProgress => "RollbackInProgress",
            Status::RollbackFailed => "RollbackFailed",
            Status::RollbackSuccessful => "RollbackSuccessful",
            Status::Cancelling => "Cancelling",
            Status::Cancelled => "Cancelled",
        }
    }

    /// The statuses in which a refresh blocks another one (`InstanceRefreshInProgress`).
    pub(crate) fn is_active(self) -> bool {
        matches!(
            self,
            Status::Pending
                | Status::InProgress
                | Status::Baking
                | Status::RollbackInProgress
                | Status::Cancelling
        )
    }
}

/// One replacement under way.
#[derive(Debug, Clone)]
pub(crate) struct Replacement {
    /// The instance launched.
    pub new_id: String,
    /// Launch before terminate: the instance to terminate once `new_id` is healthy and warmed
    /// up. `None`: it was terminated before the launch.
    pub old_id: Option<String>,
    /// The old instance this replacement began terminating, while a terminating lifecycle
    /// hook may still hold it in `Terminating:Wait` (`hooks.rs`).
    pub old_terminating: Option<String>,
    /// `new_id` is healthy and warmed up; the replacement only waits for `old_terminating` to
    /// have terminated before it counts as done.
    pub finishing: bool,
}

impl Replacement {
    /// A replacement whose new instance is still being judged (pending, warming up): not yet
    /// part of the healthy capacity the refresh counts.
    pub(crate) fn warming(&self) -> bool {
        !self.finishing
    }
}

#[derive(Debug, Clone)]
pub(crate) struct RollbackState {
    pub reason: String,
    /// Instances to replace back, counted when the rollback started.
    pub total: usize,
    /// `PercentageComplete` when the rollback started; it goes back toward 0.
    pub start_percentage: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct RefreshState {
    pub id: String,
    pub group: String,
    pub status: Status,
    pub status_reason: Option<String>,
    pub start_time: Timestamp,
    pub end_time: Option<Timestamp>,
    pub desired: Option<DesiredTemplate>,
    /// `DesiredConfiguration.MixedInstancesPolicy` (its launch template is `desired`): the
    /// policy the group takes at `Successful`.
    pub desired_mixed: Option<MixedInstancesPolicy>,
    pub prefs: RefreshPreferences,
    /// The group's launch template before the refresh (the configuration a rollback returns to).
    pub saved: Option<TemplateSpec>,
    pub warmup_secs: i64,
    /// Instances the forward refresh had to update.
    pub total: usize,
    /// Instances still to replace (old ones; during a rollback, the refresh's new ones).
    pub pending: Vec<String>,
    pub in_flight: Vec<Replacement>,
    /// Replacements completed in the current direction.
    pub replaced: usize,
    /// Every instance the forward refresh launched.
    pub launched: Vec<String>,
    /// Index of the next checkpoint in `prefs.checkpoint_percentages`.
    pub next_checkpoint: usize,
    pub paused_until: Option<Timestamp>,
    pub bake_until: Option<Timestamp>,
    /// Since when the refresh's new instances keep failing their health checks (reset by a
    /// healthy one); an hour of it fails the refresh.
    pub unhealthy_since: Option<Timestamp>,
    /// Since when the refresh waits for protected instances (`ScaleInProtectedInstances=Wait`).
    pub wait_since: Option<Timestamp>,
    /// When the refresh next needs processing (strictly in the future, or `None`).
    pub wake_at: Option<Timestamp>,
    pub rollback: Option<RollbackState>,
}

impl RefreshState {
    pub(crate) fn percentage(&self) -> usize {
        match &self.rollback {
            None if self.total == 0 => 100,
            None => (self.replaced * 100 / self.total).min(100),
            Some(rb) if self.status == Status::RollbackSuccessful || rb.total == 0 => 0,
            Some(rb) => rb.start_percentage * rb.total.saturating_sub(self.replaced) / rb.total,
        }
    }

    /// Everything whose change may let the next step do more.
    pub(crate) fn progress_key(&self) -> (Status, bool, usize, usize, usize, bool, bool) {
        (
            self.status,
            self.rollback.is_some(),
            self.pending.len(),
            self.in_flight.len(),
            self.replaced,
            self.paused_until.is_some(),
            self.wait_since.is_some(),
        )
    }

    pub(crate) fn protection_policy(&self) -> &str {
        self.prefs
            .scale_in_protected_instances
            .as_deref()
            .unwrap_or("Wait")
    }

    /// The spec replacements launch from: the desired configuration going forward, the group's
    /// own during a rollback (or when there is no desired configuration).
    pub(crate) fn launch_spec(&self) -> Option<TemplateSpec> {
        if self.rollback.is_some() {
            return None;
        }
        self.desired.as_ref().map(desired_spec)
    }
}

pub(crate) fn desired_spec(d: &DesiredTemplate) -> TemplateSpec {
    TemplateSpec {
        template_id: Some(d.template_id.clone()),
        template_name: None,
        version: Some(d.version.to_string()),
    }
}
