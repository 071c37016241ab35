//! The JSON report's shape, snapshotted with every measured value redacted.

#[test]
fn val11_report_json_shape() {
    let lab = val11::shared();
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(lab.run_dir().join("val11-report.json")).unwrap(),
    )
    .unwrap();
    insta::assert_json_snapshot!("val11_report_shape", report, {
        ".run_id" => "[run_id]",
        ".target.path" => "[binary path]",
        ".target.sha256" => "[binary sha256]",
        ".target.url" => "[url]",
        ".checks[].observed" => "[observed]",
        ".checks[].note" => "[note]",
        // The kill-round files depend on VAL11_KILL_ROUNDS.
        ".checks[10].evidence" => "[kill-round files]",
    });
}
