//! mdb-style text output.

use super::Output;
use serde_json::Value;
use std::io::{self, Write};

/// Prints lines as they come; warnings and errors as `qmdb: message`, to the same writer or,
/// with [`TextOutput::with_diagnostics`], to another (stderr, as mdb does). Structured data is
/// dropped. A write error (a closed pipe) marks the output closed; it is kept for
/// [`TextOutput::io_error`] unless it is a broken pipe.
pub struct TextOutput<W: Write> {
    out: W,
    diag: Option<Box<dyn Write>>,
    closed: bool,
    io_error: Option<io::Error>,
}

impl<W: Write> TextOutput<W> {
    /// Everything to `out`.
    pub fn new(out: W) -> TextOutput<W> {
        TextOutput {
            out,
            diag: None,
            closed: false,
            io_error: None,
        }
    }

    /// Lines to `out`, warnings and errors to `diag`.
    pub fn with_diagnostics(out: W, diag: Box<dyn Write>) -> TextOutput<W> {
        TextOutput {
            diag: Some(diag),
            ..TextOutput::new(out)
        }
    }

    /// The first write error other than a broken pipe.
    pub fn io_error(&self) -> Option<&io::Error> {
        self.io_error.as_ref()
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    fn check(&mut self, r: io::Result<()>) {
        if let Err(e) = r {
            self.closed = true;
            if e.kind() != io::ErrorKind::BrokenPipe && self.io_error.is_none() {
                self.io_error = Some(e);
            }
        }
    }

    fn diagnostic(&mut self, message: &str) {
        if self.closed {
            return;
        }
        let r = match &mut self.diag {
            Some(d) => self
                .out
                .flush()
                .and_then(|()| writeln!(d, "qmdb: {message}")),
            None => writeln!(self.out, "qmdb: {message}"),
        };
        self.check(r);
    }
}

impl<W: Write> Output for TextOutput<W> {
    fn begin(&mut self, _command: &str) {}

    fn line(&mut self, text: &str) {
        if !self.closed {
            let r = writeln!(self.out, "{text}");
            self.check(r);
        }
    }

    fn warning(&mut self, message: &str) {
        self.diagnostic(message);
    }

    fn error(&mut self, message: &str) {
        self.diagnostic(message);
    }

    fn data(&mut self, _value: Value) {}

    fn end(&mut self) {
        if !self.closed {
            let r = self.out.flush();
            self.check(r);
            if let Some(d) = &mut self.diag {
                let r = d.flush();
                self.check(r);
            }
        }
    }

    fn is_closed(&self) -> bool {
        self.closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_lines_and_prefixed_diagnostics() {
        let mut t = TextOutput::new(Vec::new());
        t.begin("x");
        t.line("a");
        t.warning("careful");
        t.error("failed to read 8 bytes at 0: no mapping");
        t.data(Value::Null);
        t.end();
        let s = String::from_utf8(t.into_inner()).unwrap();
        assert_eq!(
            s,
            "a\nqmdb: careful\nqmdb: failed to read 8 bytes at 0: no mapping\n"
        );
    }

    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_closes_quietly() {
        let mut t = TextOutput::new(Broken);
        t.line("a");
        assert!(t.is_closed());
        assert!(t.io_error().is_none());
    }
}
