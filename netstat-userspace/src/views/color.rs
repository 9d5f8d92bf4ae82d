//! Colour for TCP state names (`--color`): only the word is wrapped in escapes and the padding
//! stays outside, so the columns line up exactly as without colour.
//!
//! | state | colour | why |
//! |---|---|---|
//! | ESTABLISHED | green | carrying data |
//! | LISTEN | cyan | a server waiting |
//! | TIME_WAIT, CLOSE_WAIT | yellow | waiting: on a timer, or on the application to close |
//! | SYN_SENT, SYN_RECV, FIN_WAIT1, FIN_WAIT2, LAST_ACK, CLOSING (and NEW_SYN_RECV) | magenta | a handshake under way |
//! | CLOSE (and BOUND_INACTIVE) | red | closed |

use std::fmt;

use anstyle::{AnsiColor, Style};

/// The colour of a state, by netstat's name for it; `None` for names it does not know.
pub(crate) fn state_style(name: &str) -> Option<Style> {
    let color = match name {
        "ESTABLISHED" => AnsiColor::Green,
        "LISTEN" => AnsiColor::Cyan,
        "TIME_WAIT" | "CLOSE_WAIT" => AnsiColor::Yellow,
        "SYN_SENT" | "SYN_RECV" | "NEW_SYN_RECV" | "FIN_WAIT1" | "FIN_WAIT2" | "LAST_ACK"
        | "CLOSING" => AnsiColor::Magenta,
        "CLOSE" | "BOUND_INACTIVE" => AnsiColor::Red,
        _ => return None,
    };
    Some(Style::new().fg_color(Some(color.into())))
}

/// A state name left-aligned in `width` columns, coloured when `color` is set. Formatting
/// flags are ignored: the width is the cell's own.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StateCell<'a> {
    pub(crate) name: &'a str,
    pub(crate) width: usize,
    pub(crate) color: bool,
}

impl fmt::Display for StateCell<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match state_style(self.name).filter(|_| self.color) {
            Some(style) => write!(f, "{}{}{}", style.render(), self.name, style.render_reset())?,
            None => f.write_str(self.name)?,
        }
        for _ in self.name.len()..self.width {
            f.write_str(" ")?;
        }
        Ok(())
    }
}

/// `text` without its SGR escape sequences (`ESC [ ... m`): what a terminal shows. For tests.
pub fn strip_sgr(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("\x1b[") {
        out.push_str(&rest[..start]);
        match rest[start..].find('m') {
            Some(end) => rest = &rest[start + end + 1..],
            None => return out + &rest[start..],
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TcpState;

    #[test]
    fn every_state_has_a_colour() {
        for state in TcpState::ALL {
            assert!(state_style(state.name()).is_some(), "{}", state.name());
        }
        assert_eq!(state_style("UNKNOWN"), None);
        assert_eq!(state_style(""), None);
    }

    #[test]
    fn colour_wraps_the_word_and_keeps_the_width() {
        let cell = |name, color| {
            StateCell {
                name,
                width: 11,
                color,
            }
            .to_string()
        };
        assert_eq!(cell("LISTEN", true), "\x1b[36mLISTEN\x1b[0m     ");
        assert_eq!(cell("LISTEN", false), "LISTEN     ");
        for state in TcpState::ALL
            .iter()
            .map(|s| s.name())
            .chain(["UNKNOWN", ""])
        {
            let plain = cell(state, false);
            assert_eq!(plain, format!("{state:<11}"));
            assert_eq!(strip_sgr(&cell(state, true)), plain);
        }
        // A name longer than its cell is not cut, as with `{:<11}`.
        assert_eq!(
            StateCell {
                name: "ESTABLISHED",
                width: 4,
                color: false
            }
            .to_string(),
            "ESTABLISHED"
        );
    }
}
