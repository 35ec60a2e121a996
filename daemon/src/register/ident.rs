//! Identifiers that travel as one URL path segment: asset tags and agent
//! names.
//!
//! They are typed by people and end up in `/api/v1/assets/{tag}` and
//! `/api/v1/agents/{name}/revoke`. The CLI percent-encodes every segment, but
//! another client might not, and a name such as `../assets/SRV-1` or `..`
//! must never be able to mean another resource (hardening #18). So an
//! identifier is 1–64 ASCII letters, digits and a few punctuation marks, is
//! not made of dots alone, never holds `..`, and never starts with a dot or a
//! dash (a dash would read as an option on a command line).

/// Why `s` is not a valid identifier of the given `kind` (`"tag"`, `"agent name"`),
/// or `None` when it is. `extra` lists the punctuation allowed besides `-`, `_`, `.`.
pub fn ident_problem(kind: &str, s: &str, extra: &str) -> Option<String> {
    let shown: String = s.chars().take(70).flat_map(char::escape_default).collect();
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c) || extra.contains(c);
    let punctuation = format!("- _ .{}", extra.chars().map(|c| format!(" {c}")).collect::<String>());
    if s.is_empty() || s.len() > 64 || !s.chars().all(allowed) {
        Some(format!("{kind} `{shown}` must be 1-64 letters, digits or {punctuation}"))
    } else if s.contains("..") || s.starts_with('.') || s.starts_with('-') {
        Some(format!("{kind} `{shown}` must not start with '.' or '-' nor contain '..'"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::ident_problem;

    /// Regression (hardening #18): `agent revoke ../assets/SRV-1` deleted an asset.
    #[test]
    fn names_that_could_mean_another_path_or_an_option_are_refused() {
        for bad in ["", "..", ".", "../assets/SRV-1", "a/b", "a..b", ".hidden", "-rf", "a\u{1b}]0;x\u{7}", "a b", "é"]
        {
            assert!(ident_problem("tag", bad, ":").is_some(), "{bad:?}");
        }
        for good in ["SRV-1", "lab_1", "host.example", "ns:42", "A"] {
            assert_eq!(ident_problem("tag", good, ":"), None, "{good:?}");
        }
        assert!(ident_problem("agent name", "ns:42", "").is_some(), "':' only where allowed");
        let shown = ident_problem("tag", "x\u{1b}[2J", "").unwrap();
        assert!(!shown.contains('\u{1b}'), "the error shows control characters escaped: {shown}");
        assert!(ident_problem("tag", &"a".repeat(65), "").is_some());
    }
}
