//! Configuration: a TOML file with `[defaults]` and `[[target]]` tables, or the seed Lambda's four
//! environment variables.
//!
//! Parsing happens in two stages (raw → validated): serde reads the file strictly (unknown keys are
//! errors that name the key, line and column), then [`Config::validate`] checks values and applies
//! defaults, so the rest of the tool only sees a complete, valid [`Config`].

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

// The window is the gates' own type (they parse and evaluate it); kept reachable here as
// `config::MaintenanceWindow`, where a target's settings name it.
pub use crate::gates::MaintenanceWindow;

/// How a target's instances are replaced once its launch template points at the new AMI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// `StartInstanceRefresh` with the new version by number (so rollback stays available),
    /// launch before terminate, skip matching, auto rollback. The default for config files.
    InstanceRefresh,
    /// The seed's way, fixed: two uniquely named scheduled actions surge the group from its real
    /// desired capacity and later restore the original sizes, gated on the new instances' health.
    ScheduledSurge,
    /// Only the launch template moves; new launches pick it up.
    None,
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::InstanceRefresh => "instance-refresh",
            Strategy::ScheduledSurge => "scheduled-surge",
            Strategy::None => "none",
        }
    }
}

/// `ScaleInProtectedInstances` of an instance refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProtectedInstances {
    Refresh,
    Ignore,
    Wait,
}

/// `StandbyInstances` of an instance refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StandbyInstances {
    Terminate,
    Ignore,
    Wait,
}

impl ProtectedInstances {
    pub fn aws_name(self) -> &'static str {
        match self {
            ProtectedInstances::Refresh => "Refresh",
            ProtectedInstances::Ignore => "Ignore",
            ProtectedInstances::Wait => "Wait",
        }
    }
}

impl StandbyInstances {
    pub fn aws_name(self) -> &'static str {
        match self {
            StandbyInstances::Terminate => "Terminate",
            StandbyInstances::Ignore => "Ignore",
            StandbyInstances::Wait => "Wait",
        }
    }
}

/// Which old launch template versions may be deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Prune {
    /// Only versions amiroll created (their description starts with `amiroll:`).
    Own,
    /// Any version that is not protected (the seed's behaviour, done safely).
    All,
    /// Never delete versions.
    Off,
}

/// What to do with a group that pins a launch template version number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Pinned {
    /// Refuse with an error that explains how to opt in.
    Refuse,
    /// Re-pin the group to the new version number (`UpdateAutoScalingGroup`).
    Update,
}

/// How amiroll drains the container instances of an ECS group that Auto Scaling terminates
/// (`docs/ecs.md`, "Draining: the three modes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EcsDrain {
    /// `scheduled-surge` drains the old instances in its health gate; nothing else is drained.
    Gate,
    /// amiroll puts an `EC2_INSTANCE_TERMINATING` lifecycle hook ([`AMIROLL_HOOK`]) on every
    /// group; each run drains the instances it holds and lets them go once their tasks have
    /// moved (any strategy, any scale-in). `scheduled-surge` still drains in its gate too.
    LifecycleHook,
}

/// The lifecycle hook amiroll creates with `ecs_drain = "lifecycle-hook"`.
pub const AMIROLL_HOOK: &str = "amiroll-ecs-drain";

/// How the AMI parameter's value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AmiFormat {
    /// JSON if the parameter name ends in `/recommended`, a plain AMI id otherwise.
    Auto,
    /// The value is an AMI id (`…/recommended/image_id`).
    ImageId,
    /// The value is the JSON of a `…/recommended` parameter; `image_id` is taken from it.
    Json,
}

/// Declares the raw (all-optional) settings once, for both `[defaults]` and `[[target]]`.
/// The fields sit directly in each table (no `serde(flatten)`), so an unknown key is reported with
/// its own line and column.
macro_rules! raw_settings {
    ($($field:ident: $ty:ty),* $(,)?) => {
        /// Settings a target may set and `[defaults]` may give for every target. All optional
        /// here; [`TargetSettings`] holds the resolved values.
        #[derive(Debug, Clone, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct RawSettings {
            $(pub $field: Option<$ty>,)*
        }

        /// One `[[target]]` table.
        #[derive(Debug, Clone, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct RawTarget {
            pub name: String,
            /// A launch template id (`lt-…`) or name.
            pub launch_template: String,
            /// The SSM parameter holding the AMI.
            pub ami_parameter: String,
            #[serde(default)]
            pub groups: Vec<String>,
            $(pub $field: Option<$ty>,)*
        }

        /// `[discover]`: groups tagged with `tag` become targets, with these settings.
        #[derive(Debug, Clone, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct RawDiscover {
            /// The tag key whose value is the AMI parameter (default `amiroll:ami-parameter`).
            pub tag: Option<String>,
            $(pub $field: Option<$ty>,)*
        }

        impl RawDiscover {
            /// The discovery rule's settings.
            pub fn settings(&self) -> RawSettings {
                RawSettings { $($field: self.$field.clone(),)* }
            }
        }

        impl RawTarget {
            /// A target with no settings of its own.
            pub fn new(name: String, launch_template: String, ami_parameter: String, groups: Vec<String>) -> Self {
                RawTarget { name, launch_template, ami_parameter, groups, $($field: None,)* }
            }

            /// The target's own settings.
            pub fn settings(&self) -> RawSettings {
                RawSettings { $($field: self.$field.clone(),)* }
            }
        }
    };
}

