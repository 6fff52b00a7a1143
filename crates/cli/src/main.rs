//! `amiroll`: keep EC2 Auto Scaling fleets on the newest AMI.
//!
//! A thin binary over `amiroll-core`: parse flags, load the configuration, connect (AWS or the
//! simulated account), run the engine, print the result, exit with a meaningful code. Logs go to
//! stderr, results to stdout.

mod demo;
mod status;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use amiroll_aws::{AwsAdapter, ConnectOptions};
use amiroll_core::config::{Config, RetryMode};
use amiroll_core::fleet::{self, Place};
use amiroll_core::output::{CliOutput, OutputCommand};
use amiroll_core::{render, Engine};
use anyhow::{bail, Context};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

/// `amiroll --version`: the package version and the commit it was built from (build.rs).
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("AMIROLL_COMMIT"), ")");

#[derive(Parser, Debug)]
#[command(
    name = "amiroll",
    version = VERSION,
    about = "Keep EC2 Auto Scaling fleets (ECS container instances first) on the newest AMI, safely.",
    after_help = "Exit codes, in every command: 0 = all current or succeeded, 2 = not current yet (drift, rolling, waiting), 1 = an error or a failure (apply and rollback: 0 or 1).\nConfiguration: --config FILE, or the seed Lambda's environment variables launch_template_id, image_id_ssm_parameter, sns_arn, asg_name."
)]
struct Cli {
    /// TOML configuration: a file (see examples/amiroll.toml), or `ssm:/path/to/parameter` for
    /// the SSM parameter the Lambda reads (AMIROLL_CONFIG_PARAMETER). Without it, the seed's
    /// environment variables are used.
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "AMIROLL_CONFIG_FILE",
        value_name = "FILE|ssm:NAME"
    )]
    config: Option<String>,
    /// AWS Region (default: the standard chain, e.g. AWS_REGION or the profile).
    #[arg(long, global = true)]
    region: Option<String>,
    /// Named profile from the shared AWS config files.
    #[arg(long, global = true)]
    profile: Option<String>,
    /// Send every AWS call to this endpoint (e.g. a local emulator). AWS_ENDPOINT_URL also works.
    #[arg(long, global = true)]
    endpoint_url: Option<String>,
    /// Only these targets (repeatable).
    #[arg(long = "target", short = 't', global = true)]
    targets: Vec<String>,
    /// Output format for results on stdout.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// SDK attempts per AWS call (default: `aws_max_attempts` in the config, else the SDK's 3).
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_attempts: Option<u32>,
    /// SDK retry mode: standard, or adaptive (client-side rate limiting after throttling).
    #[arg(long, global = true, value_enum)]
    retry_mode: Option<RetryModeArg>,
    /// More logs on stderr (-v debug, -vv trace).
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Log lines on stderr as text, or as one JSON object per line (for log collectors). Colours
    /// only when stderr is a terminal.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RetryModeArg {
    Standard,
    Adaptive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Is every target on its newest AMI? Exit 0 all current, 2 drift found, 1 error.
    Check,
    /// The actions a run would take, each with its reason. Exit codes like `check`.
    Plan,
    /// Observe, plan and make the changes (or, with --dry-run, show them and change nothing).
    Apply {
        /// Print what would be done; change nothing, send no notification.
        #[arg(long)]
        dry_run: bool,
        /// Clear the recorded failure of this target's last rollout and try its AMI again
        /// (repeatable).
        #[arg(long, value_name = "TARGET")]
        acknowledge: Vec<String>,
    },
    /// Per target and group: AMI in use vs target, instances per AMI, the rollout in flight and
    /// the last outcome. Exit 0 when all is current, 1 on a failure or an error, 2 otherwise.
    Status {
        /// Follow the rollouts in flight with a progress bar until they end; exit 0 when every
        /// target is current, 1 on failure or rollback, 2 otherwise.
        #[arg(long)]
        wait: bool,
        /// Seconds between observations with --wait.
        #[arg(long, default_value_t = 15, value_name = "SECONDS")]
        interval: u64,
        /// Give up waiting after this many seconds (exit 2).
        #[arg(long, default_value_t = 4 * 3600, value_name = "SECONDS")]
        timeout: u64,
    },
    /// Roll the named targets back: an instance refresh in flight is rolled back by Auto Scaling;
    /// otherwise the previous version becomes the default again and the groups are rolled back
    /// to it with the target's strategy. The AMI rolled away from is not rolled to again until a
    /// newer one is published or the failure is acknowledged.
    Rollback {
        /// The targets to roll back.
        #[arg(required = true, value_name = "TARGET")]
        targets: Vec<String>,
        /// Print what would be done; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// A whole rollout against a simulated AWS account, in virtual time. No AWS account needed.
    Demo,
    /// Print the least-privilege IAM policy for the configuration: exactly the actions its
    /// targets' strategies and features call, scoped to their templates, groups, parameters and
    /// topics. Makes no AWS call. Region from --region, account from --account-id (else `*`).
    IamPolicy {
        /// `json`: the policy document; `cloudformation`: a template with an
        /// AWS::IAM::ManagedPolicy holding it (Region/account default to the stack's).
        #[arg(long, value_enum, default_value_t = PolicyFormat::Json)]
        format: PolicyFormat,
        /// The 12-digit account id in the ARNs.
        #[arg(long, value_name = "ACCOUNT_ID")]
        account_id: Option<String>,
        /// The role of the launch templates' instance profile (repeatable): Auto Scaling checks
        /// iam:PassRole for it when amiroll pins a group or starts an instance refresh.
        #[arg(long = "pass-role", value_name = "ROLE_ARN")]
        pass_roles: Vec<String>,
    },
    /// Print a shell completion script (e.g. `amiroll completions bash >
    /// /etc/bash_completion.d/amiroll`, or `amiroll completions zsh > "${fpath[1]}/_amiroll"`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `amiroll man > /usr/local/share/man/man1/amiroll.1`.
    Man,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PolicyFormat {
    Json,
    Cloudformation,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("amiroll: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let json_output = cli.output == Output::Json;
    let command = output_command(&cli.command);
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("amiroll: error: {e:#}");
            if json_output {
                // Machines reading stdout get the same document, with the error.
                let doc = CliOutput::error(command, format!("{e:#}"));
                if let Ok(text) = json(&doc) {
                    let _ = print(&text);
                }
            }
            ExitCode::from(1)
        }
    }
}

