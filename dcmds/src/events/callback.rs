//! Where an event callback's output goes: the sink of the command that ran the guest, so
//! `-c` output appears in that command's text and `--json` record.

use crate::error::DcmdError;
use crate::output::Output;
use crate::record::AnyRecord;
use crate::sink::Sink;
use serde_json::Value;

/// An [`Output`] over the running command's [`Sink`]: the callback's commands do not begin
/// records of their own. Errors of a callback are reported as warnings (prefixed with the
/// callback's command), so that they do not fail the `::cont` that ran it.
pub struct CallbackOutput<'s, 'a> {
    sink: &'s mut Sink<'a>,
    command: String,
}

impl<'s, 'a> CallbackOutput<'s, 'a> {
    pub fn new(sink: &'s mut Sink<'a>) -> CallbackOutput<'s, 'a> {
        CallbackOutput {
            sink,
            command: String::new(),
        }
    }
}

impl Output for CallbackOutput<'_, '_> {
    fn begin(&mut self, command: &str) {
        self.command = command.to_string();
    }

    fn line(&mut self, text: &str) {
        self.sink.line(text);
    }

    fn warning(&mut self, message: &str) {
        self.sink.warn(message);
    }

    fn error(&mut self, message: &str) {
        self.sink
            .warn(&format!("event callback '{}': {message}", self.command));
    }

    fn data(&mut self, value: Value) {
        self.sink.data(value);
    }

    fn record(&mut self, rec: Box<dyn AnyRecord>) {
        self.sink.boxed_record(rec);
    }

    fn end(&mut self) {}

    fn guest_resumed(&mut self) {
        self.sink.guest_resumed();
    }

    fn is_closed(&self) -> bool {
        matches!(self.sink.check_open(), Err(DcmdError::OutputClosed))
    }
}
