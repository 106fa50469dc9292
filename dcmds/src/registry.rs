//! The one table of dcmds and the one table of walkers.
//!
//! `::help`, `::dcmds`, `::walkers`, the TUI's completion and the gdb proxy's `monitor help`
//! are all generated from [`DCMDS`] and [`WALKERS`]. Adding a dcmd is one file under `cmds/`
//! defining a `pub const` [`DcmdDef`], plus one line in [`DCMDS`]; a walker likewise under
//! `walkers/` and in [`WALKERS`].

pub use crate::dcmd::*;
use crate::{cmds, walkers};

/// Every dcmd.
pub static DCMDS: &[&DcmdDef] = &[
    &cmds::help::HELP,
    &cmds::help::LIST_DCMDS,
    &cmds::help::LIST_WALKERS,
    &cmds::help::LIST_FORMATS,
    &cmds::regs::REGS,
    &cmds::cpus::CPUS,
    &cmds::cpus::CPU,
    &cmds::status::STATUS,
    &cmds::dis::DIS,
    &cmds::nm::NM,
    &cmds::walk::WALK,
    &cmds::list::LIST,
    &cmds::percpu::PERCPU,
    &cmds::xarray::XARRAY,
    &cmds::xarray::IDR,
    &cmds::monitor::MONITOR,
    &cmds::quit::QUIT,
    &cmds::print::PRINT,
    &cmds::printf::PRINTF,
    &cmds::eval::EVAL,
    &cmds::grep::GREP,
    &cmds::sizeof::SIZEOF,
    &cmds::offsetof::OFFSETOF,
    &cmds::ps::PS,
    &cmds::ps::PGREP,
    &cmds::task::TASK,
    &cmds::ptree::PTREE,
    &cmds::cpuinfo::CPUINFO,
    &cmds::runq::RUNQ,
    &cmds::findstack::FINDSTACK,
    &cmds::stacks::STACKS,
    &cmds::hung::HUNG,
    &cmds::stack::STACK,
    &cmds::stack::STACK_FRAMES,
    &cmds::lsmod::LSMOD,
    &cmds::lsmod::MODINFO,
    &cmds::msgbuf::MSGBUF,
    &cmds::kmastat::KMASTAT,
    &cmds::panicinfo::PANICINFO,
    &cmds::vtop::VTOP,
    &cmds::pmap::PMAP,
    &cmds::whatis::WHATIS,
    &cmds::pfiles::PFILES,
    &cmds::mounts::MOUNTS,
    &cmds::bp::BP,
    &cmds::bp::WP,
    &cmds::events::EVENTS,
    &cmds::events::DELETE,
    &cmds::events::ENABLE,
    &cmds::events::DISABLE,
    &cmds::cont::CONT,
    &cmds::cont::STOP,
    &cmds::step::STEP,
];

/// Every walker.
pub static WALKERS: &[&WalkerDef] = &[
    &walkers::list::LIST,
    &walkers::hlist::HLIST,
    &walkers::rbtree::RBTREE,
    &walkers::xarray::XARRAY,
    &walkers::xarray::IDR,
    &walkers::maple::MAPLE,
    &walkers::task::THREAD,
    &walkers::task::PROC,
];

/// The dcmd called `name` (or aliased so).
pub fn find_dcmd(name: &str) -> Option<&'static DcmdDef> {
    DCMDS.iter().copied().find(|d| d.is_named(name))
}

/// The walker called `name`.
pub fn find_walker(name: &str) -> Option<&'static WalkerDef> {
    WALKERS.iter().copied().find(|w| w.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique() {
        let mut seen = HashSet::new();
        for d in DCMDS {
            for n in std::iter::once(&d.name).chain(d.aliases.iter()) {
                assert!(seen.insert(*n), "dcmd name {n} is used twice");
            }
        }
        let mut seen = HashSet::new();
        for w in WALKERS {
            assert!(seen.insert(w.name), "walker {} is listed twice", w.name);
        }
    }

    #[test]
    fn every_entry_is_documented_within_79_columns() {
        for d in DCMDS {
            assert!(!d.description.is_empty(), "{}", d.name);
            assert!(!d.help.trim().is_empty(), "{} has no help", d.name);
            assert!(!d.description.ends_with('.'), "{}", d.name);
            for line in d.help.lines() {
                assert!(line.len() <= 77, "{}: help line too long: {line}", d.name);
            }
            assert!(d.synopsis().len() + 2 <= 79, "{}", d.name);
            let listing = format!(
                "{:<24} - {}",
                format!("{} {}", d.name, d.usage_args()),
                d.description
            );
            assert!(listing.len() <= 79, "::dcmds line too long: {listing}");
            for a in d.aliases {
                assert!(a.starts_with('$') || a.starts_with(':') || !a.is_empty());
            }
        }
        for w in WALKERS {
            assert!(!w.description.is_empty(), "{}", w.name);
            assert!(!w.help.trim().is_empty(), "{} has no help", w.name);
            let listing = format!("{:<24} - {}", w.name, w.description);
            assert!(listing.len() <= 79, "::walkers line too long: {listing}");
            for line in w.help.lines() {
                assert!(line.len() <= 77, "{}: help line too long: {line}", w.name);
            }
        }
    }

    #[test]
    fn usage_strings_say_whether_an_address_is_taken() {
        assert_eq!(
            find_dcmd("walk").map(|d| d.address_rule()),
            Some(AddressRule::Optional)
        );
        assert_eq!(find_dcmd("$r").map(|d| d.name), Some("regs"));
        assert_eq!(
            find_dcmd("regs").map(|d| d.synopsis()),
            Some("::regs [-a]".to_string())
        );
        assert!(find_dcmd("nosuch").is_none());
        assert!(find_walker("list").is_some());
    }
}
