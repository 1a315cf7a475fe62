//! Opening an input as text: gzip by its magic bytes, a UTF-8 byte-order mark dropped,
//! UTF-16 decoded.

use std::io::{self, Chain, Cursor, Read};

use flate2::read::MultiGzDecoder;

use crate::Guarded;

/// Counts the bytes pulled from the input (compressed bytes for gzip), for progress.
pub struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// The magic bytes read, then the rest.
type Raw<R> = Chain<Cursor<Vec<u8>>, Counting<R>>;

/// An input's bytes, gunzipped when they start with gzip's magic.
pub enum Decoder<R> {
    Plain(Raw<R>),
    Gz(Box<MultiGzDecoder<Raw<R>>>),
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Plain(r) => r.read(buf),
            Decoder::Gz(r) => r.read(buf),
        }
    }
}

impl<R> Decoder<R> {
    /// Bytes consumed from the input.
    pub fn consumed(&self) -> u64 {
        match self {
            Decoder::Plain(r) => r.get_ref().1.count,
            Decoder::Gz(r) => r.get_ref().get_ref().1.count,
        }
    }
}

/// An input opened as text: its head read, the rest to come from `reader`.
pub struct Opened<R> {
    /// The rest of the text; a read error (damaged gzip, a failing disk) ends it and is
    /// kept there.
    pub reader: Guarded<Decoder<R>>,
    /// Up to `head_bytes` of text, BOM dropped; a UTF-16 input decoded to UTF-8 whole.
    pub head: Vec<u8>,
    /// The input was gzip.
    pub gz: bool,
    /// The input was UTF-16: `head` holds all of it.
    pub utf16: bool,
}

/// Opens `inner` as text and reads its head (`head_bytes`, or all of a UTF-16 input):
/// gunzipped when it starts with gzip's magic (feeds and logs are often kept compressed,
/// whatever their name), a UTF-8 BOM dropped (portal CSV exports start with one), UTF-16
/// with a BOM decoded (Windows PowerShell writes it with `Out-File` and `>`). Only a failure
/// to read the two magic bytes is an error; a later one is kept in the reader.
pub fn open<R: Read>(inner: R, head_bytes: usize) -> io::Result<Opened<R>> {
    let mut raw = Counting { inner, count: 0 };
    let mut magic = Vec::with_capacity(2);
    (&mut raw).take(2).read_to_end(&mut magic)?;
    let gz = magic == [0x1f, 0x8b];
    let prefixed = Cursor::new(magic).chain(raw);
    let decoded = if gz {
        Decoder::Gz(Box::new(MultiGzDecoder::new(prefixed)))
    } else {
        Decoder::Plain(prefixed)
    };
    let mut reader = Guarded::new(decoded);
    let mut head = Vec::with_capacity(head_bytes);
    // Guarded never fails: an error ends the data.
    let _ = (&mut reader).take(head_bytes as u64).read_to_end(&mut head);
    if head.starts_with(BOM) {
        head.drain(..BOM.len());
    }
    let utf16 = head.starts_with(b"\xff\xfe") || head.starts_with(b"\xfe\xff");
    if utf16 {
        let _ = reader.read_to_end(&mut head);
        head = utf16_to_utf8(&head).into_bytes();
    }
    Ok(Opened {
        reader,
        head,
        gz,
        utf16,
    })
}

/// The UTF-8 byte-order mark.
const BOM: &[u8] = b"\xef\xbb\xbf";

/// The bytes without a leading UTF-8 byte-order mark.
pub fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(BOM).unwrap_or(bytes)
}

/// UTF-16 (LE or BE by its BOM, which is dropped) to UTF-8; bad units become U+FFFD.
fn utf16_to_utf8(bytes: &[u8]) -> String {
    let le = bytes.starts_with(b"\xff\xfe");
    let units = bytes.get(2..).unwrap_or(&[]).chunks_exact(2).map(|c| {
        if le {
            u16::from_le_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], c[1]])
        }
    });
    char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

#[cfg(test)]
mod tests;
