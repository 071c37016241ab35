//! The one way fleetval reads its environment variables (a leaf module).
//!
//! A variable set to an empty or blank string counts as unset, so that
//! `AUTONOMY_BIN= cargo nextest run` in a shell means "not given", not "the binary
//! with an empty path".

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Environment variables passed through from the harness's environment to children.
pub const ENV_WHITELIST: &[&str] = &["PATH", "HOME", "RUST_LOG", "RUST_BACKTRACE", "TZ", "LANG"];

/// The value of `name`, trimmed of nothing, when it is set and not blank.
pub fn nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `name` as a path, when set and not blank.
pub fn path(name: &str) -> Option<PathBuf> {
    nonempty(name).map(PathBuf::from)
}

/// True when `name` is exactly `1` (the project's only spelling of "on").
pub fn flag(name: &str) -> bool {
    nonempty(name).as_deref() == Some("1")
}

/// `name` parsed as `T`, when set and not blank; a value that does not parse is an
/// error naming the variable, never silently the default.
pub fn parsed<T: std::str::FromStr>(name: &str) -> Result<Option<T>, String>
where
    T::Err: std::fmt::Display,
{
    match nonempty(name) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|e| format!("{name}={v:?}: {e}")),
    }
}

/// The whitelisted part of the harness environment that children may see.
pub fn base_env() -> BTreeMap<String, String> {
    ENV_WHITELIST
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect()
}
