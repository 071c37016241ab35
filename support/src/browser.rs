//! The HTML report checked in a real browser: headless Chromium renders the page,
//! takes a screenshot and dumps the DOM it built, and [`check_page`] asserts what a
//! reader must see (the verdict, every chart as an SVG, no script).
//!
//! The browser is `FLEETVAL_CHROMIUM` when set, else Debian's `chromium` (`.ci/run`
//! installs it), else a Chrome or Chromium found in `/usr/bin` (GitHub's Ubuntu runners
//! ship `google-chrome`). Without one a test is skipped with a message, except under
//! CI (`CI` set), where its absence is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Where Debian installs Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Other headless-capable browsers of the same engine, tried after [`CHROMIUM`].
const OTHERS: &[&str] = &["/usr/bin/chromium-browser", "/usr/bin/google-chrome"];
/// Upper bound on one Chromium run.
const TIMEOUT: Duration = Duration::from_secs(90);

/// The browser, or `None` (skip) when it is absent outside CI; absent under CI is an error.
pub fn chromium() -> Result<Option<PathBuf>> {
    if let Some(p) = crate::env::path("FLEETVAL_CHROMIUM") {
        if !p.is_file() {
            bail!("FLEETVAL_CHROMIUM={} is not a file", p.display());
        }
        return Ok(Some(p));
    }
    let ci = crate::env::nonempty("CI").is_some_and(|v| v != "false" && v != "0");
    let candidates: Vec<PathBuf> = std::iter::once(CHROMIUM)
        .chain(OTHERS.iter().copied())
        .map(PathBuf::from)
        .collect();
    find(&candidates, ci)
}

/// The first of `candidates` that exists; none is a skip, or an error under CI.
fn find(candidates: &[PathBuf], ci: bool) -> Result<Option<PathBuf>> {
    if let Some(p) = candidates.iter().find(|p| p.is_file()) {
        return Ok(Some(p.clone()));
    }
    if ci {
        bail!("{CHROMIUM} is missing and CI is set: .ci/run installs Debian's chromium");
    }
    eprintln!(
        "SKIPPED: {CHROMIUM} is not installed (apt-get install chromium); the browser check runs under CI"
    );
    Ok(None)
}

/// Runs Chromium headless on `page` with `mode` (`--dump-dom` or `--screenshot=…`);
/// returns stdout.
fn run(bin: &Path, page: &Path, mode: &str) -> Result<String> {
    let profile = tempfile::tempdir().context("chromium profile directory")?;
    let url = format!(
        "file://{}",
        page.canonicalize()
            .with_context(|| format!("page {}", page.display()))?
            .display()
    );
    // Output goes to files: a pipe nobody reads while waiting would fill and block
    // the browser once the DOM is larger than the pipe's buffer.
    let out_path = profile.path().join("stdout.txt");
    let err_path = profile.path().join("stderr.txt");
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,2000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(mode)
        .arg(&url)
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out_path).context("chromium stdout file")?)
        .stderr(std::fs::File::create(&err_path).context("chromium stderr file")?)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            bail!("chromium did not finish within {TIMEOUT:?} ({mode})");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    if !status.success() {
        bail!("chromium {mode} exited {status}: {}", read(&err_path));
    }
    Ok(read(&out_path))
}

/// What the browser produced for a page.
#[derive(Debug)]
pub struct Rendered {
    /// The DOM Chromium built (after parsing and any script).
    pub dom: String,
    /// The screenshot it took.
    pub screenshot: PathBuf,
}

/// Renders `page` in headless Chromium: a screenshot next to it (`<page>.png`) and the
/// DOM. `None` when the browser is absent outside CI (the test is skipped).
pub fn render(page: &Path) -> Result<Option<Rendered>> {
    let Some(bin) = chromium()? else {
        return Ok(None);
    };
    let screenshot = page.with_extension("png");
    run(
        &bin,
        page,
        &format!("--screenshot={}", screenshot.display()),
    )?;
    let png = std::fs::read(&screenshot)
        .with_context(|| format!("screenshot {}", screenshot.display()))?;
    if png.len() < 1000 || !png.starts_with(b"\x89PNG") {
        bail!("{}: not a PNG screenshot", screenshot.display());
    }
    let dom = run(&bin, page, "--dump-dom")?;
    Ok(Some(Rendered { dom, screenshot }))
}

