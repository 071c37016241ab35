//! Which control-plane a lab exercises, the reference binary, and the plans' ports.

use std::path::{Path, PathBuf};

use val_core::env;
use val_core::evidence::BinaryInfo;

use super::error::{io, CpError};

/// Plan ports `(listen, metrics)` reproduced when `FLEETVAL_FIXED_PORTS=1`.
pub const PLAN_PORTS: &[(&str, u16, u16)] = &[
    ("val08", 18993, 19093),
    ("val11", 18996, 19096),
    ("val12", 19000, 19100),
];

/// The control-plane the harness targets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The reference `autonomy` built from this workspace.
    Reference,
    /// Another binary (`AUTONOMY_BIN`), optionally with a launch template (`AUTONOMY_CP_ARGS`).
    Binary {
        /// Path of the binary.
        path: PathBuf,
        /// Launch template with `{listen} {metrics} {data_dir} {audit_dir}`.
        args_template: Option<String>,
    },
    /// An already-running control-plane (`AUTONOMY_CP_URL`, `AUTONOMY_METRICS_URL`).
    Remote {
        /// API base URL.
        url: String,
        /// Metrics base URL, when given.
        metrics_url: Option<String>,
    },
}

impl Target {
    /// The target made by `AUTONOMY_CP_URL`, `AUTONOMY_BIN` and `AUTONOMY_CP_ARGS`.
    pub fn from_env() -> Target {
        if let Some(url) = env::nonempty("AUTONOMY_CP_URL") {
            return Target::Remote {
                url: url.trim_end_matches('/').to_string(),
                metrics_url: env::nonempty("AUTONOMY_METRICS_URL")
                    .map(|u| u.trim_end_matches('/').to_string()),
            };
        }
        if let Some(bin) = env::nonempty("AUTONOMY_BIN") {
            return Target::Binary {
                path: PathBuf::from(bin),
                args_template: env::nonempty("AUTONOMY_CP_ARGS"),
            };
        }
        Target::Reference
    }

    /// `reference`, `binary` or `remote`, as recorded in the manifest.
    pub fn mode(&self) -> &'static str {
        match self {
            Target::Reference => "reference",
            Target::Binary { .. } => "binary",
            Target::Remote { .. } => "remote",
        }
    }

    /// Why process-level operations are impossible, for a remote control-plane.
    pub fn not_controllable_reason(&self) -> Option<String> {
        match self {
            Target::Remote { url, .. } => Some(format!(
                "the control-plane at {url} was not started by the harness (AUTONOMY_CP_URL), so it cannot be killed, paused or restarted"
            )),
            _ => None,
        }
    }

    /// The binary to use for the `autonomy` CLI: `AUTONOMY_CLI`, else `AUTONOMY_BIN`,
    /// else the reference build.
    pub fn cli_binary(&self) -> Result<PathBuf, CpError> {
        if let Some(cli) = separate_cli() {
            return Ok(cli);
        }
        match self {
            Target::Binary { path, .. } => Ok(path.clone()),
            Target::Remote { .. } => match env::nonempty("AUTONOMY_BIN") {
                Some(p) => Ok(PathBuf::from(p)),
                None => reference_binary(),
            },
            Target::Reference => reference_binary(),
        }
    }
}

/// The operator CLI when it is a binary of its own (`AUTONOMY_CLI`): every suite
/// runs `rollback execute` / `audit query` with it instead of the server binary.
pub fn separate_cli() -> Option<PathBuf> {
    env::nonempty("AUTONOMY_CLI").map(PathBuf::from)
}

/// Path, sha256 and `--version` of the separate CLI (`AUTONOMY_CLI`), for the
/// manifest and `target.json`; `None` when the CLI is the server binary.
pub fn separate_cli_info() -> Result<Option<BinaryInfo>, CpError> {
    separate_cli().map(|p| binary_info(&p)).transpose()
}

/// Whether `FLEETVAL_FIXED_PORTS=1` asks for the plans' fixed ports.
pub fn fixed_ports_enabled() -> bool {
    env::flag("FLEETVAL_FIXED_PORTS")
}

