//! `::mounts` (`::fsinfo`): a mount namespace's mounts, as `/proc/mounts` prints them.

use crate::cmds::pfiles::{init_root, task_of};
use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::MountRow;
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::VirtAddr;
use qmdb_linux::fs::mounts::{namespace_mounts, task_mnt_ns};
use qmdb_linux::fs::path::task_root;

pub const MOUNTS: DcmdDef = DcmdDef {
    name: "mounts",
    aliases: &["fsinfo"],
    usage: "?",
    description: "list the mounts of a mount namespace",
    help: "Lists the mounts of init_task's mount namespace as /proc/mounts prints
them, in its order; with an address (a task_struct, or a pid as ::pfiles
takes it), the mounts of that task's namespace as /proc/PID/mounts prints
them, mount points from that task's root:
           MOUNT DEVICE       MOUNTPOINT       TYPE       OPTIONS
ffff8880035e8000 devtmpfs     /dev             devtmpfs   rw,relatime
MOUNT is the struct mount. DEVICE, MOUNTPOINT and TYPE are the first three
fields of /proc/mounts (escaped as it escapes them: a space is \\040); a
mount the root does not lead to is left out, as the kernel leaves it out.
OPTIONS are the ones the VFS prints itself: rw or ro, the superblock's
sync, dirsync, mand, lazytime and the mount's nosuid, nodev, noexec,
noatime, nodiratime, relatime, nosymfollow. What the filesystem's own
show_options adds (size=, mode=...), LSM options and idmapped are not
shown, and DEVICE is always mnt_devname (a filesystem's show_devname is
not reproduced).
In a pipeline, emits the struct mount addresses. With --json, one object
per mount: {\"mount\",\"vfsmount\",\"id\",\"device\",\"mount_point\",\"type\",
\"options\",\"note\",\"sb\",\"root\"}.",
    run,
};

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    if let Some(extra) = inv.args.first() {
        return Err(inv.usage_error(format!("unexpected argument '{}'", extra.text)));
    }
    let btf = qmdb_linux::context(session, &cmd)?.btf.clone();
    let (task, root) = if inv.flags.addrspec {
        let t = task_of(session, &cmd, inv.addr, sink)?;
        let root = task_root(session.program_mut(), &btf, t.addr.0)?
            .ok_or_else(|| DcmdError::usage(&cmd, format!("task {} has no fs_struct", t.addr.0)))?;
        (t.addr.0, root)
    } else {
        let init = qmdb_linux::tasks::init_task(session)?;
        (init.0, init_root(session, &cmd)?)
    };
    let ns: VirtAddr = task_mnt_ns(session.program_mut(), &btf, task)?
        .ok_or_else(|| DcmdError::usage(&cmd, format!("task {task} has no mount namespace")))?;
    let limit = session.walk_limit();
    let list = namespace_mounts(session.program_mut(), &btf, ns, root, limit)?;
    for p in &list.problems {
        sink.warn(&format!("{cmd}: {p}"));
    }
    let shown: Vec<_> = list
        .mounts
        .iter()
        .filter_map(|m| m.mount_point.as_ref().map(|p| (m, p)))
        .collect();
    if sink.pipe_out() {
        for (m, _) in &shown {
            sink.addr(m.addr);
        }
        return Ok(());
    }
    if inv.flags.header() {
        sink.line(&MountRow::header());
    }
    for (m, p) in shown {
        sink.record(MountRow::new(m, p));
    }
    Ok(())
}
