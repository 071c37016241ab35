//! `evidence html RUN`: one self-contained HTML page per run directory, for a person.
//!
//! The page is a pure function of the run directory's files ([`render`]). In reading
//! order: the title, what was tested (suite, run, target, profile, faults) before any
//! verdict, the verdict line, the key figures (each plan's figures with units and
//! ✓/✗ against their thresholds, from its typed observations), the checks with their
//! observations as labelled values (raw JSON only behind a details element), the
//! plan's charts drawn as inline SVG from the raw files through the plans' own
//! readers, and the provenance (run digest = sha256 of `manifest.json`, harness,
//! host). It holds no script, no external asset and no rendering time, so rendering
//! twice gives the same bytes and a browser needs nothing but the file.
//!
//! # A derived file
//!
//! [`write`](fn@write) stores the page as `<suite>-report.html` *after* the manifest was written
//! (it shows the manifest's digest, so it cannot be listed in it). It is covered the
//! way the report is: `evidence verify` should treat [`is_derived`] files as derived,
//! re-render them with [`render`] and compare bytes ([`check_derived`] does exactly
//! that and returns one mismatch line per difference). Every input of the page is
//! either listed in the manifest (and hash-checked by verify) or the manifest itself,
//! so an edited page, or a page of an edited run, is a mismatch.
//!
//! # Escaping: maud
//!
//! The page is written with maud's `html!` macro: every value interpolated into it
//! (control-plane error texts, notes, observed values, file names) is escaped by the
//! macro, so there is no hand-written escaping to forget. maud rather than askama
//! because the templates are Rust expressions checked at compile time next to the
//! code that computes the figures (no template files to keep in step, no template
//! syntax), and because it is the lighter build on a 2-core machine: maud pulls 10
//! crates (its macro crate and the proc-macro stack the workspace builds anyway),
//! askama 0.14 pulls 20 (its parser and derive crates among them). Built alone in an
//! empty project with `cargo build -j1`, one after the other on this 2-core machine
//! under a load average of 15 to 21: maud 52 s, askama 146 s. The
//! only markup not produced by maud is the lifecycle timeline's SVG, written by
//! plotters, which escapes its texts itself. A Content-Security-Policy forbids
//! scripts and any fetch, so even a missed escape could not load or run anything.

use std::path::{Path, PathBuf};

use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::check::{Report, Status};
use serde_json::Value;

use crate::fileio;
use crate::plans::Files;
use crate::plans::MANIFEST_FILE;

use crate::html_blocks::{key_table, observed, KeyTable, Section};

/// Suffix of the page's file name: `<suite>-report.html`.
pub const HTML_SUFFIX: &str = "-report.html";

/// Errors writing the page (rendering itself never fails: a missing file is shown).
#[derive(Debug, thiserror::Error)]
pub enum HtmlError {
    /// The run directory cannot be read.
    #[error("run directory {path}: {source}")]
    RunDir {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The page could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// Path.
        path: String,
        /// Cause.
        source: fileio::FsError,
    },
}

/// The page's file name for `suite`.
pub fn file_name(suite: &str) -> String {
    format!("{suite}{HTML_SUFFIX}")
}

/// Whether a run-relative path is a derived page (top level, `*-report.html`).
pub fn is_derived(rel: &str) -> bool {
    !rel.contains('/') && rel.ends_with(HTML_SUFFIX)
}

/// The suite of a run directory: its manifest's `suite`, else the parent directory's name.
/// The manifest is read as plain JSON, field by field, so that a field added to or
/// changed in `Manifest` elsewhere never stops a page from rendering.
fn suite_and_manifest(run_dir: &Path) -> (String, Result<Value, String>) {
    let manifest =
        fileio::read_json::<Value>(&run_dir.join(MANIFEST_FILE)).map_err(|e| e.to_string());
    let suite = match manifest.as_ref().ok().and_then(|m| m["suite"].as_str()) {
        Some(s) => s.to_string(),
        None => run_dir
            .canonicalize()
            .ok()
            .and_then(|p| {
                p.parent()
                    .and_then(|p| p.file_name())
                    .map(|s| s.to_string_lossy().into_owned())
            })
            .unwrap_or_default(),
    };
    (suite, manifest)
}

