//! Building blocks of the HTML page that a plan's section uses: small tables, numbers,
//! the key-figures table, observed values as labelled figures, the section and chart
//! types, and inline SVG charts ([`chart`]). The page itself (header, verdicts, checks
//! table) is assembled by [`crate::html`], which sits above the plans; these blocks sit
//! below them.
//!
//! Every block is built with maud's `html!`, which escapes each interpolated value; the
//! only pre-escaped markup is an SVG produced by [`chart`] (whose writers escape their
//! text themselves).

use maud::{html, Markup};
use serde_json::Value;

pub mod chart;

pub use maud;

/// One chart (or the reason it has no data) in a section.
pub struct Chart {
    /// Stable identifier (`data-chart`), used by tests and links.
    pub id: &'static str,
    /// Caption under the title: what is drawn from which files.
    pub caption: String,
    /// The SVG (and its legend), or why it could not be drawn.
    pub svg: Result<Markup, String>,
}

/// One section of charts and tables of a suite.
pub struct Section {
    /// Heading.
    pub title: String,
    /// Shown before the charts.
    pub intro: Markup,
    /// Charts.
    pub charts: Vec<Chart>,
    /// Shown after the charts, e.g. a table of figures.
    pub after: Markup,
}

/// A small HTML table from a header and rows of cells.
pub fn table(head: &[&str], rows: &[Vec<Markup>]) -> Markup {
    html! {
        table {
            tr { @for h in head { th { (h) } } }
            @for r in rows { tr { @for c in r { td { (c) } } } }
        }
    }
}

/// A link to a run-relative file or directory, its path as the text.
pub fn link(rel: &str) -> Markup {
    html! { a href=(rel) { (rel) } }
}

/// Text shown as missing data.
pub fn nodata(why: &str) -> Markup {
    html! { span.nodata { (why) } }
}

/// An optional number with `digits` decimals, `absent` when unmeasured.
pub fn num(v: Option<f64>, digits: usize) -> String {
    v.map(|v| format!("{v:.digits$}"))
        .unwrap_or_else(|| "absent".into())
}

/// One cell of a key-figures table: the value (unit in the column head) and, when the
/// column has a threshold, whether it is met.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyCell {
    /// The value as shown (`absent` when not observed).
    pub value: String,
    /// Met (`Some(true)`), missed (`Some(false)`), or no threshold (`None`).
    pub pass: Option<bool>,
    /// The value is itself a verdict (a check's status): an unverified page shows
    /// "unverified" instead.
    pub verdict: bool,
}

impl KeyCell {
    /// A value without a threshold.
    pub fn context(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            pass: None,
            verdict: false,
        }
    }

    /// A check's status (`PASS`, `FAIL`, `NOT_RUN`) as a cell.
    pub fn status(c: &crate::check::Check) -> Self {
        use crate::check::Status;
        let pass = match c.status {
            Status::Pass => Some(true),
            Status::Fail => Some(false),
            Status::NotRun => None,
        };
        Self {
            value: format!("{} {}", c.id, c.status),
            pass,
            verdict: true,
        }
    }

    /// A value judged against its column's threshold.
    pub fn judged(value: impl Into<String>, pass: bool) -> Self {
        Self {
            value: value.into(),
            pass: Some(pass),
            verdict: false,
        }
    }
}

/// A table of the figures a plan's claims are about: one row per tier, round or
/// scenario, one column per figure (unit in its head), and the column's threshold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeyTable {
    /// What the rows are (e.g. "Per tier").
    pub title: String,
    /// Head of the row-label column.
    pub row_head: String,
    /// `(figure with unit, threshold or "")` per column.
    pub columns: Vec<(String, String)>,
    /// `(row label, one cell per column)`.
    pub rows: Vec<(String, Vec<KeyCell>)>,
}

/// How a key cell is marked: `(class, mark)`; with `judge` off (an unverified run),
/// no mark at all.
fn mark(pass: Option<bool>, judge: bool) -> (&'static str, &'static str) {
    match (pass, judge) {
        (Some(true), true) => ("kv pass", "\u{2713}"),
        (Some(false), true) => ("kv fail", "\u{2717}"),
        _ => ("kv", ""),
    }
}

/// A key-figures table. With `judge` off (an unverified run) the ✓/✗ marks are left out.
pub fn key_table(t: &KeyTable, judge: bool) -> Markup {
    let any_threshold = t.columns.iter().any(|(_, th)| !th.is_empty());
    html! {
        h3 { (t.title) }
        table.keyfig {
            tr { th { (t.row_head) } @for (c, _) in &t.columns { th { (c) } } }
            @if any_threshold {
                tr.threshold {
                    td { "threshold" }
                    @for (_, th) in &t.columns { td { @if th.is_empty() { "\u{2014}" } @else { (th) } } }
                }
            }
            @for (label, cells) in &t.rows {
                tr {
                    td { b { (label) } }
                    @for c in cells {
                        @let (class, m) = mark(c.pass, judge);
                        td class=(class) {
                            @if c.verdict && !judge { "unverified" } @else { (c.value) }
                            @if !m.is_empty() { " " span.mark { (m) } }
                        }
                    }
                }
            }
        }
    }
}

