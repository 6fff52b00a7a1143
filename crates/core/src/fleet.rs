//! Many accounts and regions: the same engine over one port per place, observed, planned and
//! applied in parallel with bounded concurrency. One place failing does not stop the others; the
//! report says which failed and why.

use futures::stream::{self, StreamExt};
use serde::Serialize;
use tracing::Instrument;

use crate::config::Config;
use crate::engine::{ApplyReport, CallCounts, Engine, RetryPolicy, RunError};
use crate::planner::PlanOptions;
use crate::port::Aws;

/// One account × region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Place {
    /// `None`: the caller's own account.
    pub account: Option<String>,
    /// `None`: the default region of the credentials chain.
    pub region: Option<String>,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}",
            self.account.as_deref().unwrap_or("own account"),
            self.region.as_deref().unwrap_or("default region")
        )
    }
}

/// What happened in one place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PlaceReport {
    pub place: Place,
    /// The apply report, when the run completed.
    pub report: Option<ApplyReport>,
    /// Why the place failed as a whole (could not connect, discovery failed, the run stopped).
    pub error: Option<String>,
    /// Remote calls made there, by operation.
    pub calls: CallCounts,
}

impl PlaceReport {
    /// Whether anything failed here (the whole place, or one of its targets).
    pub fn failed(&self) -> bool {
        self.error.is_some() || self.report.as_ref().is_some_and(|r| r.exit_code() != 0)
    }
}

/// The places a configuration covers: every `[[account]]` (or, without any, the caller's own
/// account) × every region (or, without `regions`, the default one).
pub fn places(config: &Config) -> Vec<Place> {
    let regions: Vec<Option<String>> = if config.scope.regions.is_empty() {
        vec![None]
    } else {
        config.scope.regions.iter().cloned().map(Some).collect()
    };
    let accounts: Vec<Option<String>> = if config.scope.accounts.is_empty() {
        vec![None]
    } else {
        config
            .scope
            .accounts
            .iter()
            .map(|a| Some(a.id.clone()))
            .collect()
    };
    accounts
        .iter()
        .flat_map(|a| {
            regions.iter().map(move |r| Place {
                account: a.clone(),
                region: r.clone(),
            })
        })
        .collect()
}

/// [`places`], narrowed to `region` when one is given (`--region`): with a `regions` list, only
/// that region of each account, and a region not in the list is an error that names it; without
/// one, every account in that region.
pub fn places_in(config: &Config, region: Option<&str>) -> Result<Vec<Place>, String> {
    let all = places(config);
    let Some(region) = region else {
        return Ok(all);
    };
    if config.scope.regions.is_empty() {
        return Ok(all
            .into_iter()
            .map(|p| Place {
                region: Some(region.to_string()),
                ..p
            })
            .collect());
    }
    if !config.scope.regions.iter().any(|r| r == region) {
        return Err(format!(
            "--region {region} is not one of the configuration's regions ({})",
            config.scope.regions.join(", ")
        ));
    }
    Ok(all
        .into_iter()
        .filter(|p| p.region.as_deref() == Some(region))
        .collect())
}

/// Apply (or dry-run) the configuration in every place at once, `concurrency` at a time.
/// `connect` failures are given as `Err` in `ports`.
pub async fn apply_everywhere<A: Aws>(
    ports: &[(Place, Result<A, String>)],
    config: &Config,
    dry_run: bool,
    opts: &PlanOptions,
    retry: RetryPolicy,
) -> Vec<PlaceReport> {
    in_every_place(ports, config, |aws| async move {
        let engine = Engine::new(aws).with_retry(retry);
        let result = engine.run_with(config, dry_run, opts).await;
        (result, engine.call_counts())
    })
    .await
    .into_iter()
    .map(|(place, done)| match done {
        Ok((Ok(report), calls)) => PlaceReport {
            place,
            report: Some(report),
            error: None,
            calls,
        },
        Ok((Err(e), calls)) => PlaceReport {
            place,
            report: None,
            error: Some(match e {
                RunError::Crashed(e) | RunError::Discovery(e) => e.to_string(),
                RunError::Config(e) => e.to_string(),
            }),
            calls,
        },
        Err(e) => PlaceReport {
            place,
            report: None,
            error: Some(e),
            calls: CallCounts::new(),
        },
    })
    .collect()
}

