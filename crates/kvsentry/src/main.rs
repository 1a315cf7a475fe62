//! The `kvsentry` command: argument parsing, terminal output and exit codes over the library.

mod cli;

use std::process::ExitCode;

use clap::Parser;

// The hunt allocates and frees small buffers on several threads at once (input chunks made
// by the reader, events and rule rows made by the workers, freed by the engine's thread);
// glibc's allocator spends a tenth of a hunt's time in `malloc`/`free` and its arena locks
// (bench/RESULTS.md, profile). mimalloc's thread-local free lists remove most of that.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::args::Cli::parse();
    match cli::run(args) {
        Ok(code) => code.into(),
        Err(err) if cli::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kvsentry: error: {err:#}");
            cli::Exit::from_error(&err).into()
        }
    }
}
