//! Role-based access control (contract §8).

use std::collections::HashMap;
use std::path::Path;

use thiserror::Error;

/// Environment variable that turns enforcement on (`1`).
pub const RBAC_ENV: &str = "AUTONOMY_RBAC_ENFORCEMENT";

/// A role from the tokens file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// May GET.
    Viewer,
    /// May GET, create and roll back.
    Operator,
    /// Everything an operator may.
    Admin,
}

impl Role {
    /// Whether this role may send `method`.
    pub fn allows(self, method: &axum::http::Method) -> bool {
        use axum::http::Method;
        if matches!(*method, Method::GET | Method::HEAD) {
            return true;
        }
        matches!(self, Role::Operator | Role::Admin)
    }
}

/// A tokens file that could not be used.
#[derive(Debug, Error)]
pub enum TokensError {
    /// The file could not be read.
    #[error("reading tokens file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not `TOKEN ROLE`.
    #[error("tokens file {path} line {line}: {msg}")]
    Syntax {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        msg: String,
    },
}

/// Token → role.
#[derive(Debug, Clone, Default)]
pub struct Tokens(HashMap<String, Role>);

impl Tokens {
    /// Parses `TOKEN ROLE` lines; `#` starts a comment.
    pub fn load(path: &Path) -> Result<Self, TokensError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokensError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|(line, msg)| TokensError::Syntax {
            path: path.display().to_string(),
            line,
            msg,
        })
    }

    /// Parses the file's text; errors carry the 1-based line.
    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        let mut map = HashMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [token, role] = fields[..] else {
                return Err((i + 1, "expected `TOKEN ROLE`".into()));
            };
            let role = match role {
                "viewer" => Role::Viewer,
                "operator" => Role::Operator,
                "admin" => Role::Admin,
                other => return Err((i + 1, format!("unknown role {other:?}"))),
            };
            map.insert(token.to_owned(), role);
        }
        Ok(Self(map))
    }

    /// The role of a bearer token.
    pub fn role(&self, token: &str) -> Option<Role> {
        self.0.get(token).copied()
    }
}

/// Whether `AUTONOMY_RBAC_ENFORCEMENT` turns enforcement on; any value but unset/`0`/`1` is an error.
pub fn enforcement_from_env() -> Result<bool, String> {
    match std::env::var(RBAC_ENV).as_deref() {
        Err(_) | Ok("") | Ok("0") => Ok(false),
        Ok("1") => Ok(true),
        Ok(other) => Err(format!("{RBAC_ENV}={other:?}: expected 0 or 1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    #[test]
    fn parse_and_rights() {
        let t = Tokens::parse("# c\nv-tok viewer\n\no-tok operator # x\na-tok admin\n").unwrap();
        assert_eq!(t.role("v-tok"), Some(Role::Viewer));
        assert_eq!(t.role("nope"), None);
        assert!(Role::Viewer.allows(&Method::GET) && !Role::Viewer.allows(&Method::POST));
        assert!(Role::Operator.allows(&Method::POST) && Role::Admin.allows(&Method::POST));
        assert_eq!(Tokens::parse("a b c").unwrap_err().0, 1);
        assert!(Tokens::parse("a root").is_err());
    }
}
