//! Building blocks of the HTML page that a plan's section uses: escaping, small
//! tables, numbers, the section and chart types, and inline SVG charts ([`chart`]).
//! The page itself (header, verdicts, checks table) is assembled by [`crate::html`],
//! which sits above the plans; these blocks sit below them.

use std::fmt::Write as _;

pub mod chart;

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters (other than tab/newline) have no business in a page.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// One chart (or the reason it has no data) in a section.
pub struct Chart {
    /// Stable identifier (`data-chart`), used by tests and links.
    pub id: &'static str,
    /// Caption under the title: what is drawn from which files.
    pub caption: String,
    /// The SVG, or why it could not be drawn.
    pub svg: Result<String, String>,
}

/// One section of charts and tables of a suite.
pub struct Section {
    /// Heading.
    pub title: String,
    /// HTML (already escaped) shown before the charts.
    pub intro: String,
    /// Charts.
    pub charts: Vec<Chart>,
    /// HTML (already escaped) shown after the charts, e.g. a table of figures.
    pub after: String,
}

/// A small HTML table from a header and rows of already-escaped cells.
pub fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = String::from("<table>\n<tr>");
    for h in head {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr>\n");
    for r in rows {
        s.push_str("<tr>");
        for c in r {
            let _ = write!(s, "<td>{c}</td>");
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n");
    s
}

/// An optional number with `digits` decimals, `absent` when unmeasured.
pub fn num(v: Option<f64>, digits: usize) -> String {
    v.map(|v| format!("{v:.digits$}"))
        .unwrap_or_else(|| "absent".into())
}
