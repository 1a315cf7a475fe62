//! The `kvsentry` command: argument parsing, terminal output and exit codes over the library.
//!
//! `args/` holds the command line, `cmd/` one module per subcommand, `summary.rs` what a run
//! reports on stderr, `exit.rs` the exit codes and error messages, `output.rs` where output
//! goes, `logging.rs` serve's logs.

#[macro_use]
mod output;
mod args;
mod cmd;
mod exit;
mod logging;
mod summary;

use std::process::ExitCode;

use args::{Cli, Command};
use clap::Parser;
use exit::Exit;

// The hunt allocates on worker threads what the engine's thread frees (input chunks, events,
// rule rows): mimalloc's thread-local free lists suit that pattern better than glibc's arenas.
// Built without transparent huge pages (`no_thp`), which kept the peak memory lower and flat
// with input size. The measurements are in bench/RESULTS.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = Cli::parse();
    // Ctrl-C ends the process without destructors: remove a hunt's sorting directory first.
    // serve handles its signals itself (it finishes its pass and checkpoints).
    if !matches!(args.command, Command::Serve(_)) {
        let _ = ctrlc::set_handler(|| {
            kvsentry_runtime::hunt::remove_spill_dirs();
            std::process::exit(130);
        });
    }
    match run(args) {
        Ok(code) => code.into(),
        Err(err) if exit::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kvsentry: error: {}", exit::user_message(&err));
            Exit::from_error(&err).into()
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Hunt(a) => cmd::hunt::run(a),
        Command::Events(a) => cmd::events::run(a),
        Command::Rules(c) => cmd::rules::run(c),
        Command::Gen(a) => cmd::generate::run(a),
        Command::Ti(a) => cmd::ti::run(a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Fields => cmd::fields::run(),
    }
}
