//! [`LineCounter`]: line numbers from positions in a text.

/// Turns positions in a text into 1-based line numbers, counting forward incrementally
/// (asked in increasing order, each newline is counted once; a position before the last one
/// asked starts the count again).
pub struct LineCounter<'t> {
    base: &'t str,
    first_line: u64,
    off: usize,
    line: u64,
}

impl<'t> LineCounter<'t> {
    /// A counter over `base`, whose first line is line `first_line`.
    pub fn new(base: &'t str, first_line: u64) -> Self {
        LineCounter {
            base,
            first_line,
            off: 0,
            line: first_line,
        }
    }

    /// The line holding byte `off` of the text (the last line past its end).
    pub fn line_at(&mut self, off: usize) -> u64 {
        let off = off.min(self.base.len());
        if off < self.off {
            self.off = 0;
            self.line = self.first_line;
        }
        let n = memchr::memchr_iter(b'\n', &self.base.as_bytes()[self.off..off]).count();
        self.line += n as u64;
        self.off = off;
        self.line
    }

    /// The line of a slice of the base text (the first line when it is not one).
    pub fn line_of(&mut self, s: &str) -> u64 {
        let start = self.base.as_ptr() as usize;
        let p = s.as_ptr() as usize;
        if p < start || p > start + self.base.len() {
            return self.first_line;
        }
        self.line_at(p - start)
    }

    /// The line of a record starting at byte `offset` (0 when unknown), for a reader that
    /// reports a record after a CRLF as starting at its `\n` (the csv crate does): line
    /// terminators are stepped over to reach the record's first byte.
    pub fn of_offset(&mut self, offset: Option<usize>) -> u64 {
        offset
            .map(|mut b| {
                while matches!(self.base.as_bytes().get(b), Some(b'\r' | b'\n')) {
                    b += 1;
                }
                self.line_at(b)
            })
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_counter_goes_both_ways() {
        let t = "a\nb\nc\n";
        let mut lc = LineCounter::new(t, 10);
        assert_eq!(lc.line_at(4), 12);
        assert_eq!(lc.line_at(2), 11);
        assert_eq!(lc.line_of(&t[5..]), 12);
        let elsewhere = String::from("elsewhere");
        assert_eq!(lc.line_of(&elsewhere), 10);
    }

    /// Offsets as the csv crate reports them on CRLF text (a record at its `\n`).
    #[test]
    fn crlf_offsets_are_the_next_line() {
        let text = "a,b\r\n1,2\r\n3,4\r\n";
        let mut lines = LineCounter::new(text, 1);
        assert_eq!(lines.of_offset(Some(4)), 2);
        assert_eq!(lines.of_offset(Some(9)), 3);
        assert_eq!(lines.of_offset(None), 0);
        assert_eq!(lines.of_offset(Some(999)), 4);
    }
}