raw_settings! {
    strategy: Strategy,
    keep_versions: u32,
    prune: Prune,
    sns_topic: String,
    notify_when_current: bool,
    allow_deprecated: bool,
    allow_downgrade: bool,
    ami_owners: Vec<String>,
    pinned: Pinned,
    set_termination_policy: bool,
    ami_format: AmiFormat,
    surge_factor: u32,
    surge_minutes: u32,
    surge_max_capacity: i32,
    max_attempts: u32,
    min_healthy_percentage: i32,
    max_healthy_percentage: i32,
    instance_warmup: String,
    skip_matching: bool,
    auto_rollback: bool,
    checkpoint_percentages: Vec<i32>,
    checkpoint_delay: String,
    alarms: Vec<String>,
    bake_time: String,
    scale_in_protected_instances: ProtectedInstances,
    standby_instances: StandbyInstances,
    min_ami_age: String,
    maintenance_window: String,
    maintenance_window_duration: String,
    time_zone: String,
    after: String,
    after_soak: String,
    ecs_cluster: String,
    ecs: bool,
    ecs_drain: EcsDrain,
    ecs_lifecycle_hook: String,
    drain_timeout: String,
    ecs_require_tasks: bool,
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Regions to run in (default: the one the credentials chain or `--region` gives).
    #[serde(default)]
    pub regions: Vec<String>,
    /// How many account × region places are observed and planned at once, and how many targets
    /// of one place `apply` changes at once (default 4).
    pub concurrency: Option<u32>,
    /// SDK attempts per call (default: the SDK's, 3).
    pub aws_max_attempts: Option<u32>,
    /// SDK retry mode: `standard` (default) or `adaptive`.
    pub aws_retry_mode: Option<RetryMode>,
    #[serde(default)]
    pub defaults: RawSettings,
    #[serde(default, rename = "account")]
    pub accounts: Vec<RawAccount>,
    pub discover: Option<RawDiscover>,
    #[serde(default, rename = "target")]
    pub targets: Vec<RawTarget>,
}

/// `[[account]]`: another account, reached by assuming a role (session name `amiroll`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAccount {
    pub id: String,
    pub role_arn: String,
    pub external_id: Option<String>,
}

/// The SDK's retry mode ("Retry behavior", AWS SDKs and Tools Reference Guide).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RetryMode {
    Standard,
    /// Standard plus client-side rate limiting when throttled.
    Adaptive,
}

/// Where the targets are looked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Scope {
    /// Empty: the default region only.
    pub regions: Vec<String>,
    /// Empty: the caller's own account only.
    pub accounts: Vec<RawAccount>,
    pub concurrency: usize,
    pub aws_max_attempts: Option<u32>,
    pub aws_retry_mode: RetryMode,
}

/// A discovery rule, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Discover {
    pub tag: String,
    pub settings: TargetSettings,
}

/// The default discovery tag key.
pub const DISCOVERY_TAG: &str = crate::state::tags::AMI_PARAMETER;

/// The owner aliases `ami_owners` takes besides account ids, as `DescribeImages --owners` does
/// ("DescribeImages", Amazon EC2 API Reference,
/// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeImages.html): `self` (this
/// account), and the `ImageOwnerAlias` values AWS sets.
pub const AMI_OWNER_ALIASES: &[&str] = &["self", "amazon", "aws-marketplace", "aws-backup-vault"];

/// `ami_owners` when it is not set: `amazon` for AWS's public parameters (under
/// `/aws/service/`, which AWS publishes: "Calling AMI public parameters in Parameter Store",
/// https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-public-parameters-ami.html),
/// `self` and `amazon` for the account's own parameters.
pub fn default_ami_owners(parameter: &str) -> Vec<String> {
    let public =
        parameter.starts_with("/aws/service/") || parameter.contains(":parameter/aws/service/");
    if public {
        vec!["amazon".to_string()]
    } else {
        vec!["self".to_string(), "amazon".to_string()]
    }
}

/// Resolved settings of one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TargetSettings {
    pub strategy: Strategy,
    /// Newest versions kept when pruning (the default and every referenced version are kept too).
    pub keep_versions: u32,
    pub prune: Prune,
    pub sns_topic: Option<String>,
    pub notify_when_current: bool,
    pub allow_deprecated: bool,
    pub allow_downgrade: bool,
    /// Who may have published the AMI (`DescribeImages --owners` values: account ids, `self`,
    /// `amazon`, `aws-marketplace`, `aws-backup-vault`). `None`: the default for the parameter
    /// ([`default_ami_owners`]).
    pub ami_owners: Option<Vec<String>>,
    pub pinned: Pinned,
    /// Set `TerminationPolicies = ["OldestLaunchTemplate", …]` when a surge group lacks it.
    pub set_termination_policy: bool,
    pub ami_format: AmiFormat,
    /// Surge to `desired × surge_factor`.
    pub surge_factor: u32,
    /// Minutes between the surge and the settle action.
    pub surge_minutes: u32,
    /// A ceiling the surge never goes past (absolute instance count).
    pub surge_max_capacity: Option<i32>,
    /// Surge rounds tried before a rollout is declared failed.
    pub max_attempts: u32,
    /// Instance refresh: `MinHealthyPercentage` (default 100: never below the desired capacity).
    pub min_healthy_percentage: i32,
    /// Instance refresh: `MaxHealthyPercentage` (default 200: launch a whole batch before terminating).
    pub max_healthy_percentage: i32,
    /// Instance refresh: `InstanceWarmup` in seconds (default: the group's own).
    pub instance_warmup_secs: Option<u64>,
    pub skip_matching: bool,
    pub auto_rollback: bool,
    pub checkpoint_percentages: Vec<i32>,
    pub checkpoint_delay_secs: Option<u64>,
    /// CloudWatch alarm names (`AlarmSpecification`).
    pub alarms: Vec<String>,
    pub bake_time_secs: Option<u64>,
    /// `None`: decided per group (`Refresh` when ECS managed termination protection is on).
    pub scale_in_protected_instances: Option<ProtectedInstances>,
    pub standby_instances: Option<StandbyInstances>,
    /// Do not adopt an AMI younger than this (seconds since its creation).
    pub min_ami_age_secs: u64,
    pub maintenance_window: Option<MaintenanceWindow>,
    /// Roll only after this target has run the same AMI successfully for `after_soak`.
    pub after: Option<String>,
    pub after_soak_secs: u64,
    /// The ECS cluster the groups' instances join (a name or an ARN). `None`: found in the
    /// launch template's user data (`ECS_CLUSTER=`), if it names one.
    pub ecs_cluster: Option<String>,
    /// `false`: the groups are plain EC2 groups; amiroll does not look for an ECS cluster (no
    /// ECS call, no ECS permission in the generated policy). Default `true`.
    pub ecs: bool,
    /// How terminating container instances are drained (default [`EcsDrain::Gate`]).
    pub ecs_drain: EcsDrain,
    /// An `EC2_INSTANCE_TERMINATING` lifecycle hook of the groups, made by someone else, whose
    /// held instances amiroll drains and lets go (it does not create or change the hook).
    pub ecs_lifecycle_hook: Option<String>,
    /// Scheduled surge, ECS group without managed draining: how long after amiroll set the old
    /// container instances `DRAINING` the settle waits for their tasks to move (default 10m);
    /// past it the settle goes ahead with a warning.
    pub drain_timeout_secs: u64,
    /// ECS groups: a rollout succeeds only once every new instance also runs at least one task
    /// (within [`crate::planner::surge::SETTLE_GRACE_MINUTES`] of the settle, or of the end of
    /// the refresh); an AMI whose agent connects but whose tasks never start is then caught and
    /// rolled back. For fleets where every instance runs tasks (a daemon service, or more tasks
    /// than instances spread across them). Default `false`.
    pub ecs_require_tasks: bool,
}

