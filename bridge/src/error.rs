//! Errors of the bridge, grouped by what the caller can do about them.

use crate::VirtAddr;
use std::time::Duration;

/// Why one all-or-nothing memory request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkError {
    /// The stub could not read the range (QEMU: `E14`, an address with no mapping).
    #[error("no mapping")]
    NoMapping,
    /// The stub refused the request size (QEMU: `E22`); the caller must use smaller requests.
    #[error("request too large for the stub")]
    TooLarge,
    /// Any other `E NN` reply.
    #[error("stub error E{0:02x}")]
    Errno(u8),
}

/// An error from the bridge.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BridgeError {
    /// The connection could not be made, or was lost; the session cannot go on without reconnecting.
    #[error("connection to {target} {what}: {source}")]
    Transport {
        target: String,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The stub closed the connection.
    #[error("the stub closed the connection")]
    Disconnected,
    /// The connection is out of step with our requests (after a timeout or a failed write):
    /// nothing more can be asked on it.
    #[error("connection unusable: {0}")]
    Unusable(String),
    /// The stub did not answer in time.
    #[error("no reply from the stub to {what} within {after:?}")]
    Timeout { what: String, after: Duration },
    /// The stub sent something that is not valid RSP, or not a valid reply to what was asked.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The stub answered with an error code.
    #[error("{what} failed: stub error E{errno:02x}")]
    Remote { what: String, errno: u8 },
    /// The stub does not support the request (empty reply).
    #[error("the stub does not support {0}")]
    Unsupported(String),
    /// A memory read stopped at `addr`.
    #[error("failed to read {len} bytes at {addr}: {cause}")]
    Fault {
        addr: VirtAddr,
        len: usize,
        cause: ChunkError,
    },
    /// The request is not allowed (for example it would kill QEMU, or write without `-w`).
    #[error("refused: {0}")]
    Refused(String),
    /// The guest runs (qmdb resumed it): QEMU would take any byte as a request to stop it and
    /// drop the request, so nothing is sent until it stops.
    #[error("the guest is running: stop it first")]
    Running,
    /// A caller-side argument was invalid (unknown register, bad vCPU).
    #[error("{0}")]
    Invalid(String),
}

impl BridgeError {
    /// Whether the session is over: the connection is gone or unusable.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            BridgeError::Transport { .. }
                | BridgeError::Disconnected
                | BridgeError::Timeout { .. }
                | BridgeError::Unusable(_)
        )
    }
}

/// Result alias for the bridge.
pub type Result<T, E = BridgeError> = std::result::Result<T, E>;
