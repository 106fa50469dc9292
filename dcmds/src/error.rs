//! Errors of the mdb layer. Each prints as the one line that follows `qmdb: `.

use qmdb_bridge::{BridgeError, VirtAddr};
use std::fmt;

/// A position in a command line, 1-based, counted in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` in `src` (clamped to `src`).
    pub fn of(src: &str, offset: usize) -> Location {
        let mut end = offset.min(src.len());
        while !src.is_char_boundary(end) {
            end -= 1;
        }
        let before = src.get(..end).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.get(line_start..).unwrap_or("").chars().count() + 1;
        Location { line, column }
    }
}

/// `column 5`, or `line 2, column 5` when the input has several lines.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 1 {
            write!(f, "line {}, column {}", self.line, self.column)
        } else {
            write!(f, "column {}", self.column)
        }
    }
}

pub use qmdb_linux::error::{bytes_word, ReadCause};

/// An error of one command. The session prints it as `qmdb: <message>` and goes on with the
/// next command, unless [`DcmdError::is_fatal`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DcmdError {
    /// The command line does not parse.
    #[error("syntax error at {at}: {msg}")]
    Syntax { at: Location, msg: String },
    #[error("unknown dcmd '{0}' (see ::dcmds)")]
    UnknownDcmd(String),
    #[error("unknown walker '{0}' (see ::walkers)")]
    UnknownWalker(String),
    #[error("unknown format character '{ch}' at {at} (see ::formats)")]
    UnknownFormat { ch: char, at: Location },
    #[error("format '{ch}' is not supported yet: {why}")]
    UnsupportedFormat { ch: char, why: &'static str },
    #[error("unknown register or variable '{0}'")]
    UnknownVariable(String),
    /// `hint` is empty or starts with a space.
    #[error("unknown symbol '{name}'{hint}")]
    UnknownSymbol { name: String, hint: String },
    /// A dcmd was called with arguments or an address it does not accept.
    #[error("{cmd}: {msg}")]
    Usage { cmd: String, msg: String },
    #[error("division by zero")]
    DivisionByZero,
    /// Guest memory could not be read; `what` names what was being read (`8 bytes`,
    /// `next pointer`).
    #[error("failed to read {what} at {addr}: {cause}")]
    Read {
        what: String,
        addr: VirtAddr,
        cause: ReadCause,
    },
    /// Guest data is inconsistent (a cycle in a list, a walk over its bound).
    #[error("{0}")]
    Corrupt(String),
    /// The command is refused (it would change the VM without `-w`, or run control
    /// belongs to someone else).
    #[error("refused: {0}")]
    Refused(String),
    /// The output went away (a closed pipe); the session stops quietly.
    #[error("output closed")]
    OutputClosed,
    /// The user interrupted the command (Ctrl-C); the rest of the line is not run.
    #[error("interrupted")]
    Interrupted,
    #[error(transparent)]
    Bridge(BridgeError),
    /// The program lacks what the command needs (no kernel, no types, a missing member).
    #[error(transparent)]
    Program(Box<qmdb_linux::Error>),
    /// [`DcmdError::Program`], once the dcmd it arose in is known.
    #[error("{cmd}: {cause}")]
    Unavailable {
        cmd: String,
        cause: Box<qmdb_linux::Error>,
    },
}

impl DcmdError {
    /// Whether the connection to the target is gone, so the rest of the input cannot run.
    pub fn is_fatal(&self) -> bool {
        match self {
            DcmdError::Bridge(e) => e.is_fatal(),
            _ => false,
        }
    }

    /// Whether this error ends the whole command, not just the item it arose on: the
    /// connection is gone, the user interrupted, or the output went away.
    pub fn ends_command(&self) -> bool {
        self.is_fatal() || matches!(self, DcmdError::Interrupted | DcmdError::OutputClosed)
    }

    /// This error as `cmd`'s: what the program lacks is said with the dcmd's name.
    pub fn in_command(self, cmd: &str) -> DcmdError {
        match self {
            DcmdError::Program(cause) => DcmdError::Unavailable {
                cmd: cmd.to_string(),
                cause,
            },
            other => other,
        }
    }

    /// A usage error of `cmd`.
    pub fn usage(cmd: impl Into<String>, msg: impl Into<String>) -> DcmdError {
        DcmdError::Usage {
            cmd: cmd.into(),
            msg: msg.into(),
        }
    }

    /// A read error for `len` bytes.
    pub fn read(what: impl Into<String>, addr: VirtAddr, cause: ReadCause) -> DcmdError {
        DcmdError::Read {
            what: what.into(),
            addr,
            cause,
        }
    }
}

impl From<qmdb_linux::Error> for DcmdError {
    fn from(e: qmdb_linux::Error) -> Self {
        use qmdb_linux::Error as E;
        match e {
            E::Read { what, addr, cause } => DcmdError::Read { what, addr, cause },
            E::Corrupt(msg) => DcmdError::Corrupt(msg),
            E::Interrupted => DcmdError::Interrupted,
            E::Bridge(b) => DcmdError::Bridge(b),
            other => DcmdError::Program(Box::new(other)),
        }
    }
}

/// As the program layer maps it: a fault is a read error naming the address.
impl From<BridgeError> for DcmdError {
    fn from(e: BridgeError) -> Self {
        qmdb_linux::Error::from(e).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qmdb_bridge::ChunkError;

    #[test]
    fn location_counts_characters_and_lines() {
        assert_eq!(Location::of("abc", 0), Location { line: 1, column: 1 });
        assert_eq!(Location::of("abc", 2), Location { line: 1, column: 3 });
        assert_eq!(Location::of("é+x", 3), Location { line: 1, column: 3 });
        assert_eq!(Location::of("a\nbc", 3), Location { line: 2, column: 2 });
        assert_eq!(Location::of("ab", 99), Location { line: 1, column: 3 });
        assert_eq!(Location::of("é", 1), Location { line: 1, column: 1 });
        assert_eq!(Location { line: 1, column: 5 }.to_string(), "column 5");
        assert_eq!(
            Location { line: 2, column: 5 }.to_string(),
            "line 2, column 5"
        );
    }

    #[test]
    fn bridge_faults_name_the_address() {
        let e: DcmdError = BridgeError::Fault {
            addr: VirtAddr(0xffffc90000433ff8),
            len: 8,
            cause: ChunkError::NoMapping,
        }
        .into();
        assert_eq!(
            e.to_string(),
            "failed to read 8 bytes at ffffc90000433ff8: no mapping"
        );
        assert!(!e.is_fatal());
        let e: DcmdError = BridgeError::Disconnected.into();
        assert!(e.is_fatal());
    }
}
