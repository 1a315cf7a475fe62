//! One Kafka message as one line of JSON: what [`super::KafkaSource`] puts in its blocks.
//!
//! A message holds one JSON document (an Event Hubs `{"records":[...]}` envelope, or one
//! record), possibly pretty-printed, or several documents one per line. Each message becomes
//! exactly one line, so a block's line numbers follow the messages' offsets:
//! - a document's raw newlines can only be whitespace between tokens (inside a string they
//!   are escaped), so they become spaces, losslessly;
//! - several documents become one JSON array of them, which the lines container reads as
//!   records (an element that is itself an envelope is read as one).
//!
//! A message without a raw newline is passed on unchecked: the parse core skips and counts
//! a malformed line with its position, as for a file. Only a message with newlines is
//! parsed here, to tell the two multi-line shapes apart.

use serde::de::IgnoredAny;

/// Why a message was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bad {
    /// Longer than the limit (its length).
    TooLarge(usize),
    /// No payload, or only whitespace.
    Empty,
    /// Not UTF-8.
    NotUtf8,
    /// Not JSON (what the JSON parser said).
    NotJson(String),
}

impl Bad {
    /// The reason in a user's words.
    pub(crate) fn describe(&self, max: usize) -> String {
        match self {
            Bad::TooLarge(n) => format!("a message of {n} bytes, over the limit of {max}"),
            Bad::Empty => "an empty message".to_string(),
            Bad::NotUtf8 => "a message that is not UTF-8 text".to_string(),
            Bad::NotJson(e) => format!("a message that is not JSON: {e}"),
        }
    }
}

/// Appends `payload` to `out` as one line (newline included), or says why it cannot be.
pub(crate) fn append_line(payload: &[u8], max: usize, out: &mut Vec<u8>) -> Result<(), Bad> {
    if payload.len() > max {
        return Err(Bad::TooLarge(payload.len()));
    }
    let text = simdutf8::basic::from_utf8(payload).map_err(|_| Bad::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
    if text.is_empty() {
        return Err(Bad::Empty);
    }
    let bytes = text.as_bytes();
    if memchr::memchr2(b'\n', b'\r', bytes).is_none() {
        out.extend_from_slice(bytes);
        out.push(b'\n');
        return Ok(());
    }
    let docs = documents(text)?;
    let start = out.len();
    if docs.len() > 1 {
        out.push(b'[');
        for (i, &(a, b)) in docs.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&bytes[a..b]);
        }
        out.push(b']');
    } else {
        out.extend_from_slice(bytes);
    }
    for b in &mut out[start..] {
        if *b == b'\n' || *b == b'\r' {
            *b = b' ';
        }
    }
    out.push(b'\n');
    Ok(())
}

/// The byte ranges of the JSON documents in `text`, one after another.
fn documents(text: &str) -> Result<Vec<(usize, usize)>, Bad> {
    let mut docs = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<IgnoredAny>();
    loop {
        let rest = &text.as_bytes()[stream.byte_offset()..];
        let skipped = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
        let start = stream.byte_offset() + skipped;
        match stream.next() {
            None => return Ok(docs),
            Some(Ok(IgnoredAny)) => docs.push((start, stream.byte_offset())),
            Some(Err(e)) => return Err(Bad::NotJson(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(payload: &str) -> Result<String, Bad> {
        let mut out = b"before\n".to_vec();
        append_line(payload.as_bytes(), 1 << 20, &mut out)?;
        Ok(String::from_utf8(out).unwrap().replacen("before\n", "", 1))
    }

    #[test]
    fn a_compact_message_is_its_own_line() {
        let env = r#"{"records":[{"time":"2025-01-01T00:00:00Z"},{"time":"x"}]}"#;
        assert_eq!(line(env).unwrap(), format!("{env}\n"));
        // Trailing newlines and a BOM go; nothing is checked without a newline inside.
        assert_eq!(line("\u{feff}{\"a\":1}\r\n").unwrap(), "{\"a\":1}\n");
        assert_eq!(line("not json").unwrap(), "not json\n");
    }

    #[test]
    fn a_pretty_printed_document_becomes_one_line_with_the_same_value() {
        let pretty = "{\n  \"records\": [\n    {\"a\": \"x\\ny\"},\r\n    {\"b\": 2}\n  ]\n}";
        let l = line(pretty).unwrap();
        assert_eq!(l.matches('\n').count(), 1);
        let a: serde_json::Value = serde_json::from_str(pretty).unwrap();
        let b: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn several_documents_become_an_array_of_them() {
        let l = line("{\"a\":1}\n{\"records\":[{\"b\":2}]}\n\n{\"c\":\n3}\n").unwrap();
        assert_eq!(l, "[{\"a\":1},{\"records\":[{\"b\":2}]},{\"c\": 3}]\n");
    }

    #[test]
    fn bad_messages_say_why() {
        assert_eq!(line(" \n "), Err(Bad::Empty));
        assert_eq!(line(""), Err(Bad::Empty));
        assert!(matches!(line("{\"a\":1}\n{\"b\":"), Err(Bad::NotJson(_))));
        assert!(matches!(line("hello\nworld"), Err(Bad::NotJson(_))));
        let mut out = Vec::new();
        assert_eq!(
            append_line(&[b'{', 0xff, b'}'], 10, &mut out),
            Err(Bad::NotUtf8)
        );
        assert_eq!(
            append_line(b"{\"a\":12345}", 5, &mut out),
            Err(Bad::TooLarge(11))
        );
        // Nothing was appended for a bad message.
        assert!(out.is_empty());
        assert_eq!(
            Bad::TooLarge(11).describe(5),
            "a message of 11 bytes, over the limit of 5"
        );
    }
}
