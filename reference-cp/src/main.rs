//! `autonomy`: server and CLI in one binary.

fn main() {
    std::process::exit(autonomy_cp::cli::run());
}
