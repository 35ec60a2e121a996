//! The match index's strings — asset tags, host names and their short
//! forms — kept end to end in one buffer, and looked up through hash tables
//! of their places in it.
//!
//! Why: a million-asset register has three million of these strings. As a
//! boxed string each, building the index made three million allocations and
//! rehashed tables of fat pointers as they grew, and dropping it (after any
//! register change) freed them one by one: 1.5 s to build and 0.65 s to
//! drop the keys alone, against 0.8 s and 8 ms for the same keys here
//! (measured on the reconcile benchmark's register, 2026-12-05). A string's
//! place is 8 bytes instead of a 16-byte pointer and a 32-byte allocation.

/// Where one string lies in an [`Arena`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    offset: u32,
    len: u32,
}

/// Strings end to end, each found by its [`Span`]; at most 4 GiB in all
/// (a million-asset register holds about 41 MB).
#[derive(Debug, Default)]
pub struct Arena {
    text: String,
}

impl Arena {
    /// Keep `s`; `None` when the arena is full (4 GiB).
    pub fn push(&mut self, s: &str) -> Option<Span> {
        let offset = u32::try_from(self.text.len()).ok()?;
        let len = u32::try_from(s.len()).ok()?;
        offset.checked_add(len)?;
        self.text.push_str(s);
        Some(Span { offset, len })
    }

    /// Bytes kept.
    #[allow(clippy::len_without_is_empty)] // the index asks how much, never whether any
    pub fn len(&self) -> usize {
        self.text.len()
    }

    /// Room for `more` bytes beyond what is kept, reserved at once.
    pub fn reserve(&mut self, more: usize) {
        self.text.reserve(more);
    }

    /// The string at `span` (empty for a span of another arena that falls outside this one).
    pub fn get(&self, span: Span) -> &str {
        let start = span.offset as usize;
        self.text.get(start..start + span.len as usize).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_come_back_as_kept_and_a_foreign_span_reads_empty() {
        let mut a = Arena::default();
        let web = a.push("web01.corp.example").unwrap();
        let empty = a.push("").unwrap();
        let accented = a.push("café-1").unwrap();
        assert_eq!((a.get(web), a.get(empty), a.get(accented)), ("web01.corp.example", "", "café-1"));
        assert_eq!(a.text.len(), "web01.corp.example".len() + "café-1".len());
        let mut other = Arena::default();
        let far = {
            other.push(&"x".repeat(100)).unwrap();
            other.push("beyond").unwrap()
        };
        assert_eq!(a.get(far), "", "a span outside the arena is no string, not a panic");
    }
}
