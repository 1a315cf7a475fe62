//! Where a command's output goes: standard output or a file.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;

/// `println!` that returns the write error instead of panicking, so `kvsentry ... | head`
/// ends quietly (see [`is_broken_pipe`](crate::exit::is_broken_pipe)).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

/// Standard output or a file, buffered; `is_terminal` tells the default output form.
pub fn open_output(path: Option<&Path>) -> anyhow::Result<(Box<dyn Write>, bool)> {
    Ok(match path {
        Some(p) => {
            let f = File::create(p)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", p.display()))?;
            (Box::new(BufWriter::new(f)), false)
        }
        None => {
            let tty = io::stdout().is_terminal();
            (Box::new(BufWriter::new(io::stdout().lock())), tty)
        }
    })
}
