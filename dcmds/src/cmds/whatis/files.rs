//! Slab objects that stand for a path: a `struct file` (cache `filp`), a dentry (cache
//! `dentry`) or an inode (`inode_cache`, or a filesystem's `*_inode_cache` whose object
//! embeds the `struct inode` as `vfs_inode`): the path they are, as `/proc/PID/fd` would
//! show it to a process in the initial root.

use crate::cmds::pfiles::init_root;
use crate::error::DcmdError;
use crate::records::whatis::{MatchKind, PathAt, WhatisMatch as Match};
use crate::session::Session;
use qmdb_bridge::VirtAddr;
use qmdb_kernel::btf::Btf;
use qmdb_linux::fs::files::read_file;
use qmdb_linux::fs::mounts::{mount_of_dentry, namespace_mounts, task_mnt_ns};
use qmdb_linux::fs::path::{d_path, dentry_path_or_name, inode_dentry, DPath, Dnames, PathRef};
use qmdb_linux::object::{offset_of, read_cstring, StructView};
use qmdb_linux::slab::{ObjectState, Placement, SlabObject};

/// The `struct inode` in an object of inode cache `cache` starting at `start`.
fn inode_in(btf: &Btf, cache: &str, start: u64) -> Option<u64> {
    if cache == "inode_cache" {
        return Some(start);
    }
    let stem = cache.strip_suffix("_inode_cache")?;
    let mut structs = vec![format!("{stem}_inode_info"), format!("{stem}_inode")];
    if stem == "sock" {
        structs.insert(0, "socket_alloc".into());
    }
    structs
        .iter()
        .find_map(|s| offset_of(btf, s, "vfs_inode").ok())
        .map(|off| start.wrapping_add(off))
}

/// The path of `dentry`, through the initial namespace's mount of its filesystem when
/// there is one.
fn dentry_path(
    session: &mut Session,
    btf: &Btf,
    dnames: &Dnames,
    root: PathRef,
    dentry: VirtAddr,
) -> Result<DPath, DcmdError> {
    let init = qmdb_linux::tasks::init_task(session)?;
    let limit = session.walk_limit();
    let mem = session.program_mut();
    let at = match task_mnt_ns(mem, btf, init.0)? {
        Some(ns) => {
            let mounts = namespace_mounts(mem, btf, ns, root, limit)?;
            mount_of_dentry(mem, btf, &mounts.mounts, dentry)?
        }
        None => None,
    };
    Ok(match at {
        Some(p) => d_path(mem, btf, dnames, p, root)?,
        None => dentry_path_or_name(mem, btf, dnames, dentry)?,
    })
}

/// The path match of slab object `o`, if it is an allocated file, dentry or inode.
/// The name of the file system of the `struct inode` at `inode` (`i_sb->s_type->name`), if
/// those pointers lead to one: how an inode is told from other data.
fn fs_type_of(session: &mut Session, btf: &Btf, inode: VirtAddr) -> Option<String> {
    let mem = session.program_mut();
    let i = StructView::read(mem, btf, "inode", inode).ok()?;
    let sb = StructView::read(mem, btf, "super_block", i.ptr(btf, "i_sb").ok()?).ok()?;
    let fstype = StructView::read(mem, btf, "file_system_type", sb.ptr(btf, "s_type").ok()?);
    let name = read_cstring(mem, fstype.ok()?.ptr(btf, "name").ok()?, 32).ok()?;
    let plausible = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    plausible.then_some(name)
}

/// The name `/proc/PID/fd` gives a socket's or pipe's file, from its inode alone (`sockfs`
/// and `pipefs` name every dentry `socket:[INO]`, `pipe:[INO]`): for an inode no dentry is
/// linked to (7.x sockets).
fn pseudo_inode_name(
    session: &mut Session,
    btf: &Btf,
    inode: VirtAddr,
) -> Result<Option<String>, DcmdError> {
    let Some(name) = fs_type_of(session, btf, inode) else {
        return Ok(None);
    };
    let i = StructView::read(session.program_mut(), btf, "inode", inode)?;
    let ino = i.uint(btf, "i_ino")?;
    Ok(match name.as_str() {
        "sockfs" => Some(format!("socket:[{ino}]")),
        "pipefs" => Some(format!("pipe:[{ino}]")),
        _ => None,
    })
}

