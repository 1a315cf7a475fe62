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
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (position 15 of `mi_option_t` in the bundled v3;
/// `tests::purge_delay_is_option_15` checks it against the documented default).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// A command runs once and exits: memory it frees is kept for its own next allocations
/// instead of being handed back to the kernel and faulted in (zeroed) again, which cost a
/// hunt up to a fifth of its time in system CPU. The peak is the same either way. A user's
/// own `MIMALLOC_PURGE_DELAY` still wins.
fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one integer option, before any other thread exists.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
}

fn main() -> ExitCode {
    keep_freed_memory();
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

#[cfg(test)]
mod tests {
    #[test]
    fn purge_delay_is_option_15() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // The bundled mimalloc v3 documents 1000 ms as the purge delay's default; no other
        // option near it defaults to 1000.
        // SAFETY: reads one option.
        let v = unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        assert_eq!(v, 1000);
    }
}
