//! Any byte stream as a transport: standard output, a file, a buffer.

use std::io::{self, Write};

use kvsentry_model::Alert;

use super::{DeliveryError, Transport};

/// Writes alerts one after another to a stream.
///
/// Every write error closes the transport: a stream that took part of an alert is no longer
/// one a reader can parse, so there is no sense in writing the next.
#[derive(Debug)]
pub struct Writer<W: Write> {
    out: W,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W) -> Self {
        Writer { out }
    }
}

impl<W: Write> Transport for Writer<W> {
    fn deliver(&mut self, _alert: &Alert, bytes: &[u8]) -> Result<(), DeliveryError> {
        self.out.write_all(bytes).map_err(DeliveryError::Closed)
    }

    fn finish(&mut self, trailer: &[u8]) -> io::Result<()> {
        self.out.write_all(trailer)?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AlertSink;
    use crate::encode::JsonArray;
    use crate::sink::Sink;

    /// Takes `room` bytes, then answers as a pipe whose reader went away.
    struct Pipe {
        room: usize,
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn bytes_go_out_in_order_with_the_trailer_last() {
        let a = crate::testutil::alert();
        let mut buf = Vec::new();
        {
            let mut sink = Sink::new(JsonArray::new(), Writer::new(&mut buf));
            sink.write(&a).unwrap();
            sink.write(&a).unwrap();
            sink.finish().unwrap();
        }
        let back: Vec<Alert> = serde_json::from_slice(&buf).unwrap();
        assert_eq!(back, vec![a.clone(), a]);
    }

    #[test]
    fn a_broken_pipe_ends_the_writing() {
        let a = crate::testutil::alert();
        let mut sink = Sink::new(JsonArray::new(), Writer::new(Pipe { room: 10 }));
        let err = sink.write(&a).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        assert!(sink.failures().is_empty(), "not an alert's failure");
    }
}