pub fn describe(
    session: &mut Session,
    cmd: &str,
    o: &SlabObject,
    out: &mut Vec<Match>,
) -> Result<(), DcmdError> {
    let Placement::Object { start, offset, .. } = o.placement else {
        return Ok(());
    };
    if o.state != Some(ObjectState::Allocated) {
        return Ok(());
    }
    let btf = qmdb_linux::context(session, cmd)?.btf.clone();
    let name = o.cache.name.as_str();
    let (what, object) = match name {
        "filp" => ("file", start),
        "dentry" => ("dentry", start),
        _ => {
            let Some(computed) = inode_in(&btf, name, start) else {
                return Ok(());
            };
            // The address asked about, when it is an inode itself, else the inode the
            // cache's struct places in the object: where the two differ (7.2's
            // sock_inode_cache), the one whose superblock names a file system is taken.
            let asked = start.wrapping_add(offset);
            let mut found = None;
            for at in [asked, computed] {
                if found.is_none() && fs_type_of(session, &btf, VirtAddr(at)).is_some() {
                    found = Some(at);
                }
            }
            match found {
                Some(i) => ("inode", i),
                None => return Ok(()),
            }
        }
    };
    let root = init_root(session, cmd)?;
    let dnames = Dnames::from_symbols(session.symbols());
    let path = match what {
        "file" => {
            let f = read_file(session.program_mut(), &btf, VirtAddr(object))?;
            d_path(session.program_mut(), &btf, &dnames, f.path, root)?
        }
        "dentry" => dentry_path(session, &btf, &dnames, root, VirtAddr(object))?,
        _ => match inode_dentry(session.program_mut(), &btf, VirtAddr(object))? {
            Some(d) => dentry_path(session, &btf, &dnames, root, d)?,
            None => match pseudo_inode_name(session, &btf, VirtAddr(object))? {
                Some(path) => DPath { path, note: None },
                None => return Ok(()),
            },
        },
    };
    let note = path
        .note
        .as_ref()
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    out.push(Match::new(
        MatchKind::Path(PathAt {
            object_type: what.into(),
            object,
            path: path.path.clone(),
            note: path.note,
        }),
        format!("struct {what} {object:x}, path {}{note}", path.path),
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use qmdb_kernel::btf::builder::BtfBuilder;

    #[test]
    fn inode_caches_find_their_struct_inode() {
        let mut b = BtfBuilder::new();
        let u64t = b.int("long unsigned int", 8, 64, 0);
        let inode = b.struct_("inode", 16, &[("i_ino", u64t, 0)]);
        b.struct_(
            "shmem_inode_info",
            48,
            &[("flags", u64t, 0), ("vfs_inode", inode, 256)],
        );
        b.struct_(
            "proc_inode",
            40,
            &[("pid", u64t, 0), ("vfs_inode", inode, 192)],
        );
        b.struct_(
            "socket_alloc",
            40,
            &[("socket", u64t, 0), ("vfs_inode", inode, 128)],
        );
        let btf = Btf::parse(&b.build()).unwrap();
        assert_eq!(inode_in(&btf, "inode_cache", 0x1000), Some(0x1000));
        assert_eq!(inode_in(&btf, "shmem_inode_cache", 0x1000), Some(0x1020));
        assert_eq!(inode_in(&btf, "proc_inode_cache", 0x1000), Some(0x1018));
        assert_eq!(inode_in(&btf, "sock_inode_cache", 0x1000), Some(0x1010));
        // Not inodes: an LSM's blobs, other caches.
        assert_eq!(inode_in(&btf, "lsm_inode_cache", 0x1000), None);
        assert_eq!(inode_in(&btf, "kmalloc-64", 0x1000), None);
    }
}
