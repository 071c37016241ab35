//! Wire types and input validation (contract §2–§4).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

/// Longest plan ID the contract allows.
pub const MAX_ID_LEN: usize = 128;

/// A stored rollout as the API returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    /// Plan ID.
    pub id: String,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// The spec, verbatim.
    pub spec: Value,
    /// `published`, `active` or `rolled_back`.
    pub phase: String,
    /// Retries executed.
    pub attempts: i64,
    /// RFC 3339 time of the last change.
    pub updated_at: String,
}

impl Rollout {
    /// The contract's JSON form.
    pub fn to_json(&self) -> Value {
        json!({
            "plan": {
                "metadata": {"id": self.id, "created_at": self.created_at},
                "spec": self.spec,
            },
            "phase": self.phase,
            "attempts": self.attempts,
            "updated_at": self.updated_at,
        })
    }
}

/// A rollback strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Move to `active` and count an attempt.
    Retry,
    /// Move to the terminal `rolled_back`.
    Rollback,
}

impl Strategy {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Retry => "retry",
            Strategy::Rollback => "rollback",
        }
    }
}

/// Formats a time as RFC 3339 UTC with microseconds.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Checks a plan ID: 1–128 of `[A-Za-z0-9._-]`, not `.` or `..`.
pub fn validate_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err("plan id must be 1-128 characters of [A-Za-z0-9._-], and not \".\" or \"..\"".into())
    }
}

/// A validated create request.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    /// Plan ID.
    pub id: String,
    /// The spec object, verbatim.
    pub spec: Value,
}

/// Returns `obj[key]` as an object, or a message naming the path.
fn object<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a Map<String, Value>, String> {
    match obj.get(key) {
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(format!("{path} must be an object")),
        None => Err(format!("{path} is required")),
    }
}

/// Returns `obj[key]` as a non-empty string, or a message naming the path.
fn non_empty_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a str, String> {
    match obj.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) => Err(format!("{path} must not be empty")),
        Some(_) => Err(format!("{path} must be a string")),
        None => Err(format!("{path} is required")),
    }
}

/// Parses a JSON body into an object, or a message.
fn parse_object(body: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("request body must be a JSON object".into()),
        Err(e) => Err(format!("malformed JSON body: {e}")),
    }
}

/// Validates a create body (contract §3 Create).
pub fn parse_create(body: &[u8]) -> Result<CreateRequest, String> {
    let root = parse_object(body)?;
    let plan = object(&root, "plan", "plan")?;
    let metadata = object(plan, "metadata", "plan.metadata")?;
    let id = match metadata.get("id") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err("plan.metadata.id must be a string".into()),
        None => return Err("plan.metadata.id is required".into()),
    };
    validate_id(&id)?;
    let spec = object(plan, "spec", "plan.spec")?;
    non_empty_str(spec, "artifact_ref", "plan.spec.artifact_ref")?;
    non_empty_str(
        spec,
        "target_lock_fingerprint",
        "plan.spec.target_lock_fingerprint",
    )?;
    Ok(CreateRequest {
        id,
        spec: Value::Object(spec.clone()),
    })
}

/// A validated rollback body.
#[derive(Debug, Clone)]
pub struct RollbackRequest {
    /// The strategy.
    pub strategy: Strategy,
    /// Why, for the audit log.
    pub reason: String,
    /// Who, for the audit log.
    pub actor: String,
}

/// Validates a rollback body (contract §3 Rollback execute).
pub fn parse_rollback(body: &[u8]) -> Result<RollbackRequest, String> {
    let root = parse_object(body)?;
    let strategy = match non_empty_str(&root, "strategy", "strategy")? {
        "retry" => Strategy::Retry,
        "rollback" => Strategy::Rollback,
        other => {
            return Err(format!(
                "unknown strategy {other:?}: expected \"retry\" or \"rollback\""
            ))
        }
    };
    Ok(RollbackRequest {
        strategy,
        reason: non_empty_str(&root, "reason", "reason")?.to_owned(),
        actor: non_empty_str(&root, "actor", "actor")?.to_owned(),
    })
}

/// The artifact schemes that `reject-corrupt-artifact` lets through.
pub fn artifact_scheme_ok(artifact_ref: &str) -> bool {
    ["oci://", "https://", "http://", "file://"]
        .iter()
        .any(|p| artifact_ref.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for good in ["a", "val08-n1-w1-b1", "A.b_c-9", &"x".repeat(128)] {
            assert!(validate_id(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "a\0b",
            "%2e%2e",
            &"x".repeat(129),
            "é",
        ] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn create_body() {
        let ok = br#"{"plan":{"metadata":{"id":"p1"},"spec":{"artifact_ref":"corrupt://x","target_lock_fingerprint":"f","extra":[1]}}}"#;
        let req = parse_create(ok).unwrap();
        assert_eq!(req.spec["extra"], json!([1]));
        for bad in [
            &b"{"[..],
            b"[]",
            br#"{"plan":{"metadata":{"id":1},"spec":{}}}"#,
            br#"{"plan":{"metadata":{"id":"p"},"spec":{"artifact_ref":"a"}}}"#,
            br#"{"plan":{"metadata":{"id":"p"},"spec":{"artifact_ref":"","target_lock_fingerprint":"f"}}}"#,
        ] {
            assert!(parse_create(bad).is_err());
        }
    }

    #[test]
    fn rollback_body() {
        assert!(parse_rollback(br#"{"strategy":"retry","reason":"r","actor":"a"}"#).is_ok());
        assert!(parse_rollback(br#"{"strategy":"explode","reason":"r","actor":"a"}"#).is_err());
        assert!(parse_rollback(br#"{"strategy":"retry","reason":"","actor":"a"}"#).is_err());
        assert!(parse_rollback(br#"{"strategy":"retry","reason":"r"}"#).is_err());
    }
}