/// Parse a duration such as `90s`, `15m`, `24h`, `3d` (humantime syntax).
pub fn parse_duration(key: &str, value: &str) -> Result<u64, String> {
    humantime::parse_duration(value.trim())
        .map(|d| d.as_secs())
        .map_err(|e| {
            format!("`{key}` = \"{value}\" is not a duration like 90s, 15m, 24h or 3d ({e})")
        })
}

impl TargetSettings {
    fn resolve(
        target: &RawSettings,
        defaults: &RawSettings,
        default_strategy: Strategy,
    ) -> Result<TargetSettings, String> {
        macro_rules! pick {
            ($field:ident) => {
                target.$field.clone().or_else(|| defaults.$field.clone())
            };
            ($field:ident, $default:expr) => {
                pick!($field).unwrap_or($default)
            };
        }
        let secs = |key: &str, v: Option<String>| -> Result<Option<u64>, String> {
            v.map(|v| parse_duration(key, &v)).transpose()
        };
        let window = match pick!(maintenance_window) {
            None => None,
            Some(cron) => {
                let time_zone = pick!(time_zone, "UTC".to_string());
                let duration_secs = secs(
                    "maintenance_window_duration",
                    Some(pick!(maintenance_window_duration, "1h".to_string())),
                )?
                .unwrap_or(3600);
                let w = MaintenanceWindow {
                    cron,
                    time_zone,
                    duration_secs,
                };
                crate::gates::validate_window(&w)?;
                Some(w)
            }
        };
        Ok(TargetSettings {
            strategy: pick!(strategy, default_strategy),
            keep_versions: pick!(keep_versions, 2),
            prune: pick!(prune, Prune::Own),
            sns_topic: pick!(sns_topic),
            notify_when_current: pick!(notify_when_current, false),
            allow_deprecated: pick!(allow_deprecated, false),
            allow_downgrade: pick!(allow_downgrade, false),
            ami_owners: pick!(ami_owners)
                .map(|owners| owners.iter().map(|o| o.trim().to_string()).collect()),
            pinned: pick!(pinned, Pinned::Refuse),
            set_termination_policy: pick!(set_termination_policy, false),
            ami_format: pick!(ami_format, AmiFormat::Auto),
            surge_factor: pick!(surge_factor, 2),
            surge_minutes: pick!(surge_minutes, 15),
            surge_max_capacity: pick!(surge_max_capacity),
            max_attempts: pick!(max_attempts, 3),
            min_healthy_percentage: pick!(min_healthy_percentage, 100),
            max_healthy_percentage: pick!(max_healthy_percentage, 200),
            instance_warmup_secs: secs("instance_warmup", pick!(instance_warmup))?,
            skip_matching: pick!(skip_matching, true),
            auto_rollback: pick!(auto_rollback, true),
            checkpoint_percentages: pick!(checkpoint_percentages, Vec::new()),
            checkpoint_delay_secs: secs("checkpoint_delay", pick!(checkpoint_delay))?,
            alarms: pick!(alarms, Vec::new()),
            bake_time_secs: secs("bake_time", pick!(bake_time))?,
            scale_in_protected_instances: pick!(scale_in_protected_instances),
            standby_instances: pick!(standby_instances),
            min_ami_age_secs: secs("min_ami_age", pick!(min_ami_age))?.unwrap_or(0),
            maintenance_window: window,
            after: target.after.clone(),
            after_soak_secs: secs("after_soak", pick!(after_soak))?.unwrap_or(0),
            ecs_cluster: pick!(ecs_cluster).map(|c| c.trim().to_string()),
            ecs: pick!(ecs, true),
            ecs_drain: pick!(ecs_drain, EcsDrain::Gate),
            ecs_lifecycle_hook: pick!(ecs_lifecycle_hook).map(|h| h.trim().to_string()),
            drain_timeout_secs: secs("drain_timeout", pick!(drain_timeout))?.unwrap_or(600),
            ecs_require_tasks: pick!(ecs_require_tasks, false),
        })
    }

