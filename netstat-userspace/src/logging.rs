//! The log: one line per message on standard error, in the form its reader wants.
//!
//! - Under journald (systemd sets JOURNAL_STREAM to the device and inode of the stream it gave
//!   us, and that stream is our stderr): `<N>message`, N the syslog priority (sd-daemon(3): 3
//!   error, 4 warning, 6 info, 7 debug). No name and no time: the journal records both.
//! - Elsewhere: `enetstat: warning: message` (and `debug:`); info and error lines are plain
//!   `enetstat: message`, as every other line enetstat prints on stderr (the daemon's
//!   `enetstat: serving on PATH`, which scripts wait for, and the final error line).
//!
//! ENETSTAT_LOG (`error`, `warn`, `info`, `debug`, `off`) sets the least severe level shown;
//! the default is `info`. Other crates' messages are shown from `warn` up, or all with `debug`.

use std::io::Write as _;

use log::{Level, LevelFilter, Log, Metadata, Record};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    Journal,
    Plain,
}

impl Style {
    /// How this process's stderr is read.
    pub(crate) fn detect() -> Self {
        let journal_stream = std::env::var("JOURNAL_STREAM").ok();
        Self::from_env(journal_stream.as_deref(), stderr_identity())
    }

    /// Journal style only when JOURNAL_STREAM names stderr itself: a child whose stderr was
    /// redirected inherits the variable but not the stream.
    pub(crate) fn from_env(journal_stream: Option<&str>, stderr: Option<(u64, u64)>) -> Self {
        let named = journal_stream.and_then(|value| {
            let (device, inode) = value.split_once(':')?;
            Some((device.parse().ok()?, inode.parse().ok()?))
        });
        match (named, stderr) {
            (Some(named), Some(actual)) if named == actual => Style::Journal,
            _ => Style::Plain,
        }
    }

    /// The line for one message, newline included; each line of a multi-line message carries
    /// the priority, since the journal reads every line as a record of its own.
    pub(crate) fn format(self, level: Level, message: &str) -> String {
        match self {
            Style::Journal => {
                let priority = match level {
                    Level::Error => 3,
                    Level::Warn => 4,
                    Level::Info => 6,
                    Level::Debug | Level::Trace => 7,
                };
                message
                    .lines()
                    .map(|line| format!("<{priority}>{line}\n"))
                    .collect()
            }
            Style::Plain => {
                let label = match level {
                    Level::Error | Level::Info => "",
                    Level::Warn => "warning: ",
                    Level::Debug => "debug: ",
                    Level::Trace => "trace: ",
                };
                format!("enetstat: {label}{message}\n")
            }
        }
    }
}

/// The device and inode of standard error.
fn stderr_identity() -> Option<(u64, u64)> {
    // SAFETY: stat is plain data; all zeroes is a valid value.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat fills the struct it is given; a closed fd 2 is an error return.
    (unsafe { libc::fstat(2, &mut stat) } == 0).then_some((stat.st_dev, stat.st_ino))
}

struct Logger {
    style: Style,
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        let ours = metadata.target().starts_with("enetstat");
        metadata.level() <= log::max_level()
            && (ours || metadata.level() <= Level::Warn || log::max_level() >= LevelFilter::Debug)
    }

    fn log(&self, record: &Record) {
        if self.enabled(record.metadata()) {
            let line = self
                .style
                .format(record.level(), &record.args().to_string());
            // One write per message, so lines from concurrent tasks do not interleave.
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
    }

    fn flush(&self) {}
}

/// Installs the logger. Called once, first thing in main.
pub(crate) fn init() {
    let level = std::env::var("ENETSTAT_LOG")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(LevelFilter::Info);
    let logger = Box::leak(Box::new(Logger {
        style: Style::detect(),
    }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}

/// The line a failed run ends with: `enetstat: message`, or `<3>message` under journald.
pub(crate) fn fatal(message: &str) {
    let line = Style::detect().format(Level::Error, message);
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_style_only_when_the_stream_is_stderr() {
        assert_eq!(
            Style::from_env(Some("8:1234"), Some((8, 1234))),
            Style::Journal
        );
        assert_eq!(Style::from_env(Some("8:1234"), Some((8, 99))), Style::Plain);
        assert_eq!(Style::from_env(None, Some((8, 1234))), Style::Plain);
        assert_eq!(Style::from_env(Some("8:1234"), None), Style::Plain);
        assert_eq!(
            Style::from_env(Some("garbage"), Some((8, 1234))),
            Style::Plain
        );
        assert_eq!(Style::from_env(Some(""), Some((0, 0))), Style::Plain);
    }

    #[test]
    fn journal_lines_carry_syslog_priorities_and_no_name_or_time() {
        let j = Style::Journal;
        assert_eq!(j.format(Level::Error, "boom"), "<3>boom\n");
        assert_eq!(j.format(Level::Warn, "careful"), "<4>careful\n");
        assert_eq!(
            j.format(Level::Info, "serving on /run/x"),
            "<6>serving on /run/x\n"
        );
        assert_eq!(j.format(Level::Debug, "detail"), "<7>detail\n");
        assert_eq!(j.format(Level::Warn, "two\nlines"), "<4>two\n<4>lines\n");
    }

    #[test]
    fn plain_lines_are_named_and_labelled() {
        let p = Style::Plain;
        assert_eq!(p.format(Level::Error, "boom"), "enetstat: boom\n");
        assert_eq!(
            p.format(Level::Warn, "careful"),
            "enetstat: warning: careful\n"
        );
        assert_eq!(
            p.format(Level::Info, "serving on /run/x"),
            "enetstat: serving on /run/x\n"
        );
        assert_eq!(
            p.format(Level::Debug, "detail"),
            "enetstat: debug: detail\n"
        );
    }

    #[test]
    fn stderr_has_an_identity() {
        assert!(stderr_identity().is_some());
    }
}
