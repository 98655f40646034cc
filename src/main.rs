//! The `custkey` binary: a PowerShell-style cmdlet shell over the custkey library.

mod cli;

fn main() {
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    std::process::exit(cli::main(argv));
}
