//! Command line: `serve`, `rollback execute`, `audit query`, `audit prune` (contract §1, §7).

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{Arg, ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::audit;
use crate::faults::Faults;
use crate::server::{self, ServeConfig, AUDIT_DIR_ENV};
use crate::variants::{Variants, VARIANT_ENV};

/// Exit code: control-plane unreachable.
pub const EXIT_UNREACHABLE: i32 = 3;
/// Exit code: 404.
pub const EXIT_NOT_FOUND: i32 = 4;
/// Exit code: any other 4xx.
pub const EXIT_REJECTED: i32 = 5;
/// Exit code: 5xx or timeout.
pub const EXIT_SERVER: i32 = 6;
/// Default CLI target.
pub const DEFAULT_CP_URL: &str = "http://127.0.0.1:18996";

/// The `autonomy` command line.
#[derive(Debug, Parser)]
#[command(
    name = "autonomy",
    version,
    about = "Reference fleet-rollout control-plane and CLI"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the control-plane server.
    Serve(ServeArgs),
    /// Rollback operations.
    Rollback {
        /// The rollback subcommand.
        #[command(subcommand)]
        command: RollbackCommand,
    },
    /// Audit log operations.
    Audit {
        /// The audit subcommand.
        #[command(subcommand)]
        command: AuditCommand,
    },
}

/// `autonomy serve` flags.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// API listen address (port 0: the kernel picks).
    #[arg(long)]
    pub listen: String,
    /// Metrics listen address.
    #[arg(long)]
    pub metrics_listen: String,
    /// Store directory.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Audit directory (else $AUTONOMY_AUDIT_DIR, else DATA_DIR/audit).
    #[arg(long)]
    pub audit_dir: Option<PathBuf>,
    /// `TOKEN ROLE` file used when AUTONOMY_RBAC_ENFORCEMENT=1.
    #[arg(long)]
    pub tokens_file: Option<PathBuf>,
    /// Where to write `{"listen","metrics","pid"}` once ready.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
}

/// `autonomy rollback ...`.
#[derive(Debug, Subcommand)]
pub enum RollbackCommand {
    /// Execute a retry or rollback on a rollout plan.
    Execute(ExecuteArgs),
}

/// The only target kind.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Target {
    /// A rollout plan.
    #[value(name = "rollout_plan")]
    RolloutPlan,
}

/// Strategies.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StrategyArg {
    /// Move to active, attempts + 1.
    Retry,
    /// Move to rolled_back.
    Rollback,
}

/// Output formats.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Output {
    /// One `key=value` line.
    Text,
    /// The server's JSON.
    Json,
}

/// `autonomy rollback execute` flags.
#[derive(Debug, Args)]
pub struct ExecuteArgs {
    /// What kind of resource.
    #[arg(long, value_enum)]
    pub target: Target,
    /// The plan ID.
    #[arg(long)]
    pub resource: String,
    /// retry or rollback.
    #[arg(long, value_enum)]
    pub strategy: StrategyArg,
    /// Why (goes to the audit log).
    #[arg(long)]
    pub reason: String,
    /// Control-plane URL.
    #[arg(long, env = "AUTONOMY_CP_URL", default_value = DEFAULT_CP_URL)]
    pub cp_url: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
    /// Request timeout in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
}

/// Only JSON output exists for `audit query`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum JsonOnly {
    /// A JSON array.
    Json,
}

/// `autonomy audit ...`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print matching events as a JSON array, oldest first.
    Query {
        /// Event type, e.g. rollback.executed.
        #[arg(long)]
        event_type: String,
        /// Only this actor.
        #[arg(long)]
        actor: Option<String>,
        /// Inclusive RFC 3339 lower bound.
        #[arg(long)]
        start_time: Option<DateTime<Utc>>,
        /// Inclusive RFC 3339 upper bound.
        #[arg(long)]
        end_time: Option<DateTime<Utc>>,
        /// Audit directory (else $AUTONOMY_AUDIT_DIR).
        #[arg(long, env = AUDIT_DIR_ENV)]
        audit_dir: PathBuf,
        /// Output format.
        #[arg(long, value_enum)]
        output: JsonOnly,
    },
    /// Delete day files older than an age.
    Prune {
        /// Age such as 31d or 12h.
        #[arg(long)]
        older_than: String,
        /// Audit directory (else $AUTONOMY_AUDIT_DIR).
        #[arg(long, env = AUDIT_DIR_ENV)]
        audit_dir: PathBuf,
    },
}

/// The flags the VAL plans name, by subcommand; variant `cli-strict-flags` refuses the
/// rest. `serve` is absent: it is how a harness starts the reference, not a plan command.
const PLAN_FLAGS: &[(&str, &str, &[&str])] = &[
    (
        "rollback",
        "execute",
        &["target", "resource", "strategy", "reason", "output"],
    ),
    (
        "audit",
        "query",
        &["event_type", "actor", "start_time", "output"],
    ),
    ("audit", "prune", &["older_than"]),
];

