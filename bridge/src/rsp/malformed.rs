//! [`MalformedReply`]: a reply from the stub that does not parse, naming what is wrong.

use super::encoding::EncodingError;

/// How many bytes of a bad reply an error quotes.
const EXCERPT: usize = 32;

/// A reply from the stub (untrusted input) that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad {reply} {excerpt:?}: {problem}")]
pub struct MalformedReply {
    /// Which reply: `stop reply`, `thread list`, `qSupported reply`...
    pub reply: &'static str,
    /// What is wrong with it.
    pub problem: Problem,
    /// Its first bytes, for the message.
    pub excerpt: String,
}

/// What is wrong with a [`MalformedReply`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// A part is missing or out of place; the text names it.
    #[error("{0}")]
    Shape(&'static str),
    /// A field's value does not parse.
    #[error("bad {field} {value:?}")]
    BadValue { field: &'static str, value: String },
    /// The payload's encoding is corrupt.
    #[error(transparent)]
    Encoding(#[from] EncodingError),
    /// An `E NN` error where data was expected.
    #[error("stub error E{0:02x}")]
    Remote(u8),
}

impl MalformedReply {
    /// `body`, a `reply`, has `problem`.
    pub fn new(reply: &'static str, body: &[u8], problem: Problem) -> MalformedReply {
        let end = body.len().min(EXCERPT);
        MalformedReply {
            reply,
            problem,
            excerpt: String::from_utf8_lossy(body.get(..end).unwrap_or_default()).into_owned(),
        }
    }
}

/// `bytes` as text for a [`Problem::BadValue`].
pub(crate) fn lossy(bytes: &[u8]) -> String {
    let end = bytes.len().min(EXCERPT);
    String::from_utf8_lossy(bytes.get(..end).unwrap_or_default()).into_owned()
}

impl From<MalformedReply> for crate::BridgeError {
    fn from(e: MalformedReply) -> Self {
        crate::BridgeError::Protocol(e.to_string())
    }
}
