//! `evidence html RUN`: one self-contained HTML page per run directory, for a person.
//!
//! The page is a pure function of the run directory's files ([`render`]): the header
//! (suite, target, profile, verdicts, run digest = sha256 of `manifest.json`), the
//! verdict table with links to the evidence files (run-relative), and per-suite charts
//! drawn as inline SVG from the raw files through the plans' own readers. It holds no
//! script, no external asset and no rendering time, so rendering twice gives the same
//! bytes and a browser needs nothing but the file.
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
//! Every text taken from the evidence (control-plane error texts, notes, observed
//! values, file names) is escaped with [`esc`]; a Content-Security-Policy forbids
//! scripts and any fetch, so even a missed escape could not load or run anything.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::check::{Report, Status};
use serde_json::Value;

use crate::fileio;
use crate::plans::Files;
use crate::plans::MANIFEST_FILE;

pub use crate::html_blocks::esc;
use crate::html_blocks::Section;

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
fn evidence_link(rel: &str) -> String {
    let plain = !rel.is_empty()
        && !rel.starts_with('/')
        && !rel.contains(':')
        && !rel.contains('*')
        && !rel.split('/').any(|c| c == "..");
    if plain {
        format!("<a href=\"{}\">{}</a>", esc(rel), esc(rel))
    } else {
        format!("<code>{}</code>", esc(rel))
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
figure.chart{margin:16px 0;border:1px solid #e4e4e4;border-radius:6px;padding:8px}figure.chart svg{max-width:100%;height:auto}
figcaption{font-size:13px;color:#444;margin-bottom:6px}.key{font-size:12px;margin-right:14px}.swatch{display:inline-block;width:14px;height:10px;margin-right:4px;vertical-align:middle}.nodata{color:#8a1010}
footer{margin-top:32px;font-size:12px;color:#666}
";

/// The page of the run directory `run_dir`: a pure function of its files. Fails only
/// when `run_dir` is not a directory; a file that cannot be read is shown as missing.
pub fn render(run_dir: &Path) -> Result<String, HtmlError> {
    if !run_dir.is_dir() {
        return Err(HtmlError::RunDir {
            path: run_dir.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
        });
    }
    let (suite, manifest) = suite_and_manifest(run_dir);
    let f = Files::new(run_dir);
    let report = Report::load(&run_dir.join(format!("{suite}-report.json")));
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

    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} report {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<header>\n<h1>{}</h1>\n",
        esc(&suite.to_uppercase()),
        esc(&run_id),
        esc(&title)
    );
    h.push_str(&verdict_line(&report));
    h.push_str(&meta_table(&suite, &run_id, &report, &manifest, &digest));
    h.push_str("</header>\n");
    h.push_str(&checks_table(&report));
    for s in sections(&suite, &f) {
        let _ = write!(h, "<section>\n<h2>{}</h2>\n{}\n", esc(&s.title), s.intro);
        for c in &s.charts {
            match &c.svg {
                Ok(svg) => {
                    let _ = write!(
                        h,
                        "<figure class=\"chart\" data-chart=\"{}\">\n<figcaption>{}</figcaption>\n{}\n</figure>\n",
                        c.id,
                        esc(&c.caption),
                        svg.trim()
                    );
                }
                Err(why) => {
                    let _ = write!(
                        h,
                        "<figure class=\"chart\" data-chart=\"{}\" data-nodata=\"1\">\n<figcaption>{}</figcaption>\n<p class=\"nodata\">no chart: {}</p>\n</figure>\n",
                        c.id,
                        esc(&c.caption),
                        esc(why)
                    );
                }
            }
        }
        h.push_str(&s.after);
        h.push_str("</section>\n");
    }
    let _ = write!(
        h,
        "<footer>Rendered by <code>evidence html</code> (val-core {}) from the files of this run directory only; \
         re-rendering gives the same bytes. Percentiles: {}. Links are relative to the run directory.</footer>\n</body>\n</html>\n",
        esc(env!("CARGO_PKG_VERSION")),
        esc(crate::stats::PERCENTILE_METHOD)
    );
    Ok(h)
}

/// The page of a run that does not verify (`evidence html --force`): the same page
/// with no verdict anywhere. The verdict line is replaced by the reasons (`reasons`,
/// one per mismatch), each check's status by "unverified", and every observed value
/// and chart caption is labelled "unverified". Done on the rendered page so the
/// verified page (what verify re-renders) has a single renderer.
pub fn render_unverified(run_dir: &Path, reasons: &[String]) -> Result<String, HtmlError> {
    let page = render(run_dir)?;
    let mut banner = format!(
        "<p class=\"verdict na\" id=\"verdict\">Plan verdict: none &mdash; UNVERIFIED: this run does not verify ({} mismatch(es)); every figure on this page is unverified</p>\n<ul class=\"banner\">\n",
        reasons.len()
    );
    for r in reasons {
        let _ = writeln!(banner, "<li>{}</li>", esc(r));
    }
    banner.push_str("</ul>\n");
    let mut out = String::with_capacity(page.len() + banner.len());
    for line in page.split_inclusive('\n') {
        if line.contains("id=\"verdict\"") {
            out.push_str(&banner);
        } else if let Some(rest) = line.strip_prefix("<tr><td class=\"status ") {
            // Drop the stored status: `<tr><td class="status pass">PASS</td>...`.
            let after = rest.split_once("</td>").map_or("", |(_, a)| a);
            out.push_str("<tr><td class=\"status na\">unverified</td>");
            out.push_str(&after.replace("<td class=\"obs\">", "<td class=\"obs\">unverified: "));
        } else {
            out.push_str(&line.replace("<figcaption>", "<figcaption>unverified: "));
        }
    }
    Ok(out)
}

/// The verdict line under the title.
fn verdict_line(report: &Result<Report, crate::check::ReportError>) -> String {
    let word = |b: bool| if b { "PASS" } else { "FAIL" };
    let class = |b: bool| if b { "pass" } else { "fail" };
    let Ok(r) = report else {
        return "<p class=\"verdict na\" id=\"verdict\">Plan verdict: none (no judged report in this run directory)</p>\n".into();
    };
    let v = &r.verdict;
    let mut s = String::new();
    if !r.faults.is_empty() {
        let _ = writeln!(
            s,
            "<p class=\"banner\">NEGATIVE RUN: faults injected ({}); not evidence of the product</p>",
            esc(&r.faults.join(","))
        );
    }
    match (v.full, v.minimum_acceptable) {
        (Some(full), Some(min)) => {
            let _ = writeln!(
                s,
                "<p class=\"verdict {}\" id=\"verdict\">Plan verdict: {} ({}/{} checks PASS; minimum acceptable: {})</p>",
                class(full),
                word(full),
                v.passed,
                v.total,
                word(min)
            );
        }
        _ => {
            let custom = v.custom == Some(true);
            let _ = writeln!(
                s,
                "<p class=\"verdict {}\" id=\"verdict\">Plan verdict: not applicable (profile {}) &mdash; custom verdict: {} ({}/{} checks PASS under this run's own workload)</p>",
                class(custom),
                esc(r.profile.name()),
                word(custom),
                v.passed,
                v.total
            );
        }
    }
    if let Some(b) = &v.beyond {
        let _ = writeln!(
            s,
            "<p class=\"verdict {}\">Beyond the plan: {} ({}/{} checks PASS)</p>",
            class(b.pass),
            word(b.pass),
            b.passed,
            b.total
        );
    }
    s
}

/// The header table: suite, run, target, profile, digest, provenance.
fn meta_table(
    suite: &str,
    run_id: &str,
    report: &Result<Report, crate::check::ReportError>,
    manifest: &Result<Value, String>,
    digest: &Result<String, String>,
) -> String {
    let mut rows: Vec<(&str, String)> = vec![("suite", esc(suite)), ("run", esc(run_id))];
    match report {
        Ok(r) => {
            rows.push(("target", esc(&r.target.line())));
            rows.push(("profile", esc(&r.profile_line())));
            rows.push((
                "faults injected",
                if r.faults.is_empty() {
                    "none".into()
                } else {
                    esc(&r.faults.join(","))
                },
            ));
        }
        Err(e) => rows.push((
            "report",
            format!("<span class=\"nodata\">{}</span>", esc(&e.to_string())),
        )),
    }
    rows.push((
        "run digest",
        match digest {
            Ok(d) => format!(
                "<code>sha256:{}</code> of <a href=\"{MANIFEST_FILE}\">{MANIFEST_FILE}</a>",
                esc(d)
            ),
            Err(e) => format!("<span class=\"nodata\">no manifest: {}</span>", esc(e)),
        },
    ));
    if let Ok(m) = manifest {
        let t = |v: &Value| match v {
            Value::Null => "unknown".to_string(),
            Value::String(s) => esc(s),
            v => esc(&v.to_string()),
        };
        rows.push((
            "lab ran",
            format!("{} &rarr; {}", t(&m["started_at"]), t(&m["ended_at"])),
        ));
        rows.push((
            "harness",
            format!(
                "val-core {}, commit {}{}, {} build; host {} CPUs ({} available), {}",
                t(&m["harness_version"]),
                t(&m["git"]["commit"]),
                if m["git"]["dirty"] == true {
                    " (dirty)"
                } else {
                    ""
                },
                t(&m["tools"]["harness_profile"]),
                t(&m["host"]["cpus"]),
                t(&m["host"]["cpus_available"]),
                t(&m["host"]["cpu_model"])
            ),
        ));
        if let Some(e) = m["lab_error"].as_str() {
            rows.push((
                "lab error",
                format!("<span class=\"nodata\">{}</span>", esc(e)),
            ));
        }
    }
    let mut s = String::from("<table class=\"meta\">\n");
    for (k, v) in rows {
        let _ = writeln!(s, "<tr><td>{k}</td><td>{v}</td></tr>");
    }
    s.push_str("</table>\n");
    s
}

/// The verdict table: one row per check.
fn checks_table(report: &Result<Report, crate::check::ReportError>) -> String {
    let Ok(r) = report else {
        return String::new();
    };
    let mut s = String::from(
        "<section>\n<h2>Checks</h2>\n<table class=\"checks\" id=\"checks\">\n<tr><th>status</th><th>check</th><th>observed</th><th>threshold</th><th>evidence</th><th>note</th></tr>\n",
    );
    for c in &r.checks {
        let class = match c.status {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::NotRun => "notrun",
        };
        let observed = match &c.observed {
            None => "<em>not observed</em>".to_string(),
            Some(v) => {
                let text = serde_json::to_string(v).unwrap_or_default();
                if text.len() > 400 {
                    format!(
                        "<details><summary>{} bytes of JSON</summary><pre>{}</pre></details>",
                        text.len(),
                        esc(&text)
                    )
                } else {
                    format!("<pre>{}</pre>", esc(&text))
                }
            }
        };
        let links: Vec<String> = c.evidence.iter().map(|e| evidence_link(e)).collect();
        let _ = writeln!(
            s,
            "<tr><td class=\"status {class}\">{}</td><td><b>{}</b> {}</td><td class=\"obs\">{observed}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            c.status,
            esc(&c.id),
            esc(&c.title),
            esc(&c.threshold),
            links.join("<br>"),
            c.note.as_deref().map(esc).unwrap_or_default()
        );
    }
    s.push_str("</table>\n</section>\n");
    s
}
