//! serve's signals: SIGHUP reloads, SIGTERM and SIGINT stop (a second one stops at once).
//! A stop lets the pass under way finish if it does within [`STOP_GRACE`] (a whole pass
//! concludes what it read: its windows close); past that, the pass stops reading at its
//! next block and commits what it read, through the server's [`StopHandle`].
//!
//! On Unix the signals are blocked in every thread and taken by one thread with `sigwait`,
//! which may do anything (send on a channel, log), unlike a signal handler. They must be
//! blocked before any other thread starts, as threads inherit the mask: [`block`] first.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kvsentry_runtime::serve::StopHandle;

use super::Control;

/// Set once a stop was asked for (by a signal, or the loop's channel closing).
pub static STOP: AtomicBool = AtomicBool::new(false);

/// The stop handle of the server serving now (a reload opens another).
pub type CurrentStop = Arc<Mutex<Option<StopHandle>>>;

/// How long a stop waits for the pass under way to end before cutting it short.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// Asks for a stop: the loop ends after the pass under way, which stops reading after
/// [`STOP_GRACE`].
fn stop(current: &CurrentStop, control: &Sender<Control>) {
    STOP.store(true, Ordering::Relaxed);
    let _ = control.send(Control::Stop);
    let current = Arc::clone(current);
    let cut = move || {
        std::thread::sleep(STOP_GRACE);
        if let Some(h) = current.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            h.stop();
        }
    };
    // Without a timer thread, the pass ends when it ends.
    let _ = std::thread::Builder::new().spawn(cut);
}

/// The signals serve takes, blocked in this thread and every thread it starts from now on.
#[cfg(unix)]
pub struct Blocked(nix::sys::signal::SigSet);

#[cfg(unix)]
pub fn block() -> Blocked {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for s in [Signal::SIGHUP, Signal::SIGINT, Signal::SIGTERM] {
        set.add(s);
    }
    // Failing to block leaves the default actions (a stop without a checkpoint, which the
    // state store survives).
    let _ = set.thread_block();
    Blocked(set)
}

/// Takes the blocked signals on a thread of their own, telling the serving loop through
/// `control`; `reloads`: whether SIGHUP reloads (not in a `--once` run).
#[cfg(unix)]
pub fn listen(blocked: Blocked, control: Sender<Control>, current: CurrentStop, reloads: bool) {
    use nix::sys::signal::Signal;
    let set = blocked.0;
    let taken = std::thread::Builder::new()
        .name("kvsentry-signals".into())
        .spawn(move || {
            loop {
                match set.wait() {
                    Ok(Signal::SIGHUP) if !reloads => {
                        tracing::info!("serve: SIGHUP ignored: a --once run does not reload");
                    }
                    Ok(Signal::SIGHUP) => {
                        tracing::info!("serve: SIGHUP: reloading after the pass under way");
                        let _ = control.send(Control::Reload(None));
                    }
                    Ok(sig) => {
                        if STOP.swap(true, Ordering::Relaxed) {
                            tracing::warn!(
                                "serve: {sig} again: stopping now; the next run resumes from \
                                 the last checkpoint"
                            );
                            std::process::exit(1);
                        }
                        tracing::info!(
                            "serve: {sig}: stopping after the pass under way (cut short after \
                             {}s, what it read is committed)",
                            STOP_GRACE.as_secs()
                        );
                        stop(&current, &control);
                    }
                    Err(_) => {}
                }
            }
        });
    if let Err(e) = taken {
        tracing::warn!("serve: signals are not taken ({e}): SIGTERM stops without a checkpoint");
        let _ = nix::sys::signal::SigSet::all().thread_unblock();
    }
}

#[cfg(not(unix))]
pub struct Blocked;

#[cfg(not(unix))]
pub fn block() -> Blocked {
    Blocked
}

#[cfg(not(unix))]
pub fn listen(_: Blocked, control: Sender<Control>, current: CurrentStop, _reloads: bool) {
    let _ = ctrlc::set_handler(move || {
        if STOP.swap(true, Ordering::Relaxed) {
            std::process::exit(1);
        }
        stop(&current, &control);
    });
}
