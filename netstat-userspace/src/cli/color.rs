//! `--color`: whether TCP state names are coloured. Off unless asked for or shown on a terminal,
//! so output into a pipe or a file stays netstat's bytes.

use std::{ffi::OsStr, io::IsTerminal as _};

use clap::ValueEnum;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorArg {
    // No doc comments here: clap would show them, and --help would switch to its long layout.
    #[default]
    Auto,
    Always,
    Never,
}

/// What `auto` looks at, read once at start-up (and made up in tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Terminal {
    pub(crate) stdout_is_tty: bool,
    /// NO_COLOR is set to a non-empty value (no-color.org).
    pub(crate) no_color: bool,
    /// TERM=dumb: a terminal that cannot show escapes.
    pub(crate) dumb: bool,
}

impl Terminal {
    /// This process's standard output and environment.
    pub(crate) fn detect() -> Self {
        Self::from_env(
            std::io::stdout().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
            std::env::var_os("TERM").as_deref(),
        )
    }

    /// From the values of NO_COLOR and TERM: an empty NO_COLOR does not count.
    pub(crate) fn from_env(
        stdout_is_tty: bool,
        no_color: Option<&OsStr>,
        term: Option<&OsStr>,
    ) -> Self {
        Terminal {
            stdout_is_tty,
            no_color: no_color.is_some_and(|v| !v.is_empty()),
            dumb: term == Some(OsStr::new("dumb")),
        }
    }
}

impl ColorArg {
    /// A command-line choice wins over the environment, as no-color.org asks.
    pub(crate) fn enabled(self, terminal: &Terminal) -> bool {
        match self {
            ColorArg::Always => true,
            ColorArg::Never => false,
            ColorArg::Auto => terminal.stdout_is_tty && !terminal.no_color && !terminal.dumb,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTY: Terminal = Terminal {
        stdout_is_tty: true,
        no_color: false,
        dumb: false,
    };

    #[test]
    fn auto_colours_only_a_terminal_that_wants_it() {
        assert!(ColorArg::Auto.enabled(&TTY));
        assert!(!ColorArg::Auto.enabled(&Terminal::default()));
        assert!(!ColorArg::Auto.enabled(&Terminal {
            no_color: true,
            ..TTY
        }));
        assert!(!ColorArg::Auto.enabled(&Terminal { dumb: true, ..TTY }));
    }

    #[test]
    fn environment() {
        let os = |s: &'static str| Some(OsStr::new(s));
        assert_eq!(Terminal::from_env(true, None, os("xterm-256color")), TTY);
        assert_eq!(Terminal::from_env(true, os(""), None), TTY);
        assert!(Terminal::from_env(true, os("1"), None).no_color);
        assert!(Terminal::from_env(true, None, os("dumb")).dumb);
    }

    #[test]
    fn the_flag_wins_over_the_environment() {
        let pipe_no_color = Terminal {
            stdout_is_tty: false,
            no_color: true,
            dumb: true,
        };
        assert!(ColorArg::Always.enabled(&pipe_no_color));
        assert!(!ColorArg::Never.enabled(&TTY));
    }
}