/// Where [`write`](fn@write) puts the page: `<run dir>/<suite>-report.html`.
pub fn default_path(run_dir: &Path) -> PathBuf {
    run_dir.join(file_name(&suite_and_manifest(run_dir).0))
}

/// Writes `<suite>-report.html` into the run directory (atomically); returns its path.
pub fn write(run_dir: &Path) -> Result<PathBuf, HtmlError> {
    let page = render(run_dir)?;
    let (suite, _) = suite_and_manifest(run_dir);
    let path = run_dir.join(file_name(&suite));
    fileio::write_atomic(&path, page.as_bytes()).map_err(|source| HtmlError::Write {
        path: path.display().to_string(),
        source,
    })?;
    Ok(path)
}

/// For `evidence verify`: every derived page present in the run directory is
/// re-rendered and compared byte for byte; one line per page that differs.
pub fn check_derived(run_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(run_dir) else {
        return Vec::new();
    };
    let mut pages: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| is_derived(n))
        .collect();
    pages.sort();
    let (suite, _) = suite_and_manifest(run_dir);
    let fresh = match render(run_dir) {
        Ok(p) => p,
        Err(e) => return vec![format!("derived page: {e}")],
    };
    pages
        .into_iter()
        .filter_map(|p| {
            if p != file_name(&suite) {
                return Some(format!("file {p}: a derived page of another suite than {suite}"));
            }
            match crate::fileio::read_regular(&run_dir.join(&p)) {
                Ok(bytes) if bytes == fresh.as_bytes() => None,
                Ok(_) => Some(format!(
                    "file {p}: differs from the page re-rendered from the run's files (`evidence html` rewrites it)"
                )),
                Err(e) => Some(format!("file {p}: {e}")),
            }
        })
        .collect()
}

/// A link to a run-relative evidence file, or plain text when the path is not a
/// plain relative path (a glob, an absolute path, `..`, a scheme).
fn evidence_link(rel: &str) -> Markup {
    let plain = !rel.is_empty()
        && !rel.starts_with('/')
        && !rel.contains(':')
        && !rel.contains('*')
        && !rel.split('/').any(|c| c == "..");
    if plain {
        crate::html_blocks::link(rel)
    } else {
        html! { code { (rel) } }
    }
}

/// The suite's own sections, from its plan's page (none for a directory without one).
fn sections(suite: &str, f: &Files) -> Vec<Section> {
    crate::plans::page(suite)
        .map(|p| (p.sections)(f))
        .unwrap_or_default()
}

