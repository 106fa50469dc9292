//! A walk whose addresses were all found at its start (the container walks of
//! `qmdb_linux::containers` are bounded and return a list): it hands them out one a step
//! and says why the walk ended early, if it did, as a warning.

use crate::args::Arg;
use crate::cmds::list::member_offset;
use crate::dcmd::Walk;
use crate::error::DcmdError;
use crate::session::Session;
use qmdb_bridge::VirtAddr;

/// Addresses found up front, and the walk's end note.
pub(crate) struct Collected {
    addrs: std::vec::IntoIter<VirtAddr>,
    notes: Vec<String>,
}

impl Collected {
    /// `addrs` to hand out, `notes` to say once they are.
    pub(crate) fn new(addrs: Vec<VirtAddr>, notes: Vec<String>) -> Box<Collected> {
        Box::new(Collected {
            addrs: addrs.into_iter(),
            notes,
        })
    }
}

impl Walk for Collected {
    fn step(&mut self, _session: &mut Session) -> Result<Option<VirtAddr>, DcmdError> {
        Ok(self.addrs.next())
    }

    fn warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }
}

/// The optional `TYPE MEMBER` arguments of a node walker: the offset of MEMBER (a
/// `struct want`) in TYPE, or 0 (emit the nodes themselves) when there are none.
pub(crate) fn container_offset(
    session: &Session,
    cmd: &str,
    args: &[Arg],
    want: &str,
) -> Result<u64, DcmdError> {
    let words: Vec<&str> = args.iter().map(|a| a.text.as_str()).collect();
    match words.as_slice() {
        [] => Ok(0),
        [one] => Err(DcmdError::usage(
            cmd,
            format!("'{one}': give a type and a member, or neither"),
        )),
        _ => Ok(member_offset(session, cmd, &words, want)?.1),
    }
}

/// The start address a walker needs.
pub(crate) fn need_start(cmd: &str, start: Option<VirtAddr>) -> Result<VirtAddr, DcmdError> {
    start.ok_or_else(|| DcmdError::usage(cmd, "needs a start address"))
}
