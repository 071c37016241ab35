//! The demo plan's derived file: a latency summary recomputed from the raw samples,
//! so the harness's self-tests cover a plan-specific derived file end to end (written
//! by the lab, re-derived and compared by `evidence verify`).

use crate::check::Report;
use crate::plans::{DerivedFile, Files, Missing, RunRef};
use crate::stats;

/// The derived latency summary.
pub const LATENCY_SUMMARY_FILE: &str = "demo-latency-summary.txt";

/// The raw samples it is computed from.
pub const LATENCIES_FILE: &str = "demo-latencies-us.txt";

/// `samples=`, nearest-rank `p50_us=`, `p99_us=` and `max_us=` of the raw samples;
/// an unreadable or empty sample file gives `absent` values and says why, never 0.
pub fn latency_summary(f: &Files) -> String {
    let samples = f.u64_lines(LATENCIES_FILE);
    let rank = |p: f64| {
        samples
            .as_ref()
            .ok()
            .and_then(|s| stats::nearest_rank(s, p))
            .map_or_else(|| "absent".to_string(), |v| v.to_string())
    };
    let mut s = format!(
        "samples={} p50_us={} p99_us={} max_us={}\n",
        samples.as_ref().map_or(0, Vec::len),
        rank(50.0),
        rank(99.0),
        rank(100.0)
    );
    if let Err(m) = &samples {
        s.push_str(&format!(
            "missing={}\n",
            crate::plans::kv_quote(&m.to_string())
        ));
    }
    s
}

/// The demo's derived files beyond its two reports.
pub fn derived(run: &RunRef<'_>, _: &Report) -> Result<Vec<DerivedFile>, Missing> {
    Ok(vec![DerivedFile {
        path: LATENCY_SUMMARY_FILE.to_string(),
        text: latency_summary(&Files::new(run.dir)),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_says_absent_never_zero() {
        let dir = tempfile::tempdir().unwrap();
        let f = Files::new(dir.path());
        let s = latency_summary(&f);
        assert!(s.starts_with("samples=0 p50_us=absent p99_us=absent max_us=absent\nmissing="));
        std::fs::write(dir.path().join(LATENCIES_FILE), "3000\n1000\n2000\n").unwrap();
        assert_eq!(
            latency_summary(&f),
            "samples=3 p50_us=2000 p99_us=3000 max_us=3000\n"
        );
    }
}
