use std::io::{self, Read};

use super::*;

/// Hands out its bytes in pieces of 1 to 997 bytes, and fails (once) at `fail_at`.
struct Dribble {
    data: Vec<u8>,
    at: usize,
    step: usize,
    fail_at: Option<usize>,
}

impl Read for Dribble {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.fail_at.is_some_and(|f| self.at >= f) {
            self.fail_at = None;
            return Err(io::Error::other("disk on fire"));
        }
        self.step = (self.step * 31 + 7) % 997 + 1;
        let end = self
            .data
            .len()
            .min(self.at + self.step)
            .min(self.at + buf.len());
        let end = self.fail_at.map_or(end, |f| end.min(f));
        let n = end - self.at;
        buf[..n].copy_from_slice(&self.data[self.at..end]);
        self.at = end;
        Ok(n)
    }
}

fn dribble(data: &[u8], fail_at: Option<usize>) -> Dribble {
    Dribble {
        data: data.to_vec(),
        at: 0,
        step: 0,
        fail_at,
    }
}

/// Cuts `data` (its first `head` bytes already read) into blocks of about `chunk` bytes:
/// the blocks, checked to follow each other and to end at line ends, and the error.
fn cut(data: &[u8], head: usize, chunk: usize, fail_at: Option<usize>) -> (Vec<u8>, bool) {
    let reader = Guarded::new(dribble(&data[head..], fail_at));
    let mut cutter = LineCutter::new(reader, &data[..head], Vec::new(), 1, 0, chunk);
    let mut spare = Vec::new();
    let mut got = Vec::new();
    let (mut line, mut offset) = (1, 0);
    while let Some(lines) = cutter.next_lines(&mut spare) {
        assert_eq!((lines.first_line, lines.offset), (line, offset));
        let end = offset as usize + lines.data().len();
        assert!(lines.data().ends_with(b"\n") || end == data.len());
        assert_eq!(lines.data(), &data[offset as usize..end]);
        let newlines = lines.data().iter().filter(|&&b| b == b'\n').count() as u64;
        assert_eq!(lines.newlines, newlines);
        line += newlines;
        offset = end as u64;
        got.extend_from_slice(lines.data());
        spare.push(lines.bytes);
    }
    assert_eq!((cutter.line(), cutter.offset()), (line, offset));
    let (err, _) = cutter.finish();
    (got, err.is_some())
}

/// Blocks filled by reads of any size hold the whole stream, cut at line ends (a line
/// longer than a block, no final newline, blocks of one byte); a read error ends the
/// stream after the last complete line.
#[test]
fn blocks_are_every_complete_line() {
    let mut text = Vec::new();
    for i in 0..400usize {
        text.extend(std::iter::repeat_n(b'x', (i * 37) % 200));
        if i == 40 {
            text.extend(std::iter::repeat_n(b'y', 70_000));
        }
        text.push(b'\n');
    }
    text.extend_from_slice(b"no end");
    for head in [0, 100, 5000] {
        for chunk in [1, 13, 4096, 1 << 20] {
            let (got, failed) = cut(&text, head, chunk, None);
            assert_eq!(got, text, "head {head} chunk {chunk}");
            assert!(!failed);
        }
    }
    let at = text.len() / 2;
    let (got, failed) = cut(&text, 0, 4096, Some(at));
    assert!(failed);
    let last_end = text[..at].iter().rposition(|&b| b == b'\n').unwrap() + 1;
    assert_eq!(got, text[..last_end]);
}

#[test]
fn fill_stops_at_its_mark_or_the_end() {
    let data: Vec<u8> = (0..=255u8).collect();
    let mut src = dribble(&data, None);
    let mut buf = vec![9u8; 4];
    let mut filled = 2;
    assert!(!fill(&mut src, &mut buf, &mut filled, 100).unwrap());
    assert_eq!(filled, 100);
    assert_eq!(buf.len(), 100);
    assert_eq!(&buf[..4], &[9, 9, 0, 1]);
    assert_eq!(buf[99], 97);
    assert!(fill(&mut src, &mut buf, &mut filled, 400).unwrap());
    assert_eq!(filled, 100 + 158);
    assert_eq!(buf.len(), 400);
    assert_eq!(buf[257], 255);
    assert!(fill(&mut src, &mut buf, &mut filled, 400).unwrap());
    assert_eq!(filled, 258);
    // A read error ends the filling and is handed back, after the bytes before it.
    let mut src = dribble(&data, Some(50));
    let mut filled = 0;
    let err = fill(&mut src, &mut buf, &mut filled, 200).unwrap_err();
    assert_eq!(err.to_string(), "disk on fire");
    assert_eq!(filled, 50);
    assert_eq!(buf[49], 49);
}
