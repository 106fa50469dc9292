//! Process address spaces: the kernel's maple trees ([`maple`]) and, through them, a
//! process's VMAs as `/proc/PID/maps` shows them ([`vma`]).

pub mod maple;
pub mod vma;

pub use maple::{maple_entries, MapleEntry};
pub use vma::{mm_maps, Maps, MapsRules, Vma};
