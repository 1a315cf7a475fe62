//! The `kvsentry` command: argument parsing, terminal output and exit codes over the library.

mod cli;

use std::process::ExitCode;

use clap::Parser;

// The hunt allocates on worker threads what the engine's thread frees (input chunks, events,
// rule rows): mimalloc's thread-local free lists suit that pattern better than glibc's arenas.
// Built without transparent huge pages (`no_thp`), which kept the peak memory lower and flat
// with input size. The measurements are in bench/RESULTS.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::args::Cli::parse();
    // Ctrl-C ends the process without destructors: remove a hunt's sorting directory first.
    let _ = ctrlc::set_handler(|| {
        kvsentry::hunt::remove_spill_dirs();
        std::process::exit(130);
    });
    match cli::run(args) {
        Ok(code) => code.into(),
        Err(err) if cli::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kvsentry: error: {}", cli::user_message(&err));
            cli::Exit::from_error(&err).into()
        }
    }
}
