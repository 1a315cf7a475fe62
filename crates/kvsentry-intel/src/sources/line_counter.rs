//! CSV record lines from byte offsets: the same counting as the ingest crate's, kept in this
//! one module so that the two can become one shared counter.

/// File line numbers of CSV records from their byte offsets (the csv crate's own line
/// counter is off by one on CRLF files, which portal exports are). Offsets must be asked in
/// increasing order.
pub(crate) struct LineCounter<'t> {
    text: &'t [u8],
    byte: usize,
    line: usize,
}

impl<'t> LineCounter<'t> {
    pub(crate) fn new(text: &'t str) -> Self {
        LineCounter {
            text: text.as_bytes(),
            byte: 0,
            line: 1,
        }
    }

    /// The 1-based line holding byte `offset`.
    pub(crate) fn line_at(&mut self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        if end > self.byte {
            self.line += self.text[self.byte..end]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            self.byte = end;
        }
        self.line
    }

    /// The line of a record starting at byte `offset` of the text (0 when unknown).
    pub(crate) fn of_offset(&mut self, offset: Option<usize>) -> usize {
        // With CRLF the reader ends a record at `\r` and reports the next one as starting at
        // the `\n`: skip line terminators to reach the record's first byte.
        offset
            .map(|mut b| {
                while matches!(self.text.get(b), Some(b'\r' | b'\n')) {
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
    fn crlf_line_numbers() {
        let text = "a,b\r\n1,2\r\n3,4\r\n";
        let mut rdr = csv::Reader::from_reader(text.as_bytes());
        let mut lines = LineCounter::new(text);
        let got: Vec<usize> = rdr
            .records()
            .map(|r| lines.of_offset(r.unwrap().position().map(|p| p.byte() as usize)))
            .collect();
        assert_eq!(got, [2, 3]);
    }
}