/// The command line as the variants shape it: under `cli-json-default`, `--output`
/// of `rollback execute` and `audit query` defaults to `json`.
fn command(variants: &Variants) -> clap::Command {
    let cmd = Cli::command();
    if !variants.cli_json_default {
        return cmd;
    }
    let json = |a: Arg| a.required(false).default_value("json");
    cmd.mut_subcommand("rollback", |c| {
        c.mut_subcommand("execute", |c| c.mut_arg("output", json))
    })
    .mut_subcommand("audit", |c| {
        c.mut_subcommand("query", |c| c.mut_arg("output", json))
    })
}

/// Variant `cli-strict-flags`: a usage error for any flag given on the command line
/// that the plans do not name. Environment values (`AUTONOMY_CP_URL`,
/// `AUTONOMY_AUDIT_DIR`) stay allowed: the plans configure the CLI through them.
fn refuse_unplanned_flags(cmd: &mut clap::Command, m: &ArgMatches) -> Result<(), clap::Error> {
    let Some((group, m)) = m.subcommand() else {
        return Ok(());
    };
    let Some((leaf, m)) = m.subcommand() else {
        return Ok(());
    };
    let Some((_, _, allowed)) = PLAN_FLAGS
        .iter()
        .find(|(g, l, _)| *g == group && *l == leaf)
    else {
        return Ok(());
    };
    let Some(sub) = cmd
        .find_subcommand_mut(group)
        .and_then(|c| c.find_subcommand_mut(leaf))
    else {
        return Ok(());
    };
    let refused = sub
        .get_arguments()
        .map(|a| a.get_id().as_str())
        .find(|id| !allowed.contains(id) && m.value_source(id) == Some(ValueSource::CommandLine))
        .map(str::to_owned);
    match refused {
        None => Ok(()),
        Some(id) => {
            let flags: Vec<String> = allowed
                .iter()
                .map(|a| format!("--{}", a.replace('_', "-")))
                .collect();
            Err(sub.error(
                ErrorKind::UnknownArgument,
                format!(
                    "unexpected argument '--{}' ({VARIANT_ENV}=cli-strict-flags accepts only {})",
                    id.replace('_', "-"),
                    flags.join(", ")
                ),
            ))
        }
    }
}

/// Prints a clap error (or help) and returns its exit code.
fn clap_exit(e: &clap::Error) -> i32 {
    let _ = e.print();
    e.exit_code()
}

/// Parses arguments and runs; returns the process exit code.
pub fn run() -> i32 {
    // Read before the arguments: the variants decide which arguments are valid.
    let (faults, variants) = match (Faults::from_env(), Variants::from_env()) {
        (Ok(f), Ok(v)) => (f, v),
        (Err(e), _) => {
            eprintln!("error: {e}");
            return 2;
        }
        (_, Err(e)) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let mut cmd = command(&variants);
    let matches = match cmd.try_get_matches_from_mut(std::env::args_os()) {
        Ok(m) => m,
        Err(e) => return clap_exit(&e),
    };
    if variants.cli_strict_flags {
        if let Err(e) = refuse_unplanned_flags(&mut cmd, &matches) {
            return clap_exit(&e);
        }
    }
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => return clap_exit(&e),
    };
    match cli.command {
        Command::Serve(args) => run_serve(args, faults, variants),
        Command::Rollback {
            command: RollbackCommand::Execute(args),
        } => run_execute(args, &faults),
        Command::Audit { command } => run_audit(command, &faults),
    }
}

