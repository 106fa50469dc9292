//! Architecture-specific knowledge of a kernel image, one module per architecture. Only
//! x86_64 guests are supported today; its ORC tables stay reachable as `qmdb_kernel::orc`.

pub mod x86_64;
