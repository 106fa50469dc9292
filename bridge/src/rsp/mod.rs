//! The GDB remote serial protocol: framing and typed packets.
