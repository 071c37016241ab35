//! The suite against the reference behaving as another valid control-plane may
//! (contract §11): every check must PASS. VAL08 uses neither the CLI nor the stuck scan,
//! so none of the variants should matter; this shows that it does not.

use serial_test::file_serial;
use val_support::plans::val08::Config;

#[test]
#[file_serial(val08)]
fn val08_passes_against_every_variant() {
    let variants = [
        "cli-json-default",
        "cli-strict-flags",
        "stuck-creation-order",
        "stuck-ignore-limit",
    ];
    let lab = val08::variant(&variants, &Config::default()).expect("the variant lab ran");
    lab.assert_red(&[]);
    // The variants reached the control-plane that was tested, not only the manifest.
    let target: serde_json::Value = val_support::fsx::read_json(&lab.run_dir().join("target.json"))
        .expect("target.json of the run");
    assert_eq!(
        target["env"]["AUTONOMY_VARIANT"],
        variants.join(","),
        "{target}"
    );
    assert_eq!(
        lab.report().verdict.full,
        Some(true),
        "{}",
        lab.report().to_text()
    );
}
