//! Making text from the network safe to store and show: valid UTF-8, no
//! control characters (a hostile banner cannot move a terminal's cursor or
//! forge log lines), whitespace collapsed, capped in length.

/// Longest text kept from any one field.
pub const MAX_TEXT: usize = 256;

/// Clean `bytes` into at most `max` characters of printable text.
pub fn clean(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len().min(max * 4));
    let mut count = 0;
    let mut last_space = true;
    for c in text.chars() {
        let c = if c.is_whitespace() { ' ' } else { c };
        if c.is_control()
            || c == '\u{fffd}'
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        {
            continue;
        }
        if c == ' ' && last_space {
            continue;
        }
        last_space = c == ' ';
        out.push(c);
        count += 1;
        if count >= max {
            break;
        }
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_garbage_and_length() {
        assert_eq!(clean(b"SSH-2.0-OpenSSH_9.2\r\n", 100), "SSH-2.0-OpenSSH_9.2");
        assert_eq!(clean(b"evil\x1b[2J\x07 banner\x00\xff\xfe", 100), "evil[2J banner");
        assert_eq!(clean("a\u{202e}b".as_bytes(), 100), "ab", "bidi overrides are dropped");
        assert_eq!(clean(&[b'A'; 10_000], 5), "AAAAA");
        assert_eq!(clean(b"  two   spaces  ", 100), "two spaces");
    }
}
