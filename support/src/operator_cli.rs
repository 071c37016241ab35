//! The operator CLI calls of contract §7 that the plans name (`rollback execute`,
//! `audit query`) as typed calls: their flags are spelled out here once, for the
//! suites, the harness's own tests and the reference's tests. Each builds the argument
//! list (for a test that adds or removes flags) and runs it on a [`Cli`].

use crate::client::{Cli, CliRun};

/// The audit event type of an executed rollback.
pub const ROLLBACK_EXECUTED: &str = "rollback.executed";

/// `autonomy rollback execute` of one rollout plan with exactly the plans' flags:
/// `--target rollout_plan --resource R --strategy S --reason X`.
pub fn rollback_execute(resource: &str, strategy: &str, reason: &str) -> Vec<String> {
    [
        "rollback",
        "execute",
        "--target",
        "rollout_plan",
        "--resource",
        resource,
        "--strategy",
        strategy,
        "--reason",
        reason,
    ]
    .map(str::to_string)
    .to_vec()
}

/// An `autonomy audit query`: an event type and the optional filters and output of
/// contract §7. Flags come out in one fixed order (event type, actor, start, end,
/// output), so a recorded command line does not depend on how the query was built.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// `--event-type`.
    pub event_type: String,
    /// `--actor`.
    pub actor: Option<String>,
    /// `--start-time` (RFC 3339).
    pub start_time: Option<String>,
    /// `--end-time` (RFC 3339).
    pub end_time: Option<String>,
    /// `--output` (`json` or `text`); `None` leaves the CLI's default.
    pub output: Option<String>,
}

impl AuditQuery {
    /// A query of the `rollback.executed` events, no filter, default output.
    pub fn rollbacks() -> AuditQuery {
        AuditQuery {
            event_type: ROLLBACK_EXECUTED.into(),
            ..AuditQuery::default()
        }
    }

    /// Only the events of `actor`.
    pub fn actor(mut self, actor: &str) -> AuditQuery {
        self.actor = Some(actor.into());
        self
    }

    /// Only the events at or after `t`.
    pub fn start_time(mut self, t: &str) -> AuditQuery {
        self.start_time = Some(t.into());
        self
    }

    /// Only the events before `t`.
    pub fn end_time(mut self, t: &str) -> AuditQuery {
        self.end_time = Some(t.into());
        self
    }

    /// `--output json`.
    pub fn json(mut self) -> AuditQuery {
        self.output = Some("json".into());
        self
    }

    /// The argument list.
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = ["audit", "query", "--event-type", &self.event_type]
            .map(str::to_string)
            .to_vec();
        let flags = [
            ("--actor", &self.actor),
            ("--start-time", &self.start_time),
            ("--end-time", &self.end_time),
            ("--output", &self.output),
        ];
        for (flag, value) in flags {
            if let Some(v) = value {
                a.extend([flag.to_string(), v.clone()]);
            }
        }
        a
    }
}

/// The argument list of `query` (see [`AuditQuery::args`]).
pub fn audit_query(query: &AuditQuery) -> Vec<String> {
    query.args()
}

impl Cli {
    /// Runs [`rollback_execute`].
    pub fn rollback_execute(&self, resource: &str, strategy: &str, reason: &str) -> CliRun {
        self.run(rollback_execute(resource, strategy, reason))
    }

    /// Runs [`audit_query`].
    pub fn audit_query(&self, query: &AuditQuery) -> CliRun {
        self.run(query.args())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_come_out_in_the_plans_order() {
        assert_eq!(
            rollback_execute("p-1", "retry", "why").join(" "),
            "rollback execute --target rollout_plan --resource p-1 --strategy retry --reason why"
        );
        let q = AuditQuery::rollbacks().json().start_time("T0").actor("op");
        assert_eq!(
            audit_query(&q).join(" "),
            "audit query --event-type rollback.executed --actor op --start-time T0 --output json"
        );
        assert_eq!(
            AuditQuery::rollbacks().args().join(" "),
            "audit query --event-type rollback.executed"
        );
    }
}
