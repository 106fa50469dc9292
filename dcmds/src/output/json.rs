//! JSON lines output (`--json`).

use super::{CommandRecord, Output};
use serde_json::Value;
use std::io::{self, Write};

/// Prints one [`CommandRecord`] a line, when each command ends.
pub struct JsonOutput<W: Write> {
    out: W,
    current: Option<CommandRecord>,
    closed: bool,
    io_error: Option<io::Error>,
}

impl<W: Write> JsonOutput<W> {
    pub fn new(out: W) -> JsonOutput<W> {
        JsonOutput {
            out,
            current: None,
            closed: false,
            io_error: None,
        }
    }

    /// The first write error other than a broken pipe.
    pub fn io_error(&self) -> Option<&io::Error> {
        self.io_error.as_ref()
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    fn record(&mut self) -> &mut CommandRecord {
        self.current.get_or_insert_with(|| CommandRecord::new(""))
    }
}

impl<W: Write> Output for JsonOutput<W> {
    fn begin(&mut self, command: &str) {
        self.current = Some(CommandRecord::new(command));
    }

    fn line(&mut self, text: &str) {
        self.record().output.push(text.to_string());
    }

    fn warning(&mut self, message: &str) {
        self.record().warnings.push(message.to_string());
    }

    fn error(&mut self, message: &str) {
        self.record().add_error(message);
    }

    fn data(&mut self, value: Value) {
        self.record().data.push(value);
    }

    fn structured(&self) -> bool {
        true
    }

    fn end(&mut self) {
        let Some(rec) = self.current.take() else {
            return;
        };
        if self.closed {
            return;
        }
        let r = serde_json::to_writer(&mut self.out, &rec)
            .map_err(io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"))
            .and_then(|()| self.out.flush());
        if let Err(e) = r {
            self.closed = true;
            if e.kind() != io::ErrorKind::BrokenPipe {
                self.io_error = Some(e);
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
    use serde_json::json;

    #[test]
    fn one_object_per_command() {
        let mut j = JsonOutput::new(Vec::new());
        j.begin("1=X");
        j.line("                1");
        j.data(json!({"value": "0x1"}));
        j.end();
        j.begin("::nope");
        j.error("unknown dcmd 'nope'");
        j.error("second");
        j.end();
        let s = String::from_utf8(j.into_inner()).unwrap();
        let lines: Vec<Value> = s
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            lines[0],
            json!({"schema": 2, "command": "1=X", "ok": true, "output": ["                1"],
                   "error": null, "warnings": [], "data": [{"value": "0x1"}]})
        );
        assert_eq!(
            lines[1],
            json!({"schema": 2, "command": "::nope", "ok": false, "output": [],
                   "error": "unknown dcmd 'nope'", "warnings": ["second"], "data": []})
        );
    }
}
