//! Where command results go: the [`Output`] trait and its text, JSON-lines and capturing
//! implementations.
//!
//! # JSON lines (`--json`)
//!
//! [`JsonOutput`] prints one JSON object per command (a command is what `;` or a newline
//! separates; a whole pipeline is one command), as its line ends:
//!
//! ```text
//! {"schema":2,"command":"::walk list | /K","ok":true,"output":["..."],"error":null,"warnings":[],"data":[...]}
//! ```
//!
//! - `schema` (number): [`JSON_SCHEMA`], raised when a record changes incompatibly.
//! - `command` (string): the command's text as typed, trimmed.
//! - `ok` (bool): false when any error was reported for the command.
//! - `output` (array of strings): the lines text mode prints, without newlines.
//! - `error` (string or null): the first error, without the `qmdb: ` prefix.
//! - `warnings` (array of strings): warnings, and errors after the first, in order.
//! - `data` (array): structured results, one element per record, in order. 64-bit values
//!   are strings `"0x…"` so that no JSON reader rounds them. Records by command:
//!   - `addr/fmt`: `{"addr":"0x…","values":["…",…]}` per displayed line, values as printed;
//!   - `expr=fmt`: `{"value":"0x…","values":["…",…]}`;
//!   - an address printed by a walk or a pipe-aware dcmd: `"0x…"`;
//!   - `::regs`/`$r`: `{"rax":"0x…",…}` with every register the stub supplied;
//!   - `::cpus`: `{"cpu":0,"thread":"p1.1","info":"CPU#0 [halted ]","selected":true}` per
//!     vCPU; `::cpu`: `{"cpu":N}`;
//!   - `::status`: `{"target","state","was_running_at_attach","detach","vcpus","selected",
//!     "packet_size","qemu_version","writable"}`;
//!   - `::monitor`: `{"command":"…","output":"…"}`;
//!   - `::dcmds`, `::walkers`, `::formats`: one record per entry.

mod capture;
mod json;
mod text;

pub use capture::CaptureOutput;
pub use json::JsonOutput;
pub use text::TextOutput;

use crate::record::AnyRecord;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A sink for the results of commands. The session calls `begin`, then any of `line`,
/// `warning`, `error` and `data` in the order things happen, then `end`, for every command.
pub trait Output {
    /// A command starts; `command` is its text as typed.
    fn begin(&mut self, command: &str);
    /// A line of text output (no newline).
    fn line(&mut self, text: &str);
    /// A warning (without the `qmdb: ` prefix); the command may still succeed.
    fn warning(&mut self, message: &str);
    /// An error (without the `qmdb: ` prefix); the command fails.
    fn error(&mut self, message: &str);
    /// A structured result record.
    fn data(&mut self, value: Value);
    /// A dcmd's typed result: by default its text lines, then its JSON as [`Output::data`].
    /// Outputs that hand records to a program (see [`crate::Session::call`]) keep them whole.
    fn record(&mut self, rec: Box<dyn AnyRecord>) {
        for l in rec.lines() {
            self.line(&l);
        }
        self.data(rec.json());
    }
    /// The command has ended.
    fn end(&mut self);
    /// Whether the output has gone away (a closed pipe); the session then stops.
    fn is_closed(&self) -> bool {
        false
    }
    /// The command has resumed the guest (`::cont`, `::step`); it reports the stop before
    /// it ends. For displays that show the guest's state while the command waits.
    fn guest_resumed(&mut self) {}
    /// Whether results are structured records for a program (`--json`) rather than text
    /// for a person: the shell pipe (`cmd ! sh-cmd`) is refused there.
    fn structured(&self) -> bool {
        false
    }
}

/// The version of the JSON of [`CommandRecord`] and its `data` records. 2: every stack frame
/// is one type (`$c`/`$C` frames give `symbol` bare with `offset`, as `::findstack` does, and
/// `pt_regs`/`user` for saved registers; `::stacks` frames give `sp`); `::task` gives `ppid`
/// and `state_name`.
pub const JSON_SCHEMA: u32 = 2;

/// The JSON object of one command; see the [module docs](self) for the schema.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CommandRecord {
    /// [`JSON_SCHEMA`].
    #[serde(default)]
    pub schema: u32,
    pub command: String,
    pub ok: bool,
    pub output: Vec<String>,
    pub error: Option<String>,
    pub warnings: Vec<String>,
    pub data: Vec<Value>,
}

impl CommandRecord {
    fn new(command: &str) -> CommandRecord {
        CommandRecord {
            schema: JSON_SCHEMA,
            command: command.to_string(),
            ok: true,
            ..CommandRecord::default()
        }
    }

    fn add_error(&mut self, message: &str) {
        self.ok = false;
        if self.error.is_none() {
            self.error = Some(message.to_string());
        } else {
            self.warnings.push(message.to_string());
        }
    }
}