/// The command a JSON document answers (`None`: the command prints no document).
fn output_command(command: &Command) -> Option<OutputCommand> {
    match command {
        Command::Check => Some(OutputCommand::Check),
        Command::Plan => Some(OutputCommand::Plan),
        Command::Apply { .. } => Some(OutputCommand::Apply),
        Command::Rollback { .. } => Some(OutputCommand::Rollback),
        Command::Status { .. } => Some(OutputCommand::Status),
        _ => None,
    }
}

fn init_logging(verbose: u8, format: LogFormat) {
    let level = match verbose {
        0 => "warn",
        1 => "amiroll=debug,amiroll_core=debug,amiroll_aws=debug,info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("AMIROLL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
        // Escape codes only for a person at a terminal, not in CI logs or files.
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
}

/// The SSM parameter named by `--config ssm:NAME`.
fn config_parameter(config: &str) -> Option<&str> {
    config.strip_prefix("ssm:").map(str::trim)
}

async fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let mut config = match &cli.config {
        Some(source) if config_parameter(source).is_some() => {
            let name = config_parameter(source).unwrap_or_default();
            if name.is_empty() {
                bail!("--config ssm: needs a parameter name, e.g. --config ssm:/amiroll/config");
            }
            // The same read as the Lambda's (AMIROLL_CONFIG_PARAMETER), in the Region and with
            // the credentials of --region/--profile.
            let aws = AwsAdapter::load(&connect_options(cli, cli.region.clone(), None, None))
                .await
                .context("cannot set up AWS clients to read the configuration parameter")?;
            let text = read_config_parameter(&aws, name).await?;
            Config::from_toml(&text, &format!("SSM parameter {name}"))?
        }
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read configuration file {path}"))?;
            Config::from_toml(&text, path)?
        }
        None => {
            let env = |k: &str| std::env::var(k).ok();
            if !Config::seed_env_present(env) {
                bail!("no configuration: pass --config amiroll.toml (see examples/amiroll.toml) or set the seed's environment variables launch_template_id, image_id_ssm_parameter, sns_arn and asg_name");
            }
            Config::from_seed_env(env)?
        }
    };
    let mut selected = cli.targets.clone();
    if let Command::Rollback { targets, .. } = &cli.command {
        selected.extend(targets.iter().cloned());
    }
    config.select(&selected)?;
    Ok(config)
}

