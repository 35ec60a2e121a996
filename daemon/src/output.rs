//! What the operator CLI prints: one place that makes data from the
//! network safe for a terminal and ends quietly when the reader goes away.
//!
//! - Every control character in printed text (ESC, NUL, CR, a stray LF from
//!   a banner or a name) is shown as an escape such as `\u{1b}`, so a
//!   hostile device name can neither drive the terminal (window title,
//!   screen clear) nor forge an output line. So is every invisible
//!   character that reorders or hides text — the bidirectional overrides,
//!   embeddings and isolates and the zero-width characters (Unicode
//!   UAX #9; the "Trojan Source" attack, CVE-2021-42574) — so
//!   `evil\u{202e}gnp.exe` cannot print as `evilexe.png`.
//! - A closed pipe (`censusd whois X | head`) ends the process with status 0
//!   and no panic.

use std::io::Write;

/// A character a terminal would obey or hide rather than show: a control
/// character, or a bidirectional or zero-width formatting character
/// (U+061C, U+200B–U+200F, U+202A–U+202E, U+2060–U+2064, U+2066–U+2069, U+FEFF).
pub fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{61c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// `s` with every [`hidden`] character written as an escape (`\u{1b}`, `\u{202e}`).
pub fn clean(s: &str) -> String {
    if !s.chars().any(hidden) {
        return s.to_string();
    }
    s.chars().map(|c| if hidden(c) { c.escape_unicode().to_string() } else { c.to_string() }).collect()
}

/// Print one line of `text` (control characters escaped) to stdout.
pub fn line(text: &str) {
    let mut out = std::io::stdout().lock();
    let cleaned = clean(text);
    if let Err(e) = writeln!(out, "{cleaned}").and_then(|()| out.flush()) {
        quit_on_broken_pipe(e);
    }
}

/// Write raw bytes (an export, a report) to stdout as they are.
pub fn raw(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
        quit_on_broken_pipe(e);
    }
}

fn quit_on_broken_pipe(e: std::io::Error) {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("censusd: writing to stdout failed: {e}");
    std::process::exit(1);
}

/// `println!` for the CLI: formats, escapes control characters, ends quietly on a closed pipe.
#[macro_export]
macro_rules! outln {
    () => { $crate::output::line("") };
    ($($arg:tt)*) => { $crate::output::line(&format!($($arg)*)) };
}

/// Join the parts that are not empty with `sep`: no dangling separators.
pub fn join_present(parts: &[&str], sep: &str) -> String {
    parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty() && *p != "-").collect::<Vec<_>>().join(sep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(clean("plain"), "plain");
        assert_eq!(clean("a\u{1b}]0;pwned\u{7}b"), "a\\u{1b}]0;pwned\\u{7}b");
        assert_eq!(clean("x\ny\r\0"), "x\\u{a}y\\u{d}\\u{0}");
    }

    /// Regression: a name with a right-to-left override printed raw, so
    /// `evil\u{202e}gnp.exe` read as `evilexe.png` in `censusd audit`.
    #[test]
    fn text_reordering_and_invisible_characters_are_shown_not_obeyed() {
        assert_eq!(clean("evil\u{202e}gnp.exe"), "evil\\u{202e}gnp.exe");
        assert_eq!(clean("a\u{2066}b\u{2069}\u{200b}c\u{feff}"), "a\\u{2066}b\\u{2069}\\u{200b}c\\u{feff}");
        assert_eq!(clean("café ünïcode 東京"), "café ünïcode 東京", "ordinary text untouched");
    }

    #[test]
    fn empty_parts_leave_no_separator_behind() {
        assert_eq!(join_present(&["platform-team", ""], " / "), "platform-team");
        assert_eq!(join_present(&["", "IT"], " / "), "IT");
        assert_eq!(join_present(&["a", "-", "b"], ", "), "a, b");
    }
}