    /// Every check of the resolved settings, for targets and for `[discover]` alike.
    fn validate(&self) -> Result<(), String> {
        self.validate_refresh()?;
        if let Some(owners) = &self.ami_owners {
            if owners.is_empty() {
                return Err(
                    "`ami_owners` is empty: no image could be rolled; list the owners you trust (e.g. [\"amazon\"]) or remove the key for the default".to_string(),
                );
            }
            for o in owners {
                let alias = AMI_OWNER_ALIASES.contains(&o.as_str());
                let account = o.len() == 12 && o.bytes().all(|b| b.is_ascii_digit());
                if !alias && !account {
                    return Err(format!(
                        "`ami_owners` has `{o}`: expected a 12-digit account id or one of {}",
                        AMI_OWNER_ALIASES.join(", ")
                    ));
                }
            }
        }
        if self.surge_factor < 2 {
            return Err(format!(
                "`surge_factor` must be at least 2 (got {})",
                self.surge_factor
            ));
        }
        if self.surge_minutes < 5 {
            return Err(format!(
                "`surge_minutes` must be at least 5 so new instances can boot and be checked before the settle (got {})",
                self.surge_minutes
            ));
        }
        if let Some(cap) = self.surge_max_capacity {
            if cap < 1 {
                return Err(format!(
                    "`surge_max_capacity` must be at least 1 (got {cap})"
                ));
            }
        }
        if self.keep_versions > 200 {
            return Err(format!(
                "`keep_versions` must be at most 200 (got {})",
                self.keep_versions
            ));
        }
        if self.max_attempts == 0 {
            return Err("`max_attempts` must be at least 1".to_string());
        }
        if !(60..=86_400).contains(&self.drain_timeout_secs) {
            return Err(format!(
                "`drain_timeout` must be between 1m and 24h (got {}s): ECS needs time to move the tasks, and a round must end",
                self.drain_timeout_secs
            ));
        }
        if !self.ecs && self.ecs_require_tasks {
            return Err(
                "`ecs = false` says the groups are plain EC2 groups: `ecs_require_tasks` has no task to count"
                    .to_string(),
            );
        }
        if !self.ecs && (self.ecs_drain != EcsDrain::Gate || self.ecs_lifecycle_hook.is_some()) {
            return Err(
                "`ecs = false` says the groups are plain EC2 groups: `ecs_drain` and `ecs_lifecycle_hook` have nothing to drain"
                    .to_string(),
            );
        }
        if let Some(hook) = &self.ecs_lifecycle_hook {
            if self.ecs_drain == EcsDrain::LifecycleHook {
                return Err(format!(
                    "`ecs_lifecycle_hook = \"{hook}\"` names your own hook, and `ecs_drain = \"lifecycle-hook\"` makes amiroll create `{AMIROLL_HOOK}`: use one of the two"
                ));
            }
            // "LifecycleHookName": 1-255 characters, `[A-Za-z0-9\-_\/]+`
            // (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PutLifecycleHook.html).
            let ok = !hook.is_empty()
                && hook.len() <= 255
                && hook
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/'));
            if !ok {
                return Err(format!(
                    "`ecs_lifecycle_hook = \"{hook}\"` is not a lifecycle hook name (1 to 255 letters, digits, -, _ and /)"
                ));
            }
        }
        if let Some(cluster) = &self.ecs_cluster {
            if !self.ecs {
                return Err(format!(
                    "`ecs = false` says the groups are plain EC2 groups, but `ecs_cluster = \"{cluster}\"` names their cluster: remove one of the two"
                ));
            }
            crate::ecs::validate_cluster(cluster).map_err(|e| format!("`ecs_cluster`: {e}"))?;
        }
        if let Some(topic) = &self.sns_topic {
            if !is_sns_topic_arn(topic) {
                return Err(format!(
                    "`sns_topic` must be an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME), got `{topic}`"
                ));
            }
        }
        Ok(())
    }

    /// Check the instance-refresh preferences against the API's ranges ("RefreshPreferences").
    fn validate_refresh(&self) -> Result<(), String> {
        let (min, max) = (self.min_healthy_percentage, self.max_healthy_percentage);
        if !(0..=100).contains(&min) {
            return Err(format!(
                "`min_healthy_percentage` must be 0–100 (got {min})"
            ));
        }
        if !(100..=200).contains(&max) {
            return Err(format!(
                "`max_healthy_percentage` must be 100–200 (got {max})"
            ));
        }
        if max - min > 100 {
            return Err(format!(
                "`max_healthy_percentage` ({max}) may be at most 100 above `min_healthy_percentage` ({min})"
            ));
        }
        let cps = &self.checkpoint_percentages;
        if cps.iter().any(|p| !(1..=100).contains(p)) || cps.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!(
                "`checkpoint_percentages` must be ascending, unique, 1–100 (got {cps:?})"
            ));
        }
        for (key, v) in [
            ("checkpoint_delay", self.checkpoint_delay_secs),
            ("bake_time", self.bake_time_secs),
        ] {
            if v.is_some_and(|v| v > 172_800) {
                return Err(format!("`{key}` may be at most 48h (172800 s)"));
            }
        }
        if self.alarms.len() > 10 {
            return Err(format!(
                "`alarms` may name at most 10 alarms (got {})",
                self.alarms.len()
            ));
        }
        Ok(())
    }
}

/// One target: a launch template, the AMI source that feeds it, and the groups that launch from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Target {
    pub name: String,
    /// Observed (for `after` waves) but not planned: set when `--target` leaves it out.
    pub observe_only: bool,
    pub launch_template: String,
    pub ami_parameter: String,
    pub groups: Vec<String>,
    pub settings: TargetSettings,
}

impl Target {
    /// The terminating lifecycle hook whose held instances amiroll drains, and whether amiroll
    /// creates it: [`AMIROLL_HOOK`] with `ecs_drain = "lifecycle-hook"`, or `ecs_lifecycle_hook`.
    /// Only for a target that rolls groups.
    pub fn drain_hook(&self) -> Option<(&str, bool)> {
        if self.observe_only || self.groups.is_empty() || self.settings.strategy == Strategy::None {
            return None;
        }
        match (&self.settings.ecs_lifecycle_hook, self.settings.ecs_drain) {
            (Some(name), _) => Some((name.as_str(), false)),
            (None, EcsDrain::LifecycleHook) => Some((AMIROLL_HOOK, true)),
            (None, EcsDrain::Gate) => None,
        }
    }

    /// The format the parameter's value is expected in.
    pub fn expected_format(&self) -> AmiFormat {
        match self.settings.ami_format {
            AmiFormat::Auto
                if self
                    .ami_parameter
                    .trim_end_matches('/')
                    .ends_with("/recommended") =>
            {
                AmiFormat::Json
            }
            AmiFormat::Auto => AmiFormat::ImageId,
            other => other,
        }
    }
}

/// A complete, validated configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Config {
    pub targets: Vec<Target>,
    /// Groups tagged this way become targets too (see [`Config::with_discovered`]).
    pub discover: Option<Discover>,
    pub scope: Scope,
    /// The targets the user selected (`--target`, `rollback TARGET`); empty: all. With
    /// discovery, names are checked once the discovered targets are known.
    pub selection: Vec<String>,
    /// Where the configuration came from, for messages.
    pub source: String,
}

