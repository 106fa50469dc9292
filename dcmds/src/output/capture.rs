//! Output captured in memory, for tests and for callers that post-process results.

use super::{CommandRecord, Output};
use serde_json::Value;

/// Keeps every command's [`CommandRecord`] and the transcript text mode would print (with
/// warnings and errors inline as `qmdb: message`).
#[derive(Debug, Default)]
pub struct CaptureOutput {
    records: Vec<CommandRecord>,
    current: Option<CommandRecord>,
    text: String,
}

impl CaptureOutput {
    pub fn new() -> CaptureOutput {
        CaptureOutput::default()
    }

    /// The commands that have ended.
    pub fn records(&self) -> &[CommandRecord] {
        &self.records
    }

    /// Everything text mode would have printed.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Takes the records and transcript, leaving the capture empty.
    pub fn take(&mut self) -> (Vec<CommandRecord>, String) {
        (
            std::mem::take(&mut self.records),
            std::mem::take(&mut self.text),
        )
    }

    fn record(&mut self) -> &mut CommandRecord {
        self.current.get_or_insert_with(|| CommandRecord::new(""))
    }
}

impl Output for CaptureOutput {
    fn begin(&mut self, command: &str) {
        self.current = Some(CommandRecord::new(command));
    }

    fn line(&mut self, text: &str) {
        self.text.push_str(text);
        self.text.push('\n');
        self.record().output.push(text.to_string());
    }

    fn warning(&mut self, message: &str) {
        self.text.push_str(&format!("qmdb: {message}\n"));
        self.record().warnings.push(message.to_string());
    }

    fn error(&mut self, message: &str) {
        self.text.push_str(&format!("qmdb: {message}\n"));
        self.record().add_error(message);
    }

    fn data(&mut self, value: Value) {
        self.record().data.push(value);
    }

    fn end(&mut self) {
        if let Some(r) = self.current.take() {
            self.records.push(r);
        }
    }
}