/// Asserts what a reader must see in the rendered DOM: the verdict line after the
/// profile, the key figures before the checks table, each chart of `charts` as an
/// inline SVG (not a "no chart" placeholder), and no script at all.
pub fn check_page(r: &Rendered, charts: &[&str]) -> Result<()> {
    let dom = &r.dom;
    if !dom.contains("id=\"verdict\"") || !dom.contains("Plan verdict:") {
        bail!("the rendered page shows no verdict line");
    }
    if dom.to_lowercase().contains("<script") {
        bail!("the rendered page holds a script");
    }
    // Reading order: what was tested (target, profile) before the verdict, and the key
    // figures before the checks table, so the figures people quote are above the fold.
    let at = |needle: &str| dom.find(needle);
    match (at(">profile<"), at("id=\"verdict\"")) {
        (Some(p), Some(v)) if p < v => {}
        _ => bail!("the rendered page does not say its profile before the verdict"),
    }
    if let (Some(k), Some(c)) = (at("id=\"key-figures\""), at("id=\"checks\"")) {
        if k > c {
            bail!("the rendered page puts its key figures after the checks table");
        }
    } else if at("id=\"checks\"").is_some() {
        bail!("the rendered page has no key figures");
    }
    for id in charts {
        let marker = format!("data-chart=\"{id}\"");
        let Some(at) = dom.find(&marker) else {
            bail!("chart {id} is not on the rendered page");
        };
        let figure = &dom[at..dom[at..].find("</figure>").map_or(dom.len(), |e| at + e)];
        if !figure.contains("<svg") || figure.contains("data-nodata") {
            bail!(
                "chart {id} is not drawn: {}",
                &figure[..figure.len().min(400)]
            );
        }
    }
    Ok(())
}

/// Renders the page of `run_dir` into a temporary file (the run directory is left as it
/// is), opens it in Chromium and checks it (see [`check_page`]). Returns the screenshot
/// path (kept under `keep_dir`), or `None` when skipped.
pub fn check_run(run_dir: &Path, keep_dir: &Path) -> Result<Option<PathBuf>> {
    let suite = val_core::evidence::RunDir::open(run_dir)?
        .suite()
        .to_string();
    std::fs::create_dir_all(keep_dir)?;
    let page = keep_dir.join(val_core::html::file_name(&suite));
    std::fs::write(&page, val_core::html::render(run_dir)?)
        .with_context(|| format!("write {}", page.display()))?;
    let Some(r) = render(&page)? else {
        return Ok(None);
    };
    check_page(&r, val_core::html::expected_charts(&suite)).with_context(|| {
        format!(
            "page {} (screenshot {})",
            page.display(),
            r.screenshot.display()
        )
    })?;
    Ok(Some(r.screenshot))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dom(body: &str) -> Rendered {
        Rendered {
            dom: format!("<html><body>{body}</body></html>"),
            screenshot: PathBuf::new(),
        }
    }

    const VERDICT: &str = "<td>profile</td><td>plan</td><p id=\"verdict\">Plan verdict: PASS</p>";

    #[test]
    fn a_missing_browser_is_a_skip_outside_ci_and_a_failure_under_ci() {
        let none = [PathBuf::from("/nonexistent/chromium")];
        assert!(find(&none, false).unwrap().is_none());
        assert!(find(&none, true).is_err());
        let exe = std::env::current_exe().unwrap();
        assert_eq!(
            find(&[none[0].clone(), exe.clone()], true).unwrap(),
            Some(exe)
        );
    }

    #[test]
    fn a_page_with_the_verdict_and_every_chart_passes() {
        let r = dom(&format!(
            "{VERDICT}<figure data-chart=\"a\"><svg></svg></figure><figure data-chart=\"b\"><svg></svg></figure>"
        ));
        check_page(&r, &["a", "b"]).unwrap();
    }

    #[test]
    fn a_missing_verdict_chart_or_a_script_fails() {
        let chart = "<figure data-chart=\"a\"><svg></svg></figure>";
        assert!(check_page(&dom(chart), &["a"]).is_err(), "no verdict");
        assert!(check_page(&dom(VERDICT), &["a"]).is_err(), "no chart");
        let placeholder =
            format!("{VERDICT}<figure data-chart=\"a\" data-nodata=\"1\"><p>no chart</p></figure>");
        assert!(
            check_page(&dom(&placeholder), &["a"]).is_err(),
            "placeholder"
        );
        let script = format!("{VERDICT}{chart}<SCRIPT>x()</SCRIPT>");
        assert!(check_page(&dom(&script), &["a"]).is_err(), "script");
    }

    #[test]
    fn the_profile_comes_before_the_verdict_and_key_figures_before_the_checks() {
        let keys = "<section id=\"key-figures\"></section>";
        let checks = "<table id=\"checks\"></table>";
        check_page(&dom(&format!("{VERDICT}{keys}{checks}")), &[]).unwrap();
        let late = "<p id=\"verdict\">Plan verdict: PASS</p><td>profile</td>";
        assert!(
            check_page(&dom(late), &[]).is_err(),
            "verdict before the profile"
        );
        let after = format!("{VERDICT}{checks}{keys}");
        assert!(
            check_page(&dom(&after), &[]).is_err(),
            "key figures after the checks"
        );
        let none = format!("{VERDICT}{checks}");
        assert!(check_page(&dom(&none), &[]).is_err(), "no key figures");
    }
}