/// The TOML held by an SSM parameter (`ssm:GetParameters`, one name).
async fn read_config_parameter<A: amiroll_core::port::Aws>(
    aws: &A,
    name: &str,
) -> anyhow::Result<String> {
    let out = aws
        .get_parameters(&[name.to_string()])
        .await
        .with_context(|| format!("cannot read the configuration parameter {name}"))?;
    match out.parameters.into_iter().next() {
        Some(p) => Ok(p.value),
        None => bail!(
            "the configuration parameter {name} does not exist (GetParameters lists it as invalid)"
        ),
    }
}

/// How to connect for a place (or, without one, with the command line's Region and profile).
fn connect_options(
    cli: &Cli,
    region: Option<String>,
    config: Option<&Config>,
    account: Option<&amiroll_core::config::RawAccount>,
) -> ConnectOptions {
    ConnectOptions {
        region,
        profile: cli.profile.clone(),
        endpoint_url: cli.endpoint_url.clone(),
        max_attempts: cli
            .max_attempts
            .or(config.and_then(|c| c.scope.aws_max_attempts)),
        retry_mode_adaptive: match cli.retry_mode {
            Some(m) => m == RetryModeArg::Adaptive,
            None => config.is_some_and(|c| c.scope.aws_retry_mode == RetryMode::Adaptive),
        },
        role_arn: account.map(|a| a.role_arn.clone()),
        external_id: account.and_then(|a| a.external_id.clone()),
    }
}

