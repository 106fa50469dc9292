//! The GDB remote serial protocol: sans-IO framing and typed packets.
//!
//! [`frame`] turns a byte stream into packets and acks (shared by the client and, later, the
//! proxy); [`encoding`] holds the payload encodings (hex, run-length, binary escapes); the other
//! modules each own one packet family: its request builder, its reply parser (nom), and
//! wire-literal tests beside them.

pub mod breakpoints;
pub mod encoding;
pub mod frame;
pub mod malformed;
pub mod memory;
pub mod monitor;
pub mod registers;
pub mod reply;
pub mod resume;
pub mod sstep;
pub mod stop;
pub mod supported;
pub mod threads;
pub mod xfer;

pub use encoding::EncodingError;
pub use malformed::{MalformedReply, Problem};
