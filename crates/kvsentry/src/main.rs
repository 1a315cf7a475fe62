//! The `kvsentry` command: argument parsing, terminal output and exit codes over the library.

mod cli;

use std::process::ExitCode;

use clap::Parser;

// The hunt allocates and frees small buffers on several threads at once (input chunks made
// by the reader, events and rule rows made by the workers, freed by the engine's thread);
// glibc's allocator spends a tenth of a hunt's time in `malloc`/`free` and its arena locks
// (bench/RESULTS.md, profile). mimalloc's thread-local free lists remove most of that.
// Built without transparent huge pages (feature `no_thp`): after another large process (the
// benchmark's DuckDB) the kernel zeroes or compacts 2 MiB pages on fault, which doubled the
// hunt's system time; 4 KiB pages also lower the peak RSS (~170 -> ~150 MiB on 1 GB).
// mimalloc's default purge delay (freed pages returned after 1 s) is kept on purpose: never
// purging saved no time once the reader stopped churning buffers, and let the peak creep up
// with input length (+10% from 1 GB to 10 GB, against +1% with the default).
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