pub(crate) fn print(out: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|_| stdout.flush())
    {
        // A closed pipe (`amiroll plan | head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

fn json<T: serde::Serialize>(value: &T) -> anyhow::Result<String> {
    Ok(format!("{}\n", serde_json::to_string_pretty(value)?))
}

async fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Demo => {
            let text = demo::run().await?;
            print(&text)?;
            return Ok(0);
        }
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "amiroll", &mut out);
            print(&String::from_utf8_lossy(&out))?;
            return Ok(0);
        }
        Command::Man => {
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut out)
                .context("cannot render the manual page")?;
            print(&String::from_utf8_lossy(&out))?;
            return Ok(0);
        }
        _ => {}
    }
    let config = load_config(&cli).await?;
    if let Command::IamPolicy {
        format,
        ref account_id,
        ref pass_roles,
    } = cli.command
    {
        print(&iam_policy(
            &config,
            cli.region.as_deref(),
            account_id.as_deref(),
            pass_roles,
            format,
        )?)?;
        return Ok(0);
    }
    // Every account × region the configuration covers; one connection each.
    let places = fleet::places_in(&config, cli.region.as_deref()).map_err(anyhow::Error::msg)?;
    let mut ports: Vec<(Place, Result<AwsAdapter, String>)> = Vec::new();
    for place in &places {
        let account = place
            .account
            .as_ref()
            .and_then(|id| config.scope.accounts.iter().find(|a| &a.id == id));
        let options = connect_options(
            &cli,
            place.region.clone().or(cli.region.clone()),
            Some(&config),
            account,
        );
        let port = AwsAdapter::load(&options)
            .await
            .map_err(|e| format!("{e:#}"));
        ports.push((place.clone(), port));
    }
    if ports.len() > 1 {
        return many_places(&cli, &config, ports).await;
    }
    let Some((place, port)) = ports.pop() else {
        bail!("no place to run in");
    };
    let aws = port
        .map_err(|e| anyhow::anyhow!(e))
        .context("cannot set up AWS clients")?;
    let engine = Engine::new(&aws);
    let code = match cli.command {
        Command::Check | Command::Plan => {
            let plan = engine.plan(&config).await?;
            let code = plan.exit_code();
            let out = match (cli.output, &cli.command) {
                (Output::Json, _) => json(&one_plan(&cli.command, place, plan))?,
                (Output::Text, Command::Check) => render::check_text(&plan),
                (Output::Text, _) => render::plan_text(&plan),
            };
            print(&out)?;
            code
        }
        Command::Apply {
            dry_run,
            ref acknowledge,
        } => {
            for t in acknowledge {
                // Discovered targets are only known when the command runs.
                if config.discover.is_none() && !config.targets.iter().any(|x| &x.name == t) {
                    bail!("--acknowledge names `{t}`, which is not a target");
                }
            }
            let opts = amiroll_core::planner::PlanOptions {
                acknowledge: acknowledge.iter().cloned().collect(),
            };
            let report = engine.run_with(&config, dry_run, &opts).await?;
            let code = report.exit_code();
            let out = match cli.output {
                Output::Json => json(&one_report(OutputCommand::Apply, place, report))?,
                Output::Text => render::report_text(&report),
            };
            print(&out)?;
            code
        }
        Command::Rollback { dry_run, .. } => {
            let report = engine.rollback(&config, dry_run).await?;
            let code = report.rollback_exit_code();
            let out = match cli.output {
                Output::Json => json(&one_report(OutputCommand::Rollback, place, report))?,
                Output::Text => render::report_text(&report),
            };
            print(&out)?;
            code
        }
        Command::Status {
            wait,
            interval,
            timeout,
        } => {
            status::run(
                &engine,
                place,
                &config,
                cli.output == Output::Json,
                wait,
                interval,
                timeout,
            )
            .await?
        }
        Command::Demo | Command::IamPolicy { .. } | Command::Completions { .. } | Command::Man => 0,
    };
    tracing::debug!(calls = ?engine.call_counts(), "AWS calls made");
    Ok(u8::try_from(code).unwrap_or(1))
}

/// The JSON document of a plan in one place.
fn one_plan(command: &Command, place: Place, plan: amiroll_core::model::Plan) -> CliOutput {
    let command = output_command(command).unwrap_or(OutputCommand::Plan);
    CliOutput::from_plans(
        command,
        vec![fleet::PlacePlan {
            place,
            plan: Some(plan),
            error: None,
        }],
    )
}

/// The JSON document of a report in one place.
fn one_report(
    command: OutputCommand,
    place: Place,
    report: amiroll_core::engine::ApplyReport,
) -> CliOutput {
    CliOutput::from_reports(
        command,
        vec![fleet::PlaceReport {
            place,
            report: Some(report),
            error: None,
            calls: Default::default(),
        }],
    )
}

