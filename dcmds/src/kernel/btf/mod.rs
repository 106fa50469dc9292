//! Kernel types from `.BTF`.

/// The kernel's BTF type information.
#[derive(Debug, Default)]
pub struct Btf {}