/// A configuration problem. Each message names the thing to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{source_name}: {message}")]
    Parse {
        source_name: String,
        message: String,
    },
    #[error("{source_name}: target `{target}`: {message}")]
    Invalid {
        source_name: String,
        target: String,
        message: String,
    },
    #[error("{source_name}: {message}")]
    Empty {
        source_name: String,
        message: String,
    },
    #[error("environment variable `{variable}` is not set (the seed-compatible configuration needs launch_template_id, image_id_ssm_parameter, sns_arn and asg_name)")]
    MissingEnv { variable: String },
}

/// The seed Lambda's environment variables, in the order the seed reads them.
pub const SEED_ENV: [&str; 4] = [
    "launch_template_id",
    "image_id_ssm_parameter",
    "sns_arn",
    "asg_name",
];

impl Config {
    /// Parse and validate a TOML document. `source_name` is used in messages (e.g. the path).
    pub fn from_toml(text: &str, source_name: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            source_name: source_name.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        Config::validate(raw, source_name, Strategy::InstanceRefresh)
    }

    /// The seed's four environment variables as a complete configuration: one target using
    /// `scheduled-surge`, named after the group. `lookup` reads a variable (e.g. `std::env::var`).
    pub fn from_seed_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut values = BTreeMap::new();
        for var in SEED_ENV {
            match lookup(var).filter(|v| !v.trim().is_empty()) {
                Some(v) => {
                    values.insert(var, v.trim().to_string());
                }
                None => {
                    return Err(ConfigError::MissingEnv {
                        variable: var.to_string(),
                    })
                }
            }
        }
        let group = values["asg_name"].clone();
        let raw = RawConfig {
            regions: Vec::new(),
            concurrency: None,
            aws_max_attempts: None,
            aws_retry_mode: None,
            accounts: Vec::new(),
            discover: None,
            defaults: RawSettings::default(),
            targets: vec![RawTarget {
                strategy: Some(Strategy::ScheduledSurge),
                sns_topic: Some(values["sns_arn"].clone()),
                ..RawTarget::new(
                    group.clone(),
                    values["launch_template_id"].clone(),
                    values["image_id_ssm_parameter"].clone(),
                    vec![group],
                )
            }],
        };
        Config::validate(raw, "seed environment variables", Strategy::ScheduledSurge)
    }

    /// Whether the seed's variables are present at all (any of them), to decide which source to use.
    pub fn seed_env_present(lookup: impl Fn(&str) -> Option<String>) -> bool {
        SEED_ENV.iter().any(|v| lookup(v).is_some())
    }

    fn validate(
        raw: RawConfig,
        source_name: &str,
        default_strategy: Strategy,
    ) -> Result<Config, ConfigError> {
        if raw.defaults.after.is_some() {
            return Err(ConfigError::Parse {
                source_name: source_name.to_string(),
                message: "`after` belongs in a [[target]], not in [defaults]".to_string(),
            });
        }
        if raw.targets.is_empty() && raw.discover.is_none() {
            return Err(ConfigError::Empty {
                source_name: source_name.to_string(),
                message: "no [[target]] tables and no [discover]: add at least one target"
                    .to_string(),
            });
        }
        let mut names = BTreeSet::new();
        let mut targets = Vec::new();
        for t in raw.targets {
            let invalid = |message: String| ConfigError::Invalid {
                source_name: source_name.to_string(),
                target: t.name.clone(),
                message,
            };
            if t.name.trim().is_empty() {
                return Err(ConfigError::Parse {
                    source_name: source_name.to_string(),
                    message: "a [[target]] has an empty `name`".to_string(),
                });
            }
            if !names.insert(t.name.clone()) {
                return Err(invalid("two targets share this name".to_string()));
            }
            if t.launch_template.trim().is_empty() {
                return Err(invalid("`launch_template` is empty".to_string()));
            }
            let param = t.ami_parameter.trim();
            if param.is_empty() {
                return Err(invalid("`ami_parameter` is empty".to_string()));
            }
            if param.starts_with("resolve:ssm:") || param.starts_with("ami-") {
                return Err(invalid(format!(
                    "`ami_parameter` must be an SSM parameter name (e.g. /aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id), not `{param}`"
                )));
            }
            let mut seen = BTreeSet::new();
            for g in &t.groups {
                if g.trim().is_empty() {
                    return Err(invalid("`groups` contains an empty name".to_string()));
                }
                if !seen.insert(g) {
                    return Err(invalid(format!("group `{g}` is listed twice")));
                }
            }
            let settings = TargetSettings::resolve(&t.settings(), &raw.defaults, default_strategy)
                .map_err(&invalid)?;
            settings.validate().map_err(&invalid)?;
            targets.push(Target {
                observe_only: false,
                name: t.name.clone(),
                launch_template: t.launch_template.trim().to_string(),
                ami_parameter: param.to_string(),
                groups: t.groups.iter().map(|g| g.trim().to_string()).collect(),
                settings,
            });
        }
        // Waves: `after` names another target, and the chain has no cycle.
        for t in &targets {
            let mut seen = BTreeSet::new();
            let mut cur = t;
            while let Some(prev) = &cur.settings.after {
                if !seen.insert(cur.name.clone()) {
                    return Err(ConfigError::Invalid {
                        source_name: source_name.to_string(),
                        target: t.name.clone(),
                        message: format!("`after` forms a cycle through `{prev}`"),
                    });
                }
                match targets.iter().find(|x| &x.name == prev) {
                    Some(x) if x.name != cur.name => cur = x,
                    _ => {
                        return Err(ConfigError::Invalid {
                            source_name: source_name.to_string(),
                            target: cur.name.clone(),
                            message: format!("`after` names `{prev}`, which is not another target"),
                        })
                    }
                }
            }
        }
        // A group may belong to one target only: two targets rolling one group would fight.
        let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
        for t in &targets {
            for g in &t.groups {
                if let Some(other) = owner.insert(g.as_str(), t.name.as_str()) {
                    return Err(ConfigError::Invalid {
                        source_name: source_name.to_string(),
                        target: t.name.clone(),
                        message: format!("group `{g}` is also listed in target `{other}`"),
                    });
                }
            }
        }
        let discover = match &raw.discover {
            None => None,
            Some(d) => {
                let invalid = |message: String| ConfigError::Parse {
                    source_name: source_name.to_string(),
                    message: format!("[discover]: {message}"),
                };
                if d.after.is_some() {
                    return Err(invalid("`after` belongs in a [[target]]".to_string()));
                }
                let settings =
                    TargetSettings::resolve(&d.settings(), &raw.defaults, default_strategy)
                        .map_err(&invalid)?;
                settings.validate().map_err(&invalid)?;
                let tag = d.tag.clone().unwrap_or_else(|| DISCOVERY_TAG.to_string());
                if tag.trim().is_empty() || tag.len() > 128 {
                    return Err(invalid(format!("`tag` = \"{tag}\" is not a tag key")));
                }
                Some(Discover { tag, settings })
            }
        };
        let mut ids = BTreeSet::new();
        for a in &raw.accounts {
            let ok_id = a.id.len() == 12 && a.id.bytes().all(|b| b.is_ascii_digit());
            let ok_arn = a.role_arn.starts_with("arn:") && a.role_arn.contains(":role/");
            if !ok_id || !ok_arn || !ids.insert(a.id.clone()) {
                return Err(ConfigError::Parse {
                    source_name: source_name.to_string(),
                    message: format!(
                        "[[account]] `{}`: `id` must be a 12-digit account id (once) and `role_arn` an IAM role ARN (got `{}`)",
                        a.id, a.role_arn
                    ),
                });
            }
        }
        let concurrency = raw.concurrency.unwrap_or(4);
        if concurrency == 0 || concurrency > 64 {
            return Err(ConfigError::Parse {
                source_name: source_name.to_string(),
                message: format!("`concurrency` must be 1–64 (got {concurrency})"),
            });
        }
        if raw.aws_max_attempts == Some(0) {
            return Err(ConfigError::Parse {
                source_name: source_name.to_string(),
                message: "`aws_max_attempts` must be at least 1".to_string(),
            });
        }
        Ok(Config {
            targets,
            selection: Vec::new(),
            discover,
            scope: Scope {
                regions: raw.regions.clone(),
                accounts: raw.accounts.clone(),
                concurrency: concurrency as usize,
                aws_max_attempts: raw.aws_max_attempts,
                aws_retry_mode: raw.aws_retry_mode.unwrap_or(RetryMode::Standard),
            },
            source: source_name.to_string(),
        })
    }

    /// Add a target for every discovered group (a group carrying the discovery tag; its value is
    /// the AMI parameter, its launch template is the one the group launches). A group that an
    /// explicit target already lists, or whose name is a target's name, is a conflict: an error
    /// that names both, and nothing is changed.
    pub fn with_discovered(
        &self,
        groups: &[crate::port::AutoScalingGroup],
    ) -> Result<Config, ConfigError> {
        let Some(rule) = &self.discover else {
            return Ok(self.clone());
        };
        let mut out = self.clone();
        let mut found: Vec<&crate::port::AutoScalingGroup> = groups
            .iter()
            .filter(|g| g.tags.contains_key(&rule.tag))
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        for g in found {
            let conflict = |message: String| ConfigError::Invalid {
                source_name: self.source.clone(),
                target: g.name.clone(),
                message,
            };
            if let Some(t) = self.targets.iter().find(|t| t.groups.contains(&g.name)) {
                return Err(conflict(format!(
                    "group `{}` is tagged {} and also listed in target `{}`; remove the tag or the group from the target",
                    g.name, rule.tag, t.name
                )));
            }
            if self.targets.iter().any(|t| t.name == g.name) {
                return Err(conflict(format!(
                    "discovered group `{}` has the name of an explicit target; rename the target",
                    g.name
                )));
            }
            let parameter = g.tags.get(&rule.tag).cloned().unwrap_or_default();
            if parameter.trim().is_empty()
                || !parameter.starts_with('/') && !parameter.starts_with("arn:")
            {
                return Err(conflict(format!(
                    "group `{}` is tagged {} = `{parameter}`, which is not an SSM parameter name",
                    g.name, rule.tag
                )));
            }
            let spec = g
                .launch_template
                .as_ref()
                .or(g.mixed_instances_policy.as_ref().map(|m| &m.template));
            let Some(template) =
                spec.and_then(|s| s.template_id.clone().or(s.template_name.clone()))
            else {
                return Err(conflict(format!(
                    "discovered group `{}` does not launch from a launch template",
                    g.name
                )));
            };
            out.targets.push(Target {
                name: g.name.clone(),
                observe_only: !self.selection.is_empty() && !self.selection.contains(&g.name),
                launch_template: template,
                ami_parameter: parameter,
                groups: vec![g.name.clone()],
                settings: rule.settings.clone(),
            });
        }
        for n in &self.selection {
            if !out.targets.iter().any(|t| &t.name == n) {
                return Err(ConfigError::Parse {
                    source_name: self.source.clone(),
                    message: format!("no target named `{n}` (configured or discovered)"),
                });
            }
        }
        Ok(out)
    }

    /// Keep only the named targets (errors on an unknown name).
    pub fn select(&mut self, names: &[String]) -> Result<(), ConfigError> {
        if names.is_empty() {
            return Ok(());
        }
        self.selection = names.to_vec();
        for n in names {
            // A discovered target's name is only known when the command runs.
            if !self.targets.iter().any(|t| &t.name == n) && self.discover.is_none() {
                return Err(ConfigError::Parse {
                    source_name: self.source.clone(),
                    message: format!("no target named `{n}`"),
                });
            }
        }
        // Targets a selected one waits for (`after`) stay, observe-only, so the wave gate can
        // read their state.
        let mut keep: BTreeSet<String> = names.iter().cloned().collect();
        let mut frontier: Vec<String> = names.to_vec();
        while let Some(n) = frontier.pop() {
            if let Some(prev) = self
                .targets
                .iter()
                .find(|t| t.name == n)
                .and_then(|t| t.settings.after.clone())
            {
                if keep.insert(prev.clone()) {
                    frontier.push(prev);
                }
            }
        }
        self.targets.retain(|t| keep.contains(&t.name));
        for t in &mut self.targets {
            t.observe_only = !names.contains(&t.name);
        }
        Ok(())
    }
}

