//! Test-only variants (contract §11), parsed once from `AUTONOMY_VARIANT`.
//!
//! Unlike a fault, a variant is behaviour a valid control-plane may have where the
//! contract leaves a choice open. The suites must PASS against every variant; each one
//! exists to catch a harness that relies on a choice only the reference makes.

use thiserror::Error;

use crate::envlist;

/// The environment variable that names the active variants.
pub const VARIANT_ENV: &str = "AUTONOMY_VARIANT";

/// A variant list that could not be parsed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum VariantError {
    /// The name is not one of contract §11.
    #[error(
        "unknown variant {0:?} in {VARIANT_ENV} (known: cli-json-default, cli-strict-flags, \
         stuck-creation-order, stuck-ignore-limit)"
    )]
    Unknown(String),
    /// Variants are names only.
    #[error("variant {0:?} in {VARIANT_ENV} takes no value")]
    TakesNoValue(String),
}

/// Every variant of contract §11; `false` means the reference's own behaviour.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Variants {
    /// `rollback execute` and `audit query` print JSON unless `--output` says otherwise.
    pub cli_json_default: bool,
    /// The CLI refuses every flag the plans do not name.
    pub cli_strict_flags: bool,
    /// The stuck scan lists (and cuts at `limit`) in creation order, not oldest update first.
    pub stuck_creation_order: bool,
    /// The stuck scan ignores `limit` and returns every stuck plan.
    pub stuck_ignore_limit: bool,
}

impl Variants {
    /// Reads `AUTONOMY_VARIANT`; unset or empty means the reference's behaviour.
    pub fn from_env() -> Result<Self, VariantError> {
        envlist::from_env(VARIANT_ENV, Self::parse)
    }

    /// Parses a comma-separated list of variant names.
    pub fn parse(spec: &str) -> Result<Self, VariantError> {
        let mut v = Self::default();
        for (name, value) in envlist::items(spec) {
            if value.is_some() {
                return Err(VariantError::TakesNoValue(name.to_owned()));
            }
            let field = match name {
                "cli-json-default" => &mut v.cli_json_default,
                "cli-strict-flags" => &mut v.cli_strict_flags,
                "stuck-creation-order" => &mut v.stuck_creation_order,
                "stuck-ignore-limit" => &mut v.stuck_ignore_limit,
                other => return Err(VariantError::Unknown(other.to_owned())),
            };
            *field = true;
        }
        Ok(v)
    }

    /// True when no variant is active.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_variant() {
        let v = Variants::parse(
            "cli-json-default, cli-strict-flags,stuck-creation-order,stuck-ignore-limit",
        )
        .unwrap();
        assert!(v.cli_json_default && v.cli_strict_flags);
        assert!(v.stuck_creation_order && v.stuck_ignore_limit);
        let v = Variants::parse("stuck-creation-order").unwrap();
        assert!(v.stuck_creation_order && !v.cli_json_default && !v.stuck_ignore_limit);
        assert!(Variants::parse("").unwrap().is_empty());
        assert!(Variants::parse(" , ").unwrap().is_empty());
    }

    #[test]
    fn rejects_unknown_names_and_values() {
        let e = Variants::parse("cli-json-default,health-fail").unwrap_err();
        assert_eq!(e, VariantError::Unknown("health-fail".into()));
        assert!(e.to_string().contains(VARIANT_ENV), "{e}");
        assert_eq!(
            Variants::parse("cli-strict-flags=1"),
            Err(VariantError::TakesNoValue("cli-strict-flags".into()))
        );
    }
}
