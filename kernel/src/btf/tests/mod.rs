//! Unit tests on handcrafted BTF: every kind, names, lookups, bitfields, anonymous members,
//! cycles, corrupt input.

mod corrupt;
mod lookups;
mod values;

pub(super) use super::fixture::fixture;
