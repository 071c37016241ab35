//! Typed observations of CONF-01..08: what each judge saw and the check's rule over
//! it (`pass`). A renamed or missing field is a compile error here, never a silent
//! `null` in a judge.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A table case the control-plane got wrong, and how.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseProblem {
    /// The case's name in the table.
    pub case: String,
    /// The status it answered (`None`: no answer, or not sent).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<u16>,
    /// What is wrong.
    pub problem: String,
}

/// CONF-01: bad input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BadInputObs {
    /// Table cases sent.
    pub cases: usize,
    /// The cases answered wrongly (or not sent).
    pub wrong: Vec<CaseProblem>,
    /// Plans listed before the cases.
    pub plans_before: usize,
    /// Plans listed after them.
    pub plans_after: usize,
    /// Audit lines before.
    pub audit_lines_before: Option<u64>,
    /// Audit lines after.
    pub audit_lines_after: Option<u64>,
    /// Errors of the list reads, before and after.
    pub list_errors: [Option<String>; 2],
    /// Both lists read, the same plans, the same audit line count.
    pub store_unchanged: bool,
}

impl BadInputObs {
    /// CONF-01's rule: every one of the table's `table_cases` cases sent and right.
    pub fn pass(&self, table_cases: usize) -> bool {
        self.wrong.is_empty() && self.cases == table_cases && self.store_unchanged
    }
}

/// CONF-02: paging under writes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PagingObs {
    /// The page size asked for.
    pub limit: u32,
    /// Pages read.
    pub pages: usize,
    /// Every page 200, and the last one's `next_cursor` is `""`.
    pub ended: bool,
    /// Plans acknowledged before the walk.
    pub acked_before: usize,
    /// Distinct IDs listed.
    pub listed: usize,
    /// Writes acknowledged during the walk.
    pub writes_acked_during: usize,
    /// Acknowledged-before plans not listed (the first 20).
    pub missing: Vec<String>,
    /// How many were not listed.
    pub missing_count: usize,
    /// IDs listed twice (the first 20).
    pub duplicates: Vec<String>,
}

impl PagingObs {
    /// CONF-02's rule.
    pub fn pass(&self) -> bool {
        self.ended
            && self.missing.is_empty()
            && self.duplicates.is_empty()
            && self.acked_before > 0
            && self.writes_acked_during > 0
    }
}

/// CONF-03: replay and conflict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplayObs {
    /// Statuses of the create, the replay, the conflicting create and the read back.
    pub statuses: [Option<u16>; 4],
    /// The two concurrent creates' statuses, sorted.
    pub concurrent: Vec<Option<u16>>,
    /// How often the concurrent ID was listed.
    pub concurrent_rows: Option<u64>,
    /// Every departure from the contract.
    pub problems: Vec<String>,
}

impl ReplayObs {
    /// CONF-03's rule.
    pub fn pass(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One counter the lab drove, as the exposition counted it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Counted {
    /// What was counted.
    pub what: String,
    /// The exposition's sum.
    pub counted: f64,
    /// What the lab made.
    pub sent: u64,
}

/// CONF-04: metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricsObs {
    /// Each contract family and the type the exposition gave it.
    pub families: BTreeMap<String, Option<String>>,
    /// Every route label value seen.
    pub routes: Vec<String>,
    /// The counters the lab drove.
    pub counted: Vec<Counted>,
    /// Every departure from the contract.
    pub problems: Vec<String>,
}

impl MetricsObs {
    /// CONF-04's rule.
    pub fn pass(&self) -> bool {
        self.problems.is_empty()
    }
}

/// CONF-05: the audit log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditObs {
    /// Lines read.
    pub lines: usize,
    /// Plans the lab created.
    pub created: usize,
    /// Rollbacks the lab executed.
    pub executed: usize,
    /// Every departure from the contract.
    pub problems: Vec<String>,
}

impl AuditObs {
    /// CONF-05's rule.
    pub fn pass(&self) -> bool {
        self.problems.is_empty()
    }
}

/// CONF-06: the CLI's exit codes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CliObs {
    /// Each case's exit code.
    pub exit_codes: BTreeMap<String, Option<i32>>,
    /// The cases that break the table.
    pub problems: Vec<CaseProblem>,
}

impl CliObs {
    /// CONF-06's rule.
    pub fn pass(&self) -> bool {
        self.problems.is_empty()
    }
}

/// CONF-07: schemathesis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SchemathesisObs {
    /// The tool's version.
    pub version: String,
    /// Its exit code.
    pub exit_code: Option<i32>,
    /// The signal that ended it, when one did.
    #[serde(default)]
    pub signal: Option<i32>,
    /// The harness had to stop it.
    pub timed_out: bool,
    /// JUnit: tests.
    pub tests: u64,
    /// JUnit: failures.
    pub failures: u64,
    /// JUnit: errors.
    pub errors: u64,
    /// JUnit: `<failure>` elements inside `<testcase>` elements.
    pub failure_elements: u64,
    /// JUnit: `<error>` elements inside `<testcase>` elements.
    pub error_elements: u64,
    /// JUnit: skipped (headers).
    #[serde(default)]
    pub skipped: u64,
    /// JUnit: `<skipped>` elements inside `<testcase>` elements.
    #[serde(default)]
    pub skipped_elements: u64,
}

impl SchemathesisObs {
    /// CONF-07's rule. The header counts and the elements must both say none: a
    /// header that disagrees with the testcases it sums is not evidence of a clean run.
    /// A skipped test did not run, so the contract's "every phase" is not met: none
    /// may be skipped, and at least one test must have run and passed.
    pub fn pass(&self) -> bool {
        self.exit_code == Some(0)
            && self.signal.is_none()
            && !self.timed_out
            && self.ran() > 0
            && self.failures == 0
            && self.errors == 0
            && self.skipped == 0
            && self.failures == self.failure_elements
            && self.errors == self.error_elements
            && self.skipped == self.skipped_elements
    }

    /// Tests that ran and passed: tests − skipped − failures − errors (0 when the
    /// headers count more of those than tests).
    pub fn ran(&self) -> u64 {
        self.tests
            .saturating_sub(self.skipped)
            .saturating_sub(self.failures)
            .saturating_sub(self.errors)
    }
}

/// A plan whose read changed across the restart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangedPlan {
    /// The plan ID.
    pub id: String,
    /// The status before the kill.
    pub before: Option<u16>,
    /// The status after the restart.
    pub after: Option<u16>,
}

/// CONF-08: durability across SIGKILL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RestartObs {
    /// How the process ended.
    pub kill: String,
    /// Plans read before and after.
    pub plans: usize,
    /// Those whose read changed.
    pub changed: Vec<ChangedPlan>,
}

impl RestartObs {
    /// CONF-08's rule.
    pub fn pass(&self) -> bool {
        self.plans > 0 && self.changed.is_empty()
    }
}
