//! The synchronous Target over the async client.
