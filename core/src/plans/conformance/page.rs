//! The conformance page: its claims are its checks, so its key figures are one row
//! per check (status, claim, what was observed); no chart.

use crate::html_blocks::per_check;
use crate::plans::Page;

/// A conformance run's page.
pub const PAGE: Page = Page {
    key_figures: |_, report| per_check(report),
    sections: |_| Vec::new(),
    charts: &[],
};
