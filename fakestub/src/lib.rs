//! fake stub