fn is_sns_topic_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 6 && parts[0] == "arn" && parts[2] == "sns" && !parts[5].is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[defaults]
sns_topic = "arn:aws:sns:us-east-1:123456789012:amiroll"
keep_versions = 3

[[target]]
name = "ecs-prod"
launch_template = "lt-0123456789abcdef0"
ami_parameter = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
groups = ["ecs-prod-a", "ecs-prod-b"]
surge_minutes = 20

[[target]]
name = "batch"
launch_template = "batch-template"
ami_parameter = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended"
strategy = "none"
keep_versions = 5
"#;

    #[test]
    fn defaults_apply_and_targets_override() {
        let c = Config::from_toml(GOOD, "amiroll.toml").expect("valid");
        assert_eq!(c.targets.len(), 2);
        let prod = &c.targets[0];
        assert_eq!(prod.settings.keep_versions, 3);
        assert_eq!(prod.settings.surge_minutes, 20);
        assert_eq!(prod.settings.strategy, Strategy::InstanceRefresh);
        assert_eq!(
            prod.settings.sns_topic.as_deref(),
            Some("arn:aws:sns:us-east-1:123456789012:amiroll")
        );
        assert_eq!(prod.expected_format(), AmiFormat::ImageId);
        let batch = &c.targets[1];
        assert_eq!(batch.settings.keep_versions, 5);
        assert_eq!(batch.settings.strategy, Strategy::None);
        assert_eq!(batch.expected_format(), AmiFormat::Json);
    }

    #[test]
    fn ami_owners_takes_account_ids_and_the_describe_images_aliases() {
        let base = "[[target]]\nname = \"a\"\nlaunch_template = \"lt-1\"\nami_parameter = \"/golden/ami\"\ngroups = [\"g\"]\nstrategy = \"none\"\n";
        let c = Config::from_toml(
            &format!("[defaults]\nami_owners = [\"self\", \" 099720109477 \"]\n{base}"),
            "f",
        )
        .expect("valid");
        assert_eq!(
            c.targets[0].settings.ami_owners,
            Some(vec!["self".to_string(), "099720109477".to_string()]),
            "from [defaults], trimmed"
        );
        assert_eq!(
            Config::from_toml(base, "f").expect("valid").targets[0]
                .settings
                .ami_owners,
            None
        );
        for (bad, needle) in [
            ("[\"amazon\", \"12345\"]", "`12345`"),
            ("[\"Amazon\"]", "`Amazon`"),
            ("[\"arn:aws:iam::123456789012:root\"]", "arn:aws:iam"),
            ("[]", "empty"),
        ] {
            let err = Config::from_toml(&format!("{base}ami_owners = {bad}\n"), "amiroll.toml")
                .expect_err(bad)
                .to_string();
            assert!(
                err.contains("ami_owners") && err.contains(needle),
                "{bad}: {err}"
            );
            assert!(err.contains("amiroll.toml"), "{err}");
        }
    }

    #[test]
    fn default_ami_owners_depend_on_who_publishes_the_parameter() {
        let amazon = vec!["amazon".to_string()];
        let own = vec!["self".to_string(), "amazon".to_string()];
        assert_eq!(
            default_ami_owners(
                "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
            ),
            amazon
        );
        assert_eq!(
            default_ami_owners("arn:aws:ssm:eu-west-1::parameter/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"),
            amazon
        );
        assert_eq!(default_ami_owners("/golden/ami"), own);
        assert_eq!(default_ami_owners("golden-ami"), own);
        // A look-alike path of the account's own is not AWS's.
        assert_eq!(default_ami_owners("/my/aws/service/ami"), own);
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let text = "[[target]]\nname = \"a\"\nlaunch_template = \"lt-1\"\nami_parameter = \"/p\"\nsurge_minuets = 3\n";
        let err = Config::from_toml(text, "amiroll.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("surge_minuets"), "{err}");
        assert!(err.contains("line 5"), "{err}");
        assert!(err.contains("amiroll.toml"), "{err}");
    }

    #[test]
    fn unknown_key_in_defaults_is_an_error() {
        let text = "[defaults]\nstrategy = \"none\"\nkeep = 1\n[[target]]\nname = \"a\"\nlaunch_template = \"lt-1\"\nami_parameter = \"/p\"\n";
        let err = Config::from_toml(text, "f").unwrap_err().to_string();
        assert!(err.contains("keep"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn malformed_toml_is_an_error() {
        let err = Config::from_toml("[[target]\nname=", "f")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let base = "[[target]]\nname = \"a\"\nlaunch_template = \"lt-1\"\nami_parameter = \"/p\"\n";
        for (extra, needle) in [
            ("surge_factor = 1\n", "surge_factor"),
            ("surge_minutes = 2\n", "surge_minutes"),
            ("sns_topic = \"not-an-arn\"\n", "sns_topic"),
            ("strategy = \"blue-green\"\n", "blue-green"),
            ("keep_versions = 500\n", "keep_versions"),
        ] {
            let err = Config::from_toml(&format!("{base}{extra}"), "f")
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{extra}: {err}");
        }
        let err = Config::from_toml(
            "[[target]]\nname = \"a\"\nlaunch_template = \"lt-1\"\nami_parameter = \"ami-0123\"\n",
            "f",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("ami_parameter"), "{err}");
    }

    #[test]
    fn drain_timeout_defaults_to_10m_per_target_or_by_default() {
        let text = "[defaults]\ndrain_timeout = \"20m\"\n\
             [[target]]\nname = \"a\"\nlaunch_template = \"lt-1\"\nami_parameter = \"/p\"\n\
             [[target]]\nname = \"b\"\nlaunch_template = \"lt-2\"\nami_parameter = \"/p\"\n\
             drain_timeout = \"90s\"\n";
        let c = Config::from_toml(text, "f").expect("valid");
        assert_eq!(c.targets[0].settings.drain_timeout_secs, 1200);
        assert_eq!(c.targets[1].settings.drain_timeout_secs, 90);
        let c = Config::from_toml(GOOD, "f").expect("valid");
        assert_eq!(c.targets[0].settings.drain_timeout_secs, 600);
        let base = "[[target]]\nname = \"a\"\nlaunch_template = \"lt-1\"\nami_parameter = \"/p\"\n";
        for bad in ["soon", "10s", "2d"] {
            let err = Config::from_toml(&format!("{base}drain_timeout = \"{bad}\"\n"), "f")
                .unwrap_err()
                .to_string();
            assert!(err.contains("drain_timeout"), "{bad}: {err}");
        }
    }

    #[test]
    fn ecs_false_makes_a_plain_ec2_target_and_conflicts_with_a_cluster() {
        let base = "[[target]]\nname = \"a\"\nlaunch_template = \"lt-1\"\nami_parameter = \"/p\"\n";
        let c = Config::from_toml(base, "f").expect("valid");
        assert!(c.targets[0].settings.ecs);
        let c = Config::from_toml(&format!("{base}ecs = false\n"), "f").expect("valid");
        assert!(!c.targets[0].settings.ecs);
        let err = Config::from_toml(&format!("{base}ecs = false\necs_cluster = \"prod\"\n"), "f")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`ecs = false`") && err.contains("prod"),
            "{err}"
        );
        assert!(err.contains("target `a`"), "{err}");
    }

    #[test]
    fn ecs_cluster_is_a_name_or_an_arn_per_target_or_by_default() {
        let text = "[defaults]\necs_cluster = \"prod\"\n\
             [[target]]\nname = \"a\"\nlaunch_template = \"lt-1\"\nami_parameter = \"/p\"\n\
             [[target]]\nname = \"b\"\nlaunch_template = \"lt-2\"\nami_parameter = \"/p\"\n\
             ecs_cluster = \"arn:aws:ecs:eu-west-1:123456789012:cluster/batch\"\n\
             [[target]]\nname = \"c\"\nlaunch_template = \"lt-3\"\nami_parameter = \"/p\"\n";
        let c = Config::from_toml(text, "f").expect("valid");
        assert_eq!(c.targets[0].settings.ecs_cluster.as_deref(), Some("prod"));
        assert_eq!(
            c.targets[1].settings.ecs_cluster.as_deref(),
            Some("arn:aws:ecs:eu-west-1:123456789012:cluster/batch")
        );
        assert_eq!(c.targets[2].settings.ecs_cluster.as_deref(), Some("prod"));
        let c = Config::from_toml(GOOD, "f").expect("valid");
        assert_eq!(c.targets[0].settings.ecs_cluster, None);

        let base = "[[target]]\nname = \"a\"\nlaunch_template = \"lt-1\"\nami_parameter = \"/p\"\n";
        for bad in [
            "has space",
            "",
            "arn:aws:ecs:us-east-1:123456789012:service/prod",
            "arn:aws:ecs:us-east-1:12:cluster/prod",
        ] {
            let err = Config::from_toml(&format!("{base}ecs_cluster = \"{bad}\"\n"), "f")
                .unwrap_err()
                .to_string();
            assert!(err.contains("`ecs_cluster`"), "{bad}: {err}");
            assert!(err.contains("target `a`"), "{bad}: {err}");
        }
        let err = Config::from_toml(&format!("[defaults]\necs_cluster = \"a b\"\n{base}"), "f")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`ecs_cluster`"), "{err}");
        let err = Config::from_toml(&format!("{base}ecs_cluster = 3\n"), "f")
            .unwrap_err()
            .to_string();
        assert!(err.contains("ecs_cluster"), "{err}");
    }

    #[test]
    fn duplicate_targets_and_shared_groups_are_errors() {
        let text = "[[target]]\nname = \"a\"\nlaunch_template = \"lt-1\"\nami_parameter = \"/p\"\ngroups=[\"g\"]\n[[target]]\nname = \"b\"\nlaunch_template = \"lt-2\"\nami_parameter = \"/p\"\ngroups=[\"g\"]\n";
        let err = Config::from_toml(text, "f").unwrap_err().to_string();
        assert!(
            err.contains("group `g` is also listed in target `a`"),
            "{err}"
        );
        let text = "[[target]]\nname = \"a\"\nlaunch_template = \"lt-1\"\nami_parameter = \"/p\"\n[[target]]\nname = \"a\"\nlaunch_template = \"lt-2\"\nami_parameter = \"/p\"\n";
        let err = Config::from_toml(text, "f").unwrap_err().to_string();
        assert!(err.contains("share this name"), "{err}");
    }

    #[test]
    fn empty_config_is_an_error() {
        let err = Config::from_toml("", "f").unwrap_err().to_string();
        assert!(err.contains("[[target]]"), "{err}");
    }

    #[test]
    fn seed_environment_is_a_complete_configuration() {
        let env: BTreeMap<&str, &str> = [
            ("launch_template_id", "lt-0abc"),
            (
                "image_id_ssm_parameter",
                "/aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id",
            ),
            ("sns_arn", "arn:aws:sns:us-east-1:123456789012:ami-updates"),
            ("asg_name", "ecs-cluster-asg"),
        ]
        .into_iter()
        .collect();
        let c = Config::from_seed_env(|k| env.get(k).map(|v| v.to_string())).expect("valid");
        let t = &c.targets[0];
        assert_eq!(t.name, "ecs-cluster-asg");
        assert_eq!(t.groups, vec!["ecs-cluster-asg".to_string()]);
        assert_eq!(t.launch_template, "lt-0abc");
        assert_eq!(t.settings.strategy, Strategy::ScheduledSurge);
        assert_eq!(t.settings.keep_versions, 2);
        assert_eq!(
            t.settings.sns_topic.as_deref(),
            Some("arn:aws:sns:us-east-1:123456789012:ami-updates")
        );
    }

    #[test]
    fn seed_environment_names_the_missing_variable() {
        let err = Config::from_seed_env(|k| (k != "sns_arn").then(|| "x".to_string()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`sns_arn`"), "{err}");
    }

    #[test]
    fn select_filters_and_rejects_unknown() {
        let mut c = Config::from_toml(GOOD, "f").expect("valid");
        c.select(&["batch".to_string()]).expect("known");
        assert_eq!(c.targets.len(), 1);
        let err = c.select(&["nope".to_string()]).unwrap_err().to_string();
        assert!(err.contains("nope"), "{err}");
    }
}
