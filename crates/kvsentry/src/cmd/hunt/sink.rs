//! Where `kvsentry hunt` writes its alerts: the form chosen from `-f`, `-o` and the terminal,
//! and a transport that keeps the progress bar out of the output.

use std::io::{self, Write};

use indicatif::ProgressBar;
use kvsentry_model::Alert;
use kvsentry_output::encode::{AlertDetail, Csv, Encoder, JsonLines};
use kvsentry_output::sink::{DeliveryError, Writer};
use kvsentry_output::{AlertSink, OutputFormat, Sink, TableStyle, Transport};

use crate::args::{FormatArg, HuntArgs};

/// `--alert ID`: the one alert in the form asked for (indented JSON, CSV), else whole as text.
pub fn write_one(a: &HuntArgs, out: Box<dyn Write>, alert: &Alert) -> io::Result<()> {
    let encoder: Box<dyn Encoder> = match asked_format(a) {
        Some(OutputFormat::Jsonl | OutputFormat::Json) => Box::new(JsonLines::pretty()),
        Some(OutputFormat::Csv) => Box::new(Csv::new()),
        _ => Box::new(AlertDetail),
    };
    let mut sink = Sink::new(encoder, Writer::new(out));
    sink.write(alert)?;
    sink.finish()
}

/// Where a hunt's alerts go, in the form asked for: `-f`, else `-o`'s extension, else a table
/// on a terminal and JSON lines elsewhere.
pub fn alert_sink(
    a: &HuntArgs,
    out: Box<dyn Write>,
    stdout_tty: bool,
    bar: Option<ProgressBar>,
) -> AlertOutput {
    let format = asked_format(a).unwrap_or(if stdout_tty {
        OutputFormat::Table
    } else {
        OutputFormat::Jsonl
    });
    let encoder = format.encoder(TableStyle {
        width: terminal_width(stdout_tty),
        color: stdout_tty && !no_color(),
    });
    let transport = ClearBar {
        inner: Writer::new(out),
        bar,
    };
    Sink::new(encoder, transport)
}

/// The sink of [`alert_sink`].
pub type AlertOutput = Sink<Box<dyn Encoder + Send>, ClearBar<Writer<Box<dyn Write>>>>;

/// The output form asked for: `-f`, else the extension of `-o`'s file (`.csv`, `.json`,
/// `.jsonl`/`.ndjson`); `None` leaves the choice to where the output goes.
fn asked_format(a: &HuntArgs) -> Option<OutputFormat> {
    match a.format {
        Some(f) => Some(output_format(f)),
        None => a.output.as_deref().and_then(OutputFormat::from_path),
    }
}

/// The form `-f` names.
fn output_format(f: FormatArg) -> OutputFormat {
    match f {
        FormatArg::Table => OutputFormat::Table,
        FormatArg::TableDetail => OutputFormat::TableDetail,
        FormatArg::Jsonl => OutputFormat::Jsonl,
        FormatArg::Json => OutputFormat::Json,
        FormatArg::Csv => OutputFormat::Csv,
    }
}

/// A transport that takes the progress bar off the screen before it writes: alerts written
/// while the bar is drawn would leave a stale frame above them (the tables and CSV write at
/// the end, after the bar is gone).
pub struct ClearBar<T> {
    inner: T,
    bar: Option<ProgressBar>,
}

impl<T: Transport> Transport for ClearBar<T> {
    fn deliver(&mut self, alert: &Alert, bytes: &[u8]) -> Result<(), DeliveryError> {
        match &self.bar {
            Some(bar) => bar.suspend(|| self.inner.deliver(alert, bytes)),
            None => self.inner.deliver(alert, bytes),
        }
    }

    fn finish(&mut self, trailer: &[u8]) -> io::Result<()> {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        self.inner.finish(trailer)
    }
}

/// `COLUMNS` when set (the user's word wins, as for `ls`), else the terminal's width, else 120.
fn terminal_width(stdout_tty: bool) -> u16 {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .or_else(|| stdout_tty.then(kvsentry_output::terminal_width).flatten())
        // A terminal that reports no size (0 columns) is taken as unknown.
        .filter(|w: &u16| *w > 0)
        .unwrap_or(120)
}

/// <https://no-color.org>: a non-empty `NO_COLOR` turns colour off.
fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// `--alert ID`: keeps the alerts whose id starts with the prefix (case aside).
pub struct Pick {
    pub prefix: String,
    pub found: Vec<Alert>,
}

impl AlertSink for Pick {
    fn write(&mut self, alert: &Alert) -> io::Result<()> {
        if alert
            .alert_id
            .to_ascii_lowercase()
            .starts_with(&self.prefix)
        {
            self.found.push(alert.clone());
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}
