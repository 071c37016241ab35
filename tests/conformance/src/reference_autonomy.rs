//! `conformance-autonomy`: the reference control-plane, built by the same cargo command
//! as this package's tests, which find it as `CARGO_BIN_EXE_conformance-autonomy`.

fn main() {
    std::process::exit(val_support::cp::reference_main());
}