/// Several accounts or regions: plan or apply everywhere at once (bounded), one report per place.
/// One place failing does not stop the others; the output says which failed.
async fn many_places(
    cli: &Cli,
    config: &Config,
    ports: Vec<(Place, Result<AwsAdapter, String>)>,
) -> anyhow::Result<u8> {
    let retry = amiroll_core::RetryPolicy::default();
    let code = match &cli.command {
        Command::Check | Command::Plan => {
            let plans = fleet::plan_everywhere(&ports, config, retry).await;
            let doc = CliOutput::from_plans(
                output_command(&cli.command).unwrap_or(OutputCommand::Plan),
                plans.clone(),
            );
            if cli.output == Output::Json {
                print(&json(&doc)?)?;
            } else {
                let mut out = String::new();
                for p in &plans {
                    out.push_str(&format!("== {}\n", p.place));
                    match (&p.plan, &p.error) {
                        (Some(plan), _) if matches!(cli.command, Command::Check) => {
                            out.push_str(&render::check_text(plan))
                        }
                        (Some(plan), _) => out.push_str(&render::plan_text(plan)),
                        (None, e) => out.push_str(&format!(
                            "FAILED: {}\n\n",
                            e.clone().unwrap_or_default()
                        )),
                    }
                }
                print(&out)?;
            }
            doc.exit_code
        }
        Command::Apply {
            dry_run,
            acknowledge,
        } => {
            let opts = amiroll_core::planner::PlanOptions {
                acknowledge: acknowledge.iter().cloned().collect(),
            };
            let reports = fleet::apply_everywhere(&ports, config, *dry_run, &opts, retry).await;
            let code = i32::from(reports.iter().any(|r| r.failed()));
            if cli.output == Output::Json {
                print(&json(&CliOutput::from_reports(
                    OutputCommand::Apply,
                    reports,
                ))?)?;
            } else {
                let mut out = String::new();
                for r in &reports {
                    out.push_str(&format!("== {}\n", r.place));
                    match (&r.report, &r.error) {
                        (Some(report), _) => out.push_str(&render::report_text(report)),
                        (None, e) => out.push_str(&format!(
                            "FAILED: {}\n\n",
                            e.clone().unwrap_or_default()
                        )),
                    }
                }
                let failed: Vec<String> = reports
                    .iter()
                    .filter(|r| r.failed())
                    .map(|r| r.place.to_string())
                    .collect();
                if !failed.is_empty() {
                    out.push_str(&format!("failed in: {}\n", failed.join(", ")));
                }
                print(&out)?;
            }
            code
        }
        Command::Status {
            wait,
            interval,
            timeout,
        } => {
            status::run_many(
                &ports,
                config,
                cli.output == Output::Json,
                *wait,
                *interval,
                *timeout,
            )
            .await?
        }
        _ => bail!(
            "`{}` works on one account and region at a time: pass --region (and a configuration without [[account]])",
            match cli.command {
                Command::Rollback { .. } => "rollback",
                _ => "this command",
            }
        ),
    };
    Ok(u8::try_from(code).unwrap_or(1))
}

/// `amiroll iam-policy`: the document (or a CloudFormation template holding it) on stdout, notes
/// for the person deploying it on stderr.
fn iam_policy(
    config: &Config,
    region: Option<&str>,
    account: Option<&str>,
    pass_roles: &[String],
    format: PolicyFormat,
) -> anyhow::Result<String> {
    use amiroll_core::iam;
    if let Some(a) = account {
        if a.len() != 12 || !a.chars().all(|c| c.is_ascii_digit()) {
            bail!("--account-id must be a 12-digit AWS account id, got `{a}`");
        }
    }
    for r in pass_roles {
        if !(r.starts_with("arn:") && r.contains(":iam::") && r.contains(":role/")) {
            bail!(
                "--pass-role must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME), got `{r}`"
            );
        }
    }
    let cloudformation = format == PolicyFormat::Cloudformation;
    // In a template, what is not given is the stack's own Region, account and partition.
    let options = iam::Options {
        region: region.or(cloudformation.then_some("${AWS::Region}")),
        account: account.or(cloudformation.then_some("${AWS::AccountId}")),
        partition: (cloudformation && region.is_none()).then_some("${AWS::Partition}"),
        pass_roles,
    };
    for note in iam::notes(config, &options) {
        eprintln!("amiroll: note: {note}");
    }
    let doc = iam::policy_with(config, &options);
    Ok(if cloudformation {
        iam::cloudformation(&doc, &config.source)
    } else {
        format!("{}\n", doc.to_json())
    })
}