/// The charts this renderer draws for `suite` (their `data-chart` identifiers): what a
/// reader must find on the page (the browser test asserts every one is an SVG).
pub fn expected_charts(suite: &str) -> &'static [&'static str] {
    crate::plans::page(suite).map_or(&[], |p| p.charts)
}

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:24px auto;max-width:1180px;color:#1d1d1f;line-height:1.4}
h1{font-size:26px;margin:0 0 8px}h2{font-size:20px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.verdict{font-size:20px;font-weight:600;padding:8px 12px;border-radius:6px;display:inline-block;margin:6px 0}
.pass{background:#dff3e6;color:#0b5d2a}.fail{background:#fbe0e0;color:#8a1010}.na{background:#eee;color:#333}.notrun{background:#fff1d6;color:#6b4b00}
.banner{background:#8a1010;color:#fff;padding:8px 12px;border-radius:6px;font-weight:600}
table{border-collapse:collapse;width:100%;font-size:13px}td,th{border:1px solid #ddd;padding:4px 6px;vertical-align:top;text-align:left}
th{background:#f4f4f6}table.meta td:first-child{width:170px;font-weight:600}
td.status{font-weight:700;white-space:nowrap}code,pre{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:12px}
pre{white-space:pre-wrap;word-break:break-all;margin:0}.obs{max-width:420px}
td.obs{min-width:260px}dl.obs{margin:0;display:grid;grid-template-columns:minmax(0,max-content) minmax(5em,1fr);column-gap:8px}dl.obs div{display:contents}dl.obs dt{color:#555}dl.obs dd{margin:0;font-weight:600;overflow-wrap:anywhere}
details summary{font-size:11px;color:#666;cursor:pointer}
table.keyfig{width:auto;min-width:60%}table.keyfig td,table.keyfig th{padding:3px 10px}td.kv{font-variant-numeric:tabular-nums}
tr.threshold td{color:#666;font-size:12px;background:#fafafa}td.kv.pass .mark{color:#0b5d2a;font-weight:700}td.kv.fail{background:#fbe0e0;color:#8a1010;font-weight:700}
h3{font-size:15px;margin:14px 0 4px}
figure.chart{margin:16px 0;border:1px solid #e4e4e4;border-radius:6px;padding:8px}figure.chart svg{max-width:100%;height:auto}
figcaption{font-size:13px;color:#444;margin-bottom:6px}.key{font-size:12px;margin-right:14px}.swatch{display:inline-block;width:14px;height:10px;margin-right:4px;vertical-align:middle}.nodata{color:#8a1010}
footer{margin-top:32px;font-size:12px;color:#666}
";

/// What the page may say about verdicts.
#[derive(Clone, Copy)]
enum Mode<'a> {
    /// A run that verifies: its verdicts and every ✓/✗.
    Verified,
    /// `evidence html --force` on a run that does not verify: the reasons instead of
    /// the verdict, no status or ✓/✗ anywhere, every figure labelled "unverified".
    Unverified(&'a [String]),
}

impl Mode<'_> {
    /// Whether verdicts may be shown.
    fn judged(self) -> bool {
        matches!(self, Mode::Verified)
    }

    /// The prefix of every figure's caption.
    fn prefix(self) -> &'static str {
        if self.judged() {
            ""
        } else {
            "unverified: "
        }
    }
}

/// The page of the run directory `run_dir`: a pure function of its files. Fails only
/// when `run_dir` is not a directory; a file that cannot be read is shown as missing.
pub fn render(run_dir: &Path) -> Result<String, HtmlError> {
    render_as(run_dir, Mode::Verified)
}

/// The page of a run that does not verify (`evidence html --force`): the same page
/// with no verdict anywhere. The verdict line is replaced by the reasons (`reasons`,
/// one per mismatch), each check's status by "unverified", the key figures lose their
/// ✓/✗, and every observed value, key-figure table and chart caption is labelled
/// "unverified". One renderer for both, so the verified page (what verify re-renders)
/// and this one never drift apart.
pub fn render_unverified(run_dir: &Path, reasons: &[String]) -> Result<String, HtmlError> {
    render_as(run_dir, Mode::Unverified(reasons))
}

/// What the page is rendered from.
struct Run {
    dir: std::path::PathBuf,
    suite: String,
    manifest: Result<Value, String>,
    report: Result<Report, crate::check::ReportError>,
    digest: Result<String, String>,
    run_id: String,
    title: String,
}

impl Run {
    /// Reads the manifest and the report of `run_dir`.
    fn load(run_dir: &Path) -> Run {
        let (suite, manifest) = suite_and_manifest(run_dir);
        // A context run has no plan and so no report: a report file in one is
        // never read (`evidence verify` refuses it), so no verdict can be planted.
        let report_path = run_dir.join(format!("{suite}-report.json"));
        let report = match crate::plans::context_run(&suite) {
            Some(_) => Err(crate::check::ReportError::Io {
                path: report_path.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "a context run has no plan, so no report and no verdict",
                ),
            }),
            None => Report::load(&report_path),
        };
        let digest = fileio::sha256_file(&run_dir.join(MANIFEST_FILE)).map_err(|e| e.to_string());
        let run_id = match (&report, &manifest) {
            (Ok(r), _) => r.run_id.clone(),
            (_, Ok(m)) if m["run_id"].is_string() => {
                m["run_id"].as_str().unwrap_or_default().to_string()
            }
            _ => run_dir
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        let title = crate::plans::plan(&suite)
            .map(|p| p.title.to_string())
            .unwrap_or_else(|_| suite.to_uppercase());
        Run {
            dir: run_dir.to_path_buf(),
            suite,
            manifest,
            report,
            digest,
            run_id,
            title,
        }
    }
}

/// The page, verified or not.
fn render_as(run_dir: &Path, mode: Mode<'_>) -> Result<String, HtmlError> {
    if !run_dir.is_dir() {
        return Err(HtmlError::RunDir {
            path: run_dir.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
        });
    }
    let run = Run::load(run_dir);
    let f = Files::new(run_dir);
    let keys: Vec<KeyTable> = crate::plans::page(&run.suite)
        .map(|p| (p.key_figures)(&f, run.report.as_ref().ok()))
        .unwrap_or_default();
    let csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(csp);
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (run.suite.to_uppercase()) " report " (run.run_id) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { (run.title) }
                    (faults_banner(&run.report))
                    (meta_table(&run))
                    (verdict_line(&run.report, mode))
                }
                @if !keys.is_empty() {
                    section id="key-figures" {
                        h2 { (mode.prefix()) "Key figures" }
                        @for t in &keys { (key_table(t, mode.judged())) }
                    }
                }
                (checks_table(&run.report, mode))
                @for s in sections(&run.suite, &f) { (section(&s, mode)) }
                (provenance(&run))
                footer {
                    "Rendered by " code { "evidence html" } " (val-core " (env!("CARGO_PKG_VERSION"))
                    ") from the files of this run directory only; re-rendering gives the same bytes. Percentiles: "
                    (crate::stats::PERCENTILE_METHOD) ". Links are relative to the run directory."
                }
            }
        }
    };
    Ok(crate::escape::escape_document(&page.into_string()).into_owned() + "\n")
}

/// One suite section: its intro, its charts (or why each has none), what follows.
fn section(s: &Section, mode: Mode<'_>) -> Markup {
    html! {
        section {
            h2 { (s.title) }
            (s.intro)
            @for c in &s.charts {
                @match &c.svg {
                    Ok(svg) => figure.chart data-chart=(c.id) {
                        figcaption { (mode.prefix()) (c.caption) }
                        (svg)
                    },
                    Err(why) => figure.chart data-chart=(c.id) data-nodata="1" {
                        figcaption { (mode.prefix()) (c.caption) }
                        p.nodata { "no chart: " (why) }
                    },
                }
            }
            (s.after)
        }
    }
}

/// The banner of a negative run (faults injected): before anything else is read.
fn faults_banner(report: &Result<Report, crate::check::ReportError>) -> Markup {
    html! {
        @if let Ok(r) = report {
            @if !r.faults.is_empty() {
                p.banner { "NEGATIVE RUN: faults injected (" (r.faults.join(",")) "); not evidence of the product" }
            }
        }
    }
}

/// The verdict line under the target and profile; the reasons instead when unverified.
fn verdict_line(report: &Result<Report, crate::check::ReportError>, mode: Mode<'_>) -> Markup {
    let word = |b: bool| if b { "PASS" } else { "FAIL" };
    let class = |b: bool| if b { "verdict pass" } else { "verdict fail" };
    if let Mode::Unverified(reasons) = mode {
        return html! {
            p.verdict.na #verdict {
                "Plan verdict: none \u{2014} UNVERIFIED: this run does not verify (" (reasons.len())
                " mismatch(es)); every figure on this page is unverified"
            }
            ul.banner { @for r in reasons { li { (r) } } }
        };
    }
    let Ok(r) = report else {
        return html! { p.verdict.na #verdict { "Plan verdict: none (no judged report in this run directory)" } };
    };
    let v = &r.verdict;
    html! {
        @match (v.full, v.minimum_acceptable) {
            (Some(full), Some(min)) => p class=(class(full)) #verdict {
                "Plan verdict: " (word(full)) " (" (v.passed) "/" (v.total) " checks PASS; minimum acceptable: " (word(min)) ")"
            },
            _ => p class=(class(v.custom == Some(true))) #verdict {
                "Plan verdict: not applicable (profile " (r.profile.name()) ") \u{2014} custom verdict: "
                (word(v.custom == Some(true))) " (" (v.passed) "/" (v.total) " checks PASS under this run's own workload)"
            },
        }
        @if let Some(b) = &v.beyond {
            " " p class=(class(b.pass)) { "Beyond the plan: " (word(b.pass)) " (" (b.passed) "/" (b.total) " checks PASS)" }
        }
    }
}

/// The header table: what was tested, under which profile (before any verdict).
fn meta_table(run: &Run) -> Markup {
    let mut rows: Vec<(&str, Markup)> = vec![
        ("suite", html! { (run.suite) }),
        ("run", html! { (run.run_id) }),
    ];
    match &run.report {
        Ok(r) => {
            rows.push(("target", html! { (r.target.line()) }));
            rows.push(("profile", html! { (r.profile_line()) }));
            let faults = if r.faults.is_empty() {
                "none".to_string()
            } else {
                r.faults.join(",")
            };
            rows.push(("faults injected", html! { (faults) }));
        }
        // A context run has no report by design: what it tested still comes first, and
        // what kind of run it is, in plain words rather than as a missing file.
        Err(_) if crate::plans::context_run(&run.suite).is_some() => {
            let target = crate::plans::target_info(&Files::new(&run.dir));
            rows.push(("target", html! { (target.line()) }));
            rows.push((
                "profile",
                html! { "context run: measured beside the plan, judged by no plan, so no verdict" },
            ));
        }
        Err(e) => rows.push(("report", crate::html_blocks::nodata(&e.to_string()))),
    }
    if let Some(e) = run
        .manifest
        .as_ref()
        .ok()
        .and_then(|m| m["lab_error"].as_str())
    {
        rows.push(("lab error", crate::html_blocks::nodata(e)));
    }
    html! { table.meta { @for (k, v) in &rows { tr { td { (k) } td { (v) } } } } }
}

/// Where the run comes from: digest, times, harness and host (after the figures).
fn provenance(run: &Run) -> Markup {
    let digest = match &run.digest {
        Ok(d) => html! { code { "sha256:" (d) } " of " a href=(MANIFEST_FILE) { (MANIFEST_FILE) } },
        Err(e) => crate::html_blocks::nodata(&format!("no manifest: {e}")),
    };
    let t = |v: &Value| match v {
        Value::Null => "unknown".to_string(),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    let m = run.manifest.as_ref().ok();
    html! {
        section id="provenance" {
            h2 { "Provenance" }
            table.meta {
                tr { td { "run digest" } td { (digest) } }
                @if let Some(m) = m {
                    tr { td { "lab ran" } td { (t(&m["started_at"])) " \u{2192} " (t(&m["ended_at"])) } }
                    tr { td { "harness" } td {
                        "val-core " (t(&m["harness_version"])) ", commit " (t(&m["git"]["commit"]))
                        @if m["git"]["dirty"] == true { " (dirty)" }
                        ", " (t(&m["tools"]["harness_profile"])) " build; host " (t(&m["host"]["cpus"]))
                        " CPUs (" (t(&m["host"]["cpus_available"])) " available), " (t(&m["host"]["cpu_model"]))
                    } }
                }
            }
        }
    }
}

/// The verdict table: one row per check, observations as labelled values.
fn checks_table(report: &Result<Report, crate::check::ReportError>, mode: Mode<'_>) -> Markup {
    let Ok(r) = report else {
        return html! {};
    };
    html! {
        section {
            h2 { "Checks" }
            table.checks #checks {
                tr { th { "status" } th { "check" } th { "observed" } th { "threshold" } th { "evidence" } th { "note" } }
                @for c in &r.checks {
                    @let (class, status) = match (mode.judged(), c.status) {
                        (false, _) => ("status na", "unverified".to_string()),
                        (true, Status::Pass) => ("status pass", c.status.to_string()),
                        (true, Status::Fail) => ("status fail", c.status.to_string()),
                        (true, Status::NotRun) => ("status notrun", c.status.to_string()),
                    };
                    tr {
                        td class=(class) { (status) }
                        td { b { (c.id) } " " (c.title) }
                        td.obs {
                            (mode.prefix())
                            @match &c.observed {
                                None => em { "not observed" },
                                Some(v) => (observed(v)),
                            }
                        }
                        td { (c.threshold) }
                        td { @for (i, e) in c.evidence.iter().enumerate() { @if i > 0 { br; } (evidence_link(e)) } }
                        td { (c.note.as_deref().unwrap_or_default()) }
                    }
                }
            }
        }
    }
}