/// The plan's `(listen, metrics)` ports of a suite, if the plan names them.
pub fn plan_ports(suite: &str) -> Option<(u16, u16)> {
    PLAN_PORTS
        .iter()
        .find(|(s, _, _)| *s == suite)
        .map(|(_, l, m)| (*l, *m))
}

/// [`BinaryInfo::of`] with the error as a lifecycle error.
pub fn binary_info(path: &Path) -> Result<BinaryInfo, CpError> {
    BinaryInfo::of(path).map_err(|e| CpError::Io {
        what: format!("hash {}", path.display()),
        source: std::io::Error::other(e.to_string()),
    })
}

/// The reference control-plane's entry point, for the thin `<package>-autonomy` binary
/// each test package declares (see [`reference_binary`]). The process renames itself
/// `autonomy`, so it reads as the control-plane it is in `ps` and `pgrep -x autonomy`.
///
/// This is the one reason val-support depends on `autonomy-cp`: cargo hands a test only
/// the binaries of its own package (`CARGO_BIN_EXE_<name>`), so each test package needs
/// the reference as a target of its own, built by the same command. The reference's own
/// tests use this harness as a dev-dependency; that dev-dependency cycle is the one
/// cargo permits, and their test binary links a single `autonomy-cp` library (the one
/// the `autonomy` binary is built from). Removing the dependency instead would move
/// `autonomy-cp` into every suite's manifest and leave val-support's own lifecycle
/// tests without a reference binary of their package.
pub fn reference_main() -> i32 {
    let _ = nix::sys::prctl::set_name(c"autonomy");
    autonomy_cp::cli::run()
}

/// Suffix of the name of every test package's reference binary target.
const REFERENCE_BIN_SUFFIX: &str = "autonomy";

/// The reference `autonomy` binary, built by the same cargo invocation as the tests:
/// every test package declares a thin binary target `<package>-autonomy` (calling
/// [`reference_main`]), whose path cargo and nextest hand to the test at run time as
/// `CARGO_BIN_EXE_<name>` / `NEXTEST_BIN_EXE_<name>`. Outside a test (the `soak`
/// program), the newest `autonomy` or `*-autonomy` executable beside the running
/// program is used. Nothing is ever built from here: a stale or missing binary is
/// reported, not rebuilt behind the user's back.
pub fn reference_binary() -> Result<PathBuf, CpError> {
    let from_env: std::collections::BTreeSet<PathBuf> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let k = k.to_str()?;
            let name = k
                .strip_prefix("CARGO_BIN_EXE_")
                .or_else(|| k.strip_prefix("NEXTEST_BIN_EXE_"))?;
            name.ends_with(REFERENCE_BIN_SUFFIX)
                .then(|| PathBuf::from(v))
        })
        .collect();
    match from_env.len() {
        1 => return Ok(from_env.into_iter().next().expect("one")),
        0 => {}
        _ => {
            return Err(CpError::Build(format!(
                "more than one reference binary in the environment: {from_env:?}"
            )))
        }
    }
    let exe = std::env::current_exe().map_err(io("locate the running program"))?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    newest_reference_beside(dir).ok_or_else(|| {
        CpError::Build(format!(
            "no reference binary: not run by cargo test or cargo nextest, and no `autonomy` or \
             `*-autonomy` executable in {} (build it with the same cargo command, e.g. \
             `cargo build -p val12`, or set AUTONOMY_BIN)",
            dir.display()
        ))
    })
}

/// The most recently built `autonomy` / `*-autonomy` executable in `dir`.
fn newest_reference_beside(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name == REFERENCE_BIN_SUFFIX || name.ends_with(&format!("-{REFERENCE_BIN_SUFFIX}"))
        })
        .filter_map(|e| {
            let md = e.metadata().ok()?;
            (md.is_file()).then(|| (md.modified().ok(), e.path()))
        })
        .max_by_key(|(t, _)| *t)
        .map(|(_, p)| p)
}