/// Builds a tokio runtime or explains why not.
fn runtime(multi: bool) -> std::io::Result<tokio::runtime::Runtime> {
    if multi {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
}

/// `autonomy serve`.
fn run_serve(args: ServeArgs, faults: Faults, variants: Variants) -> i32 {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let rbac = match crate::rbac::enforcement_from_env() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let audit_dir = args
        .audit_dir
        .or_else(|| std::env::var_os(AUDIT_DIR_ENV).map(PathBuf::from))
        .unwrap_or_else(|| args.data_dir.join("audit"));
    let cfg = ServeConfig {
        listen: args.listen,
        metrics_listen: args.metrics_listen,
        data_dir: args.data_dir,
        audit_dir,
        tokens_file: args.tokens_file,
        ready_file: args.ready_file,
        rbac,
        faults,
        variants,
    };
    let rt = match runtime(true) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(server::serve(cfg)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

/// Joins an error and its sources into one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// `autonomy rollback execute`.
fn run_execute(args: ExecuteArgs, faults: &Faults) -> i32 {
    let rt = match runtime(false) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return 1;
        }
    };
    rt.block_on(execute(args, faults))
}

/// Sends the rollback request and maps the answer to an exit code.
async fn execute(args: ExecuteArgs, faults: &Faults) -> i32 {
    if faults.cli_forged_output {
        let (out, err) = crate::hostile::forged_cli_output(&args.resource);
        print!("{out}");
        eprint!("{err}");
        return EXIT_SERVER;
    }
    let base = args.cp_url.trim_end_matches('/');
    let url = format!("{base}/v1/rollouts/{}/rollback", args.resource);
    let actor = std::env::var("AUTONOMY_OPERATOR")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "bootstrap".into());
    let strategy = match args.strategy {
        StrategyArg::Retry => "retry",
        StrategyArg::Rollback => "rollback",
    };
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_millis(args.timeout_ms))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: building the HTTP client: {}", chain(&e));
            return 1;
        }
    };
    let mut req = client.post(&url).json(&serde_json::json!({
        "strategy": strategy,
        "reason": args.reason,
        "actor": actor,
    }));
    if let Ok(token) = std::env::var("AUTONOMY_TOKEN") {
        req = req.bearer_auth(token);
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) if e.is_connect() => {
            if faults.cli_exit_zero_on_connection_error {
                return 0;
            }
            if faults.cli_disconnected_wording {
                eprintln!("error: disconnected from the control-plane");
                return EXIT_UNREACHABLE;
            }
            let detail = chain(&e);
            let kind = if detail.to_ascii_lowercase().contains("connection refused") {
                "connection refused"
            } else {
                "cannot connect"
            };
            eprintln!("error: {kind}: control-plane unreachable at {base} (connect to {url} failed: {detail})");
            return EXIT_UNREACHABLE;
        }
        Err(e) if e.is_timeout() => {
            eprintln!(
                "error: request to {url} timed out after {} ms",
                args.timeout_ms
            );
            return EXIT_SERVER;
        }
        Err(e) => {
            eprintln!("error: request to {url} failed: {}", chain(&e));
            return EXIT_SERVER;
        }
    };
    let status = resp.status();
    let body = match resp.text().await {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: reading the answer from {url}: {}", chain(&e));
            return EXIT_SERVER;
        }
    };
    let json: Option<serde_json::Value> = serde_json::from_str(&body).ok();
    if status.is_success() {
        let Some(v) = json else {
            eprintln!("error: {url} answered {status} with a body that is not JSON: {body}");
            return EXIT_SERVER;
        };
        if args.output == Output::Json {
            println!("{v}");
        } else {
            let field = |k: &str| v[k].as_str().unwrap_or("").to_owned();
            println!(
                "outcome={} plan_id={} strategy={} phase_before={} phase_after={}",
                field("outcome"),
                field("plan_id"),
                field("strategy"),
                field("phase_before"),
                field("phase_after")
            );
        }
        return 0;
    }
    let (code, message) = json
        .as_ref()
        .map(|v| {
            (
                v["error"]["code"].as_str().unwrap_or("unknown").to_owned(),
                v["error"]["message"].as_str().unwrap_or("").to_owned(),
            )
        })
        .unwrap_or_else(|| ("unknown".into(), body.clone()));
    eprintln!("error: {status} {code}: {message}");
    if status == reqwest::StatusCode::NOT_FOUND {
        EXIT_NOT_FOUND
    } else if status.is_client_error() {
        EXIT_REJECTED
    } else {
        EXIT_SERVER
    }
}

/// `autonomy audit query|prune`.
fn run_audit(cmd: AuditCommand, faults: &Faults) -> i32 {
    match cmd {
        AuditCommand::Query {
            event_type,
            actor,
            start_time,
            end_time,
            audit_dir,
            output: JsonOnly::Json,
        } => {
            let q = audit::Query {
                event_type: Some(event_type),
                actor: actor.filter(|_| !faults.audit_ignore_actor),
                start: start_time.filter(|_| !faults.audit_ignore_window),
                end: end_time.filter(|_| !faults.audit_ignore_window),
            };
            match audit::query(&audit_dir, &q) {
                Ok((events, bad)) => {
                    if bad > 0 {
                        eprintln!(
                            "warning: skipped {bad} unreadable audit line(s) in {}",
                            audit_dir.display()
                        );
                    }
                    match serde_json::to_string(&events) {
                        Ok(s) => {
                            println!("{s}");
                            0
                        }
                        Err(e) => {
                            eprintln!("error: encoding events: {e}");
                            1
                        }
                    }
                }
                Err(e) => {
                    eprintln!("error: reading audit dir {}: {e}", audit_dir.display());
                    1
                }
            }
        }
        AuditCommand::Prune {
            older_than,
            audit_dir,
        } => {
            let age = match audit::parse_age(&older_than) {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("error: {e}");
                    return 2;
                }
            };
            match audit::prune(&audit_dir, age, Utc::now()) {
                Ok(n) => {
                    println!("pruned={n}");
                    0
                }
                Err(e) => {
                    eprintln!("error: pruning {}: {e}", audit_dir.display());
                    1
                }
            }
        }
    }
}