/// A key's label and value with its unit: `_us` and `_ms` suffixes become ms with
/// the unit written out, `_s` seconds, `_pct` %, `_bytes` bytes.
fn labelled(key: &str, v: &Value) -> (String, String) {
    let num = v.as_f64();
    let units: [(&str, f64, &str); 6] = [
        ("_us", 1000.0, "ms"),
        ("_ms", 1.0, "ms"),
        ("_s", 1.0, "s"),
        ("_pct", 1.0, "%"),
        ("_bytes", 1.0, "bytes"),
        ("_kb", 1.0, "KiB"),
    ];
    for (suffix, div, unit) in units {
        if let (Some(stem), Some(n)) = (key.strip_suffix(suffix), num) {
            let n = n / div;
            let shown = if n.fract() == 0.0 {
                format!("{n:.0}")
            } else {
                format!("{n:.3}")
                    .trim_end_matches('0')
                    .trim_end_matches('.')
                    .to_string()
            };
            return (stem.replace('_', " "), format!("{shown} {unit}"));
        }
    }
    (key.replace('_', " "), scalar(v))
}

/// A JSON value as plain text: strings unquoted, an empty list as "none".
fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "absent".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "none".into(),
        Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            a.iter().map(scalar).collect::<Vec<_>>().join(", ")
        }
        v => v.to_string(),
    }
}

/// A check's observation as labelled values with units (`lost: 0`, `p99: 12.3 ms`);
/// nested objects and lists of objects are shown as a count and left to the raw JSON,
/// which follows behind a details element as a secondary view.
pub fn observed(v: &Value) -> Markup {
    let rows: Vec<(String, String)> = match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, x)| match x {
                Value::Object(o) if o.is_empty() => (k.replace('_', " "), "none".to_string()),
                Value::Object(o) => (
                    k.replace('_', " "),
                    format!("{} fields (see JSON)", o.len()),
                ),
                Value::Array(a) if a.iter().any(|e| e.is_object() || e.is_array()) => (
                    k.replace('_', " "),
                    format!("{} entries (see JSON)", a.len()),
                ),
                x => labelled(k, x),
            })
            .collect(),
        x => vec![("value".into(), scalar(x))],
    };
    let raw = serde_json::to_string_pretty(v).unwrap_or_default();
    html! {
        dl.obs {
            @for (k, x) in &rows { div { dt { (k) } dd { (x) } } }
        }
        details { summary { "raw JSON" } pre { (raw) } }
    }
}

/// One row per check of `report` (for a suite whose claims are its checks, such as
/// conformance): its status as ✓/✗, its title, and its observation in a few words.
pub fn per_check(report: Option<&crate::check::Report>) -> Vec<KeyTable> {
    let Some(r) = report else {
        return Vec::new();
    };
    let rows = r
        .checks
        .iter()
        .map(|c| {
            let status = KeyCell {
                value: c.status.to_string(),
                ..KeyCell::status(c)
            };
            let short = c
                .observed
                .as_ref()
                .map_or("not observed".to_string(), brief);
            (
                c.id.clone(),
                vec![
                    KeyCell::context(c.title.clone()),
                    KeyCell::context(short),
                    status,
                ],
            )
        })
        .collect();
    vec![KeyTable {
        title: "Per check".into(),
        row_head: "check".into(),
        columns: vec![
            ("claim".into(), String::new()),
            ("observed".into(), String::new()),
            ("status".into(), "passes".into()),
        ],
        rows,
    }]
}

/// An object, or a list holding one: left to the raw JSON.
fn nested(x: &Value) -> bool {
    x.is_object()
        || x.as_array()
            .is_some_and(|a| a.iter().any(|e| e.is_object()))
}

/// An observation in a few words: up to four labelled scalars.
fn brief(v: &Value) -> String {
    match v {
        Value::Object(m) => m
            .iter()
            .filter(|(_, x)| !nested(x))
            .take(4)
            .map(|(k, x)| {
                let (k, x) = labelled(k, x);
                let x: String = x.chars().take(40).collect();
                format!("{k}: {x}")
            })
            .collect::<Vec<_>>()
            .join("; "),
        x => scalar(x),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_values_are_labelled_with_units_and_escaped() {
        let v = serde_json::json!({"p95_us": 12345, "lost": [], "wall_ms": 30000,
            "error": "<script>x</script>", "per_round": [{"a": 1}]});
        let html = observed(&v).into_string();
        assert!(html.contains("<dt>p95</dt><dd>12.345 ms</dd>"), "{html}");
        assert!(html.contains("<dt>wall</dt><dd>30000 ms</dd>"), "{html}");
        assert!(html.contains("<dt>lost</dt><dd>none</dd>"), "{html}");
        assert!(html.contains("1 entries (see JSON)"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        // The raw JSON is there, but only behind a details element.
        assert!(
            html.contains("<details><summary>raw JSON</summary><pre>"),
            "{html}"
        );
    }

    #[test]
    fn key_table_marks_thresholds_and_drops_marks_when_unverified() {
        let t = KeyTable {
            title: "t".into(),
            row_head: "tier".into(),
            columns: vec![
                ("errors".into(), "= 0".into()),
                ("p99, ms".into(), String::new()),
            ],
            rows: vec![(
                "N=1".into(),
                vec![KeyCell::judged("1", false), KeyCell::context("3.2")],
            )],
        };
        let judged = key_table(&t, true).into_string();
        assert!(
            judged.contains("<td class=\"kv fail\">1 <span class=\"mark\">\u{2717}</span>"),
            "{judged}"
        );
        assert!(judged.contains("<td class=\"kv\">3.2</td>"), "{judged}");
        let plain = key_table(&t, false).into_string();
        assert!(
            !plain.contains('\u{2717}') && !plain.contains('\u{2713}'),
            "{plain}"
        );
    }
}
