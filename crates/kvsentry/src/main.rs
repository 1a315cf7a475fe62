//! The `kvsentry` command: argument parsing, terminal output and exit codes over the library.

mod cli;

use std::process::ExitCode;

use clap::Parser;

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
