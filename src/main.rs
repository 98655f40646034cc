//! The `custkey` binary: a PowerShell-style cmdlet shell over the custkey library.

mod cli;

/// The stack the cmdlet shell runs on. The script parser and evaluator and the `-Filter` parser
/// recurse once per nesting level and refuse input past their limits (docs/cli.md, "Input
/// limits"); this leaves a wide margin under those limits in every build, debug included
/// (where a level takes tens of KiB). Only the pages used are ever touched.
pub(crate) const STACK_BYTES: usize = 64 << 20;

fn main() {
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let code = match std::thread::Builder::new()
        .name("main".into())
        .stack_size(STACK_BYTES)
        .spawn(move || cli::main(argv))
    {
        // A panic exits 70 from the panic hook before the join could see it.
        Ok(t) => t.join().unwrap_or(70),
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            eprintln!("help: the system refused a thread; free memory and run the command again");
            70
        }
    };
    std::process::exit(code);
}
