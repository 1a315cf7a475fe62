use std::io::{Read, Write};

use super::*;

fn text_of(bytes: &[u8], head_bytes: usize) -> (Vec<u8>, bool, bool) {
    let mut o = open(bytes, head_bytes).unwrap();
    let mut text = o.head;
    o.reader.read_to_end(&mut text).unwrap();
    assert!(o.reader.err.is_none());
    assert_eq!(o.reader.get_ref().consumed(), bytes.len() as u64);
    (text, o.gz, o.utf16)
}

/// The same text plain, gzipped (two members), with a BOM and as UTF-16 LE and BE reads
/// the same, whatever the head's size; a truncated gzip keeps its error in the reader.
#[test]
fn every_encoding_reads_alike() {
    let text: String = (0..3000)
        .map(|i| format!("{{\"a\":\"é€ {i}\"}}\n"))
        .collect();
    let gz = {
        let half = text.len() / 2;
        let mut out = Vec::new();
        for part in [&text[..half], &text[half..]] {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(part.as_bytes()).unwrap();
            out.extend(e.finish().unwrap());
        }
        out
    };
    let mut bom = BOM.to_vec();
    bom.extend_from_slice(text.as_bytes());
    let (mut le, mut be) = (vec![0xff, 0xfe], vec![0xfe, 0xff]);
    for u in text.encode_utf16() {
        le.extend(u.to_le_bytes());
        be.extend(u.to_be_bytes());
    }
    for head_bytes in [0, 1, 3, 100, 1 << 20] {
        let want = text.as_bytes().to_vec();
        assert_eq!(
            text_of(text.as_bytes(), head_bytes),
            (want.clone(), false, false)
        );
        assert_eq!(text_of(&gz, head_bytes), (want.clone(), true, false));
        if head_bytes >= 3 {
            assert_eq!(text_of(&bom, head_bytes), (want.clone(), false, false));
        }
        if head_bytes >= 2 {
            assert_eq!(text_of(&le, head_bytes), (want.clone(), false, true));
            assert_eq!(text_of(&be, head_bytes), (want, false, true));
        }
    }
    let mut cut = open(&gz[..gz.len() / 3], 64).unwrap();
    let mut got = cut.head;
    cut.reader.read_to_end(&mut got).unwrap();
    assert!(cut.reader.err.is_some());
    assert!(text.as_bytes().starts_with(&got));
    assert!(open(&b""[..], 64).unwrap().head.is_empty());
    assert_eq!(strip_bom(b"\xef\xbb\xbfx"), b"x");
    assert_eq!(strip_bom(b"x"), b"x");
}

#[test]
fn utf16_is_decoded() {
    let mut le = vec![0xff, 0xfe];
    let mut be = vec![0xfe, 0xff];
    for u in "{\"a\":\"é€\"}".encode_utf16() {
        le.extend(u.to_le_bytes());
        be.extend(u.to_be_bytes());
    }
    assert_eq!(utf16_to_utf8(&le), "{\"a\":\"é€\"}");
    assert_eq!(utf16_to_utf8(&be), "{\"a\":\"é€\"}");
    assert_eq!(utf16_to_utf8(&[0xff, 0xfe, 0x00, 0xd8, 0x41]), "\u{fffd}");
}
