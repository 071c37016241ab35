//! Nearest-rank percentiles against hand-computed cases, and histogram merging.

use rstest::rstest;
use val_support::stats::{nearest_rank, Latencies, LatencySummary, PERCENTILE_METHOD};

/// 1..=n in a scrambled but fixed order, so sorting is exercised.
fn scrambled(n: u64) -> Vec<u64> {
    let mut v: Vec<u64> = (1..=n).collect();
    v.sort_by_key(|x| (x * 7919) % 101);
    v
}

#[rstest]
// One sample: every percentile is that sample.
#[case(&[7], 1.0, 7)]
#[case(&[7], 50.0, 7)]
#[case(&[7], 99.0, 7)]
#[case(&[7], 100.0, 7)]
// Two samples: rank = ceil(p/100 × 2); p ≤ 50 → rank 1, p > 50 → rank 2.
#[case(&[20, 10], 50.0, 10)]
#[case(&[20, 10], 50.5, 20)]
#[case(&[20, 10], 99.0, 20)]
fn nearest_rank_small(#[case] samples: &[u64], #[case] p: f64, #[case] expected: u64) {
    assert_eq!(nearest_rank(samples, p), Some(expected));
}

#[rstest]
// Ten samples 1..=10: rank = ceil(p/10).
#[case(10, 10.0, 1)]
#[case(10, 10.1, 2)]
#[case(10, 50.0, 5)]
#[case(10, 90.0, 9)]
#[case(10, 91.0, 10)]
#[case(10, 99.0, 10)]
// Hundred samples 1..=100: rank = ceil(p).
#[case(100, 1.0, 1)]
#[case(100, 50.0, 50)]
#[case(100, 95.0, 95)]
#[case(100, 99.0, 99)]
#[case(100, 99.5, 100)]
#[case(100, 100.0, 100)]
fn nearest_rank_scrambled(#[case] n: u64, #[case] p: f64, #[case] expected: u64) {
    assert_eq!(nearest_rank(&scrambled(n), p), Some(expected));
}

#[test]
fn nearest_rank_of_nothing_is_absent() {
    assert_eq!(nearest_rank(&[], 99.0), None);
    let s = LatencySummary::of(&[]);
    assert_eq!((s.count, s.p99_us, s.max_us), (0, None, None));
}

#[test]
fn exact_summary_names_its_method() {
    let s = LatencySummary::of(&scrambled(100));
    assert_eq!(s.p99_us, Some(99));
    assert_eq!(s.p50_us, Some(50));
    assert_eq!(s.method, PERCENTILE_METHOD);
    assert!(PERCENTILE_METHOD.contains("nearest-rank"));
}

#[test]
fn merged_histogram_equals_one_histogram_of_all_samples() {
    let a: Vec<u64> = (1..=500).map(|i| i * 100).collect();
    let b: Vec<u64> = (1..=500).map(|i| 50_000 + i * 300).collect();
    let mut merged = Latencies::from_samples(&a);
    merged.merge(&Latencies::from_samples(&b)).unwrap();
    let all: Vec<u64> = a.iter().chain(b.iter()).copied().collect();
    let whole = Latencies::from_samples(&all);
    assert_eq!(merged.count(), 1000);
    for p in [50.0, 90.0, 99.0, 99.9, 100.0] {
        assert_eq!(merged.percentile_us(p), whole.percentile_us(p), "p{p}");
    }
    assert_eq!(merged.max_us(), whole.max_us());
    // The merged p99 sits in the second set (three significant digits of precision).
    let p99 = merged.percentile_us(99.0).unwrap();
    let exact = nearest_rank(&all, 99.0).unwrap();
    assert!(p99.abs_diff(exact) <= exact / 1000 + 1, "{p99} vs {exact}");
}

#[test]
fn empty_histogram_reports_nothing() {
    let h = Latencies::new();
    assert_eq!(h.percentile_us(99.0), None);
    assert_eq!(h.summary().p99_us, None);
}
