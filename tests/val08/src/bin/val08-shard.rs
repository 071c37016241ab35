//! `val08-shard [--shard i/n] --out DIR`: one shard of a sharded VAL08 staged load
//! (see `val08::shard`). Prints the shard's run directory; exit 1 on a harness error.

fn main() -> std::process::ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.iter().any(|a| a == "--help" || a == "-h") {
        print!("{}", val08::shard::USAGE);
        return std::process::ExitCode::SUCCESS;
    }
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let run = val08::shard::args_from(&argv, &env).and_then(|a| val08::shard::run_shard(&a));
    match run {
        Ok(dir) => {
            println!("{}", dir.display());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("val08-shard: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
