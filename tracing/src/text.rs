//! Formatting `Debug` and `Display` values on the stack: a record holds a few
//! hundred bytes, so a value longer than that is cut anyway, and formatting
//! into a fixed buffer needs no allocation.

use std::fmt;

/// Bytes a formatted value keeps; longer text is cut at a character boundary
/// (the record would cut it too: its whole payload is smaller than this).
pub(crate) const TEXT_CAP: usize = 192;

/// A fixed buffer that `write!` fills; formatting stops (with `fmt::Error`,
/// which ends the `Debug` implementation early) once it is full.
pub(crate) struct StackText {
    buf: [u8; TEXT_CAP],
    len: usize,
}

impl StackText {
    pub(crate) fn new() -> StackText {
        StackText {
            buf: [0; TEXT_CAP],
            len: 0,
        }
    }

    /// Formats `value` into a fresh buffer.
    pub(crate) fn format(value: fmt::Arguments<'_>) -> StackText {
        let mut t = StackText::new();
        // An error only means the text was cut; what fitted is kept.
        let _ = fmt::write(&mut t, value);
        t
    }

    pub(crate) fn as_str(&self) -> &str {
        // `write_str` only ever copies whole characters, so this cannot fail.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = TEXT_CAP - self.len;
        if s.len() <= room {
            self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
            self.len += s.len();
            return Ok(());
        }
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.buf[self.len..self.len + cut].copy_from_slice(&s.as_bytes()[..cut]);
        self.len += cut;
        Err(fmt::Error)
    }
}

/// Text for a `u64` above `i64::MAX`, which the record's signed integers
/// cannot hold: its decimal digits.
pub(crate) fn big_u64(v: u64) -> StackText {
    StackText::format(format_args!("{v}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        let long = "é".repeat(TEXT_CAP);
        let t = StackText::format(format_args!("{long}"));
        assert_eq!(t.as_str().len(), TEXT_CAP);
        assert!(t.as_str().chars().all(|c| c == 'é'));
        let t = StackText::format(format_args!("x{long}"));
        assert_eq!(t.as_str().len(), TEXT_CAP - 1);
    }

    #[test]
    fn debug_output_is_kept_whole_when_it_fits() {
        let t = StackText::format(format_args!("{:?}", ("a", 1, [2.5])));
        assert_eq!(t.as_str(), r#"("a", 1, [2.5])"#);
        assert_eq!(big_u64(u64::MAX).as_str(), "18446744073709551615");
    }
}
