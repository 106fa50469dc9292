//! End-to-end: the kernel-debugging staples (`::pfiles`, `::mounts`, `::pmap`, `::list`
//! and the container walkers, `::percpu`, `::runq`, `::ps -m`, `::ptree`, `::kmastat`) on
//! the real guests (6.1, 6.12 and the newest Debian kernel), each checked against what the
//! guest's kernel said of itself (`/proc`, read by the fixture at truth time). One test
//! binary, so each kernel's guest is booted once and shared by every module here.
//! (`::hung` and `::panicinfo` need broken guests: they are in `tests/postmortem.rs`.)

#[path = "../support/mod.rs"]
mod support;

mod containers;
mod files;
mod kmastat;
mod pmap;
mod sched;
