//! The HTML report of the shared VAL11 run, checked in headless Chromium (a self-test:
//! it runs under the ci profile).

use val_support::{browser, fsx};

#[test]
fn val11_html_report_selftest() {
    let lab = val11::shared();
    let keep = fsx::target_dir().join("fleetval-html").join("val11");
    if let Some(png) = browser::check_run(lab.run_dir(), &keep).expect("the page reads well") {
        eprintln!("screenshot: {}", png.display());
    }
}
