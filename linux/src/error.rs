//! The one error of the program layer: a read that failed, guest data that makes no sense, or
//! kernel knowledge that is missing. Each prints as one line naming the address or the thing.

use crate::layout::LayoutError;
use qmdb_bridge::{BridgeError, ChunkError, VirtAddr};

/// Why a read of guest memory failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReadCause {
    /// The stub could not read it (QEMU: no mapping).
    #[error("{0}")]
    Target(ChunkError),
    /// The range runs past the top of the address space.
    #[error("the address space ends there")]
    Wrap,
}

/// An error of the debugged program: reading it, or making sense of what was read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
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
    /// No kernel was given or found; the text says why.
    #[error("no kernel: {0}")]
    NoKernel(String),
    /// The kernel is known but its image has no type information.
    #[error("no type information: the kernel image has neither .BTF nor DWARF")]
    NoTypes,
    /// The kernel lacks a type, member or symbol a walker needs; `what` is the walker or
    /// command that needed it.
    #[error("{what}: {msg}")]
    Missing { what: String, msg: String },
    /// The kernel's BTF lacks a structure or member `what` (a walker or command) needs; the
    /// cause stays typed (part of the message, not a `source()` that would repeat it).
    /// Prints as [`Error::Missing`] does.
    #[error("{what}: {cause}")]
    Layout { what: String, cause: LayoutError },
    /// The user interrupted (Ctrl-C); the walk stopped at its next read or step.
    #[error("interrupted")]
    Interrupted,
    /// The connection to the stub failed.
    #[error(transparent)]
    Bridge(BridgeError),
}

impl Error {
    /// A read error of `what` at `addr`.
    pub fn read(what: impl Into<String>, addr: VirtAddr, cause: ReadCause) -> Error {
        Error::Read {
            what: what.into(),
            addr,
            cause,
        }
    }

    /// `what` (a walker or dcmd) needs something the kernel does not have.
    pub fn missing(what: impl Into<String>, msg: impl ToString) -> Error {
        Error::Missing {
            what: what.into(),
            msg: msg.to_string(),
        }
    }

    /// `what` (a walker or dcmd) needs a structure or member the kernel's BTF lacks.
    pub fn layout(what: impl Into<String>, cause: LayoutError) -> Error {
        Error::Layout {
            what: what.into(),
            cause,
        }
    }

    /// Whether the connection to the target is gone.
    pub fn is_fatal(&self) -> bool {
        matches!(self, Error::Bridge(e) if e.is_fatal())
    }

    /// Whether this error ends the whole walk, not just the item it arose on: the
    /// connection is gone or the user interrupted.
    pub fn ends_command(&self) -> bool {
        self.is_fatal() || matches!(self, Error::Interrupted)
    }
}

/// `1 byte`, `8 bytes`.
pub fn bytes_word(len: usize) -> String {
    if len == 1 {
        "1 byte".to_string()
    } else {
        format!("{len} bytes")
    }
}

impl From<BridgeError> for Error {
    fn from(e: BridgeError) -> Self {
        match e {
            BridgeError::Fault { addr, len, cause } => Error::Read {
                what: bytes_word(len),
                addr,
                cause: ReadCause::Target(cause),
            },
            other => Error::Bridge(other),
        }
    }
}