/// `work` in every place at once, `concurrency` at a time, in a stable order for people and
/// machines (account, then region), whatever finished first. A place whose connection failed
/// gets `Err("cannot connect: …")` and no work.
async fn in_every_place<'a, A, T, Fut>(
    ports: &'a [(Place, Result<A, String>)],
    config: &Config,
    work: impl Fn(&'a A) -> Fut,
) -> Vec<(Place, Result<T, String>)>
where
    A: Aws,
    Fut: std::future::Future<Output = T>,
{
    let work = &work;
    let mut done: Vec<(Place, Result<T, String>)> = stream::iter(ports)
        .map(|(place, port)| {
            let span = tracing::info_span!(
                "place",
                account = place.account.as_deref().unwrap_or("-"),
                region = place.region.as_deref().unwrap_or("-")
            );
            async move {
                match port {
                    Ok(aws) => (place.clone(), Ok(work(aws).await)),
                    Err(e) => (place.clone(), Err(format!("cannot connect: {e}"))),
                }
            }
            .instrument(span)
        })
        .buffer_unordered(config.scope.concurrency.max(1))
        .collect()
        .await;
    done.sort_by(|(a, _), (b, _)| {
        (a.account.as_deref(), a.region.as_deref())
            .cmp(&(b.account.as_deref(), b.region.as_deref()))
    });
    done
}

/// What `check`/`plan` found in one place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PlacePlan {
    pub place: Place,
    pub plan: Option<crate::model::Plan>,
    pub error: Option<String>,
}

/// Observe and plan every place at once, `concurrency` at a time; changes nothing.
/// The ports are borrowed, so a caller can plan again (`status --wait`).
pub async fn plan_everywhere<A: Aws>(
    ports: &[(Place, Result<A, String>)],
    config: &Config,
    retry: RetryPolicy,
) -> Vec<PlacePlan> {
    in_every_place(ports, config, |aws| async move {
        Engine::new(aws)
            .with_retry(retry)
            .plan(config)
            .await
            .map_err(|e| e.to_string())
    })
    .await
    .into_iter()
    .map(|(place, done)| match done.and_then(|plan| plan) {
        Ok(plan) => PlacePlan {
            place,
            plan: Some(plan),
            error: None,
        },
        Err(e) => PlacePlan {
            place,
            plan: None,
            error: Some(e),
        },
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        Config::from_toml(
            &format!(
                "{extra}\n[[target]]\nname = \"web\"\nlaunch_template = \"lt-0123456789abcdef0\"\nami_parameter = \"/p\"\ngroups = [\"asg\"]\n"
            ),
            "fleet.toml",
        )
        .expect("config")
    }

    fn regions(places: &[Place]) -> Vec<Option<&str>> {
        places.iter().map(|p| p.region.as_deref()).collect()
    }

    #[test]
    fn region_narrows_a_regions_list_and_names_an_unknown_one() {
        let c = config("regions = [\"us-east-1\", \"eu-west-1\"]");
        assert_eq!(
            regions(&places_in(&c, None).expect("all")),
            vec![Some("us-east-1"), Some("eu-west-1")]
        );
        assert_eq!(
            regions(&places_in(&c, Some("eu-west-1")).expect("one")),
            vec![Some("eu-west-1")]
        );
        let e = places_in(&c, Some("ap-south-1")).expect_err("not listed");
        assert!(
            e.contains("ap-south-1") && e.contains("us-east-1, eu-west-1"),
            "{e}"
        );
    }

    #[test]
    fn region_without_a_regions_list_is_the_region_of_every_account() {
        let c = config("");
        assert_eq!(regions(&places_in(&c, None).expect("default")), vec![None]);
        assert_eq!(
            regions(&places_in(&c, Some("eu-west-1")).expect("given")),
            vec![Some("eu-west-1")]
        );
    }
}
