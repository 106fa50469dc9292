//! The mounts of a mount namespace, as `/proc/mounts` prints them (`show_vfsmnt` in
//! `fs/proc_namespace.c`): the device (`mnt_devname`, `none` when NULL), the mount point
//! (the path of the mount's root from the reader's root, `__d_path`: a mount the root does
//! not lead to is left out, as the kernel leaves it out), the type
//! (`mnt_sb->s_type->name`, `.SUBTYPE` after it when the superblock has one) and the
//! options.
//!
//! The options are the ones the VFS prints itself: `ro`/`rw` (`MNT_READONLY` or the
//! superblock's `SB_RDONLY`), the superblock's `sync`, `dirsync`, `mand`, `lazytime`, then
//! the mount's `nosuid`, `nodev`, `noexec`, `noatime`, `nodiratime`, `relatime`,
//! `nosymfollow`. What a filesystem's `show_options` adds after them (`size=`, `mode=`...),
//! an LSM's options and `idmapped` are not reproduced; nor is a device a filesystem's
//! `show_devname` prints (NFS, cgroup v1...): `mnt_devname` is printed instead.
//!
//! The namespace's mounts are a `list_head` (`mnt_namespace.list` of `mount.mnt_list`)
//! until 6.7, and a red-black tree (`mnt_namespace.mounts` of `mount.mnt_node`, ordered by
//! mount id) since: BTF says which. Both walks are bounded and cycle-checked; a mount that
//! cannot be read is reported and skipped.

use super::path::{path_from_root, DPath, PathRef, MAX_COMPONENTS};
use crate::containers::{container_of, list_nodes, rbtree_nodes};
use crate::error::Error;
use crate::object::{has_member, offset_of, read_cstring, StructView};
use crate::GuestMemory;
use qmdb_bridge::VirtAddr;
use qmdb_kernel::btf::Btf;
use std::collections::HashSet;

/// `SB_RDONLY` (`include/linux/fs.h`; `s_flags` values are not in BTF).
const SB_RDONLY: u64 = 1;
/// The superblock options `show_sb_opts` prints, in its order.
const SB_OPTS: &[(u64, &str)] = &[
    (16, "sync"),
    (128, "dirsync"),
    (64, "mand"),
    (1 << 25, "lazytime"),
];
/// The mount options `show_mnt_opts` prints, in its order: the `enum mount_flags`
/// enumerator (BTF has it since 6.16), and its value in `include/linux/mount.h` before.
const MNT_OPTS: &[(&str, u64, &str)] = &[
    ("MNT_NOSUID", 0x01, "nosuid"),
    ("MNT_NODEV", 0x02, "nodev"),
    ("MNT_NOEXEC", 0x04, "noexec"),
    ("MNT_NOATIME", 0x08, "noatime"),
    ("MNT_NODIRATIME", 0x10, "nodiratime"),
    ("MNT_RELATIME", 0x20, "relatime"),
    ("MNT_NOSYMFOLLOW", 0x80, "nosymfollow"),
];
/// `MNT_READONLY`.
const MNT_READONLY: (&str, u64) = ("MNT_READONLY", 0x40);
/// `MNT_CURSOR`: a `/proc/mounts` reader's place in the 6.1 list, not a mount.
const MNT_CURSOR: (&str, u64) = ("MNT_CURSOR", 0x1000_0000);

/// The value of enumerator `name` of `enum mount_flags`, or `default`.
fn mnt_flag(btf: &Btf, (name, default): (&str, u64)) -> u64 {
    btf.find("enum mount_flags")
        .ok()
        .and_then(|c| c.plain())
        .and_then(|id| btf.resolved(id).ok())
        .and_then(|ty| {
            btf.enumerators(ty)
                .find(|e| e.name == name)
                .map(|e| e.value)
        })
        .unwrap_or(default)
}

/// One mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The `struct mount`.
    pub addr: VirtAddr,
    /// Its `struct vfsmount` (`&mount->mnt`).
    pub vfsmount: VirtAddr,
    /// The parent mount (itself for the namespace's root).
    pub parent: VirtAddr,
    /// `mnt_id`.
    pub id: i64,
    /// The device, escaped as `/proc/mounts` escapes it.
    pub device: String,
    /// The mount point, escaped; `None` when the root does not lead to it (`/proc/mounts`
    /// leaves such a mount out).
    pub mount_point: Option<DPath>,
    /// The type (`ext4`, `fuse.sshfs`), escaped.
    pub fstype: String,
    /// `ro` or `rw`, then the options the VFS prints (see the module's documentation).
    pub options: Vec<String>,
    /// The superblock.
    pub sb: VirtAddr,
    /// The mount's root dentry.
    pub root: VirtAddr,
}

/// A namespace's mounts in `/proc/mounts` order, and what was skipped and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountList {
    pub mounts: Vec<Mount>,
    pub problems: Vec<String>,
}

/// `s` with space, tab, newline and backslash as `\ooo`, as `/proc/mounts` writes them.
pub fn mangle(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            ' ' | '\t' | '\n' | '\\' => out.push_str(&format!("\\{:03o}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The mount namespace of `task` (`task->nsproxy->mnt_ns`); `None` for a task without
/// an nsproxy (exiting).
pub fn task_mnt_ns(
    mem: &mut dyn GuestMemory,
    btf: &Btf,
    task: VirtAddr,
) -> Result<Option<VirtAddr>, Error> {
    let nsproxy = super::read_ptr_member(mem, btf, "task_struct", task, "nsproxy")?;
    if nsproxy.0 == 0 {
        return Ok(None);
    }
    let ns = super::read_ptr_member(mem, btf, "nsproxy", nsproxy, "mnt_ns")?;
    Ok((ns.0 != 0).then_some(ns))
}

/// The `struct mount`s of namespace `ns`, in `/proc/mounts` order, at most `limit`; the
/// walk's early end, if any, is in the second value.
fn namespace_nodes(
    mem: &mut dyn GuestMemory,
    btf: &Btf,
    ns: VirtAddr,
    limit: u64,
) -> Result<(Vec<VirtAddr>, Option<String>), Error> {
    let (walked, member) = if has_member(btf, "mnt_namespace", "list") {
        let head = ns.add(offset_of(btf, "mnt_namespace", "list")?);
        (list_nodes(mem, head, limit)?, "mnt_list")
    } else if has_member(btf, "mnt_namespace", "mounts") {
        let root = ns.add(offset_of(btf, "mnt_namespace", "mounts")?);
        (rbtree_nodes(mem, root, limit)?, "mnt_node")
    } else {
        return Err(Error::missing(
            "mounts",
            "struct mnt_namespace has neither list nor mounts",
        ));
    };
    let mounts = walked
        .items
        .iter()
        .map(|&n| container_of(btf, n, "mount", member))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((mounts, walked.end))
}

/// The mounts of namespace `ns` seen from `root` (the reader's root: a task's
/// `fs->root`), at most `limit` of them.
pub fn namespace_mounts(
    mem: &mut dyn GuestMemory,
    btf: &Btf,
    ns: VirtAddr,
    root: PathRef,
    limit: u64,
) -> Result<MountList, Error> {
    let (nodes, end) = namespace_nodes(mem, btf, ns, limit)?;
    let mut out = MountList::default();
    for m in nodes {
        match read_mount(mem, btf, m, root) {
            Ok(None) => {}
            Ok(Some(mnt)) => out.mounts.push(mnt),
            Err(e) if e.ends_command() => return Err(e),
            Err(e) => out.problems.push(format!("mount {m}: {e}")),
        }
    }
    out.problems.extend(end);
    Ok(out)
}

/// Reads the mount at `mount` (a `struct mount`) as seen from `root`; `Ok(None)` for a
/// `/proc/mounts` cursor.
pub fn read_mount(
    mem: &mut dyn GuestMemory,
    btf: &Btf,
    mount: VirtAddr,
    root: PathRef,
) -> Result<Option<Mount>, Error> {
    let m = StructView::read(mem, btf, "mount", mount)?;
    let flags = m.uint(btf, "mnt.mnt_flags")?;
    if has_member(btf, "mnt_namespace", "list") && flags & mnt_flag(btf, MNT_CURSOR) != 0 {
        return Ok(None);
    }
    let vfsmount = m.member_addr(btf, "mnt")?;
    let mnt_root = m.ptr(btf, "mnt.mnt_root")?;
    let sb = m.ptr(btf, "mnt.mnt_sb")?;
    let devname = m.ptr(btf, "mnt_devname")?;
    let device = if devname.0 == 0 {
        "none".to_string()
    } else {
        mangle(&read_cstring(mem, devname, 4096)?)
    };
    let s_type = super::read_ptr_member(mem, btf, "super_block", sb, "s_type")?;
    let name = super::read_ptr_member(mem, btf, "file_system_type", s_type, "name")?;
    let mut fstype = mangle(&read_cstring(mem, name, 256)?);
    if has_member(btf, "super_block", "s_subtype") {
        let sub = super::read_ptr_member(mem, btf, "super_block", sb, "s_subtype")?;
        if sub.0 != 0 {
            let sub = read_cstring(mem, sub, 256)?;
            if !sub.is_empty() {
                fstype = format!("{fstype}.{}", mangle(&sub));
            }
        }
    }
    let s_flags = mem.read_u64(
        sb.add(offset_of(btf, "super_block", "s_flags")?),
        Some("super_block.s_flags"),
    )?;
    let ro = flags & mnt_flag(btf, MNT_READONLY) != 0 || s_flags & SB_RDONLY != 0;
    let mut options = vec![if ro { "ro" } else { "rw" }.to_string()];
    options.extend(
        SB_OPTS
            .iter()
            .filter(|(b, _)| s_flags & b != 0)
            .map(|(_, o)| o.to_string()),
    );
    options.extend(
        MNT_OPTS
            .iter()
            .filter(|&&(n, v, _)| flags & mnt_flag(btf, (n, v)) != 0)
            .map(|(_, _, o)| o.to_string()),
    );
    let at = PathRef {
        mnt: vfsmount,
        dentry: mnt_root,
    };
    let mount_point = path_from_root(mem, btf, at, root)?.map(|p| DPath {
        path: mangle(&p.path),
        note: p.note,
    });
    Ok(Some(Mount {
        addr: mount,
        vfsmount,
        parent: m.ptr(btf, "mnt_parent")?,
        id: m.int(btf, "mnt_id")?,
        device,
        mount_point,
        fstype,
        options,
        sb,
        root: mnt_root,
    }))
}

/// A mount of `dentry`'s filesystem whose root is `dentry` or one of its ancestors,
/// among `mounts` (those with a mount point first): the `struct path` to print a dentry
/// by when only the dentry is known. `None` when no mount shows it.
pub fn mount_of_dentry(
    mem: &mut dyn GuestMemory,
    btf: &Btf,
    mounts: &[Mount],
    dentry: VirtAddr,
) -> Result<Option<PathRef>, Error> {
    let d = StructView::read(mem, btf, "dentry", dentry)?;
    let sb = d.ptr(btf, "d_sb")?;
    let mut candidates: Vec<&Mount> = mounts.iter().filter(|m| m.sb == sb).collect();
    if candidates.is_empty() {
        return Ok(None);
    }
    candidates.sort_by_key(|m| m.mount_point.is_none());
    // The dentry and its ancestors, up to its filesystem's root.
    let mut ancestors = vec![dentry];
    let mut seen = HashSet::from([dentry]);
    let mut cur = d.ptr(btf, "d_parent")?;
    while seen.insert(cur) && ancestors.len() < MAX_COMPONENTS {
        ancestors.push(cur);
        cur = match super::read_ptr_member(mem, btf, "dentry", cur, "d_parent") {
            Ok(p) => p,
            Err(e) if e.ends_command() => return Err(e),
            Err(_) => break,
        };
    }
    Ok(candidates
        .into_iter()
        .find(|m| ancestors.contains(&m.root))
        .map(|m| PathRef {
            mnt: m.vfsmount,
            dentry,
        }))
}

#[cfg(test)]
mod tests {
    use super::super::path::tests::{btf as path_btf, root, Fs, MNT};
    use super::*;

    fn btf() -> Btf {
        path_btf(false)
    }

    const NS: u64 = 0xe000;

    /// [`Fs::tree`] with its two mounts in a namespace list: rootfs (sb 0xa000, type
    /// "rootfs") and devtmpfs on /dev (sb 0xb000, nosuid, relatime), device names set.
    fn world() -> Fs {
        let mut f = Fs::tree();
        let m = &mut f.mem;
        m.put(0xf000, b"rootfs\0");
        m.put(0xf100, b"dev tmpfs\0");
        m.put(0xf200, b"devtmpfs\0");
        for (mount, sb, dev, flags) in [
            (0x1000u64, 0xa000u64, 0xf000u64, 0u32),
            (0x2000, 0xb000, 0xf100, 0x21),
        ] {
            m.put_u64(mount + MNT + 8, sb);
            m.put(mount + MNT + 0x10, &flags.to_le_bytes());
            m.put_u64(mount + 0x88, dev);
            m.put(mount + 0x124, &(mount as u32 / 0x1000).to_le_bytes());
            m.put(sb, &[0u8; 0x60]);
            m.put_u64(sb + 0x28, sb + 0x100);
            m.put_u64(sb + 0x100, if sb == 0xa000 { 0xf000 } else { 0xf200 });
        }
        // The list: ns.list -> 0x1000.mnt_list -> 0x2000.mnt_list -> ns.list.
        m.put_u64(NS + 0x20, 0x1000 + 0x90);
        m.put_u64(0x1000 + 0x90, 0x2000 + 0x90);
        m.put_u64(0x2000 + 0x90, NS + 0x20);
        // Dentries know their superblock.
        for d in [0x10000u64, 0x10100, 0x10200] {
            m.put_u64(d + 0x68, 0xa000);
        }
        for d in [0x20000u64, 0x20100, 0x20200] {
            m.put_u64(d + 0x68, 0xb000);
        }
        f
    }

    #[test]
    fn mounts_print_as_proc_mounts() {
        let btf = btf();
        let mut f = world();
        let l = namespace_mounts(&mut f.mem, &btf, VirtAddr(NS), root(), 100).unwrap();
        assert_eq!(l.problems, Vec::<String>::new());
        let lines: Vec<String> = l
            .mounts
            .iter()
            .map(|m| {
                let mp = m.mount_point.as_ref().unwrap();
                format!(
                    "{} {} {} {}",
                    m.device,
                    mp.path,
                    m.fstype,
                    m.options.join(",")
                )
            })
            .collect();
        assert_eq!(
            lines,
            [
                "rootfs / rootfs rw",
                "dev\\040tmpfs /dev devtmpfs rw,nosuid,relatime"
            ]
        );
        assert_eq!(l.mounts[1].id, 2);
        assert_eq!(l.mounts[1].vfsmount, VirtAddr(0x2000 + MNT));
        // Read-only from the superblock; a subtype.
        f.mem.put_u64(0xb000 + 0x50, 1 | 16);
        f.mem.put(0xf300, b"sshfs\0");
        f.mem.put_u64(0xb000 + 0x58, 0xf300);
        let l = namespace_mounts(&mut f.mem, &btf, VirtAddr(NS), root(), 100).unwrap();
        assert_eq!(l.mounts[1].options, ["ro", "sync", "nosuid", "relatime"]);
        assert_eq!(l.mounts[1].fstype, "devtmpfs.sshfs");
        // A dentry of devtmpfs is shown through its mount.
        let at = mount_of_dentry(&mut f.mem, &btf, &l.mounts, VirtAddr(0x20200)).unwrap();
        assert_eq!(at.map(|p| p.mnt), Some(VirtAddr(0x2000 + MNT)));
        let none = mount_of_dentry(&mut f.mem, &btf, &l.mounts[..1], VirtAddr(0x20200)).unwrap();
        assert_eq!(none, None);
    }

    #[test]
    fn a_broken_namespace_list_ends_with_a_problem() {
        let btf = btf();
        let mut f = world();
        // A cycle: devtmpfs's mnt_list points back to itself.
        f.mem.put_u64(0x2000 + 0x90, 0x2000 + 0x90);
        let l = namespace_mounts(&mut f.mem, &btf, VirtAddr(NS), root(), 100).unwrap();
        assert_eq!(l.mounts.len(), 2);
        assert!(
            l.problems.iter().any(|p| p.contains("cycle")),
            "{:?}",
            l.problems
        );
        // A wild next: the mount there cannot be read, the walk ends at it.
        let mut f = world();
        f.mem.put_u64(0x2000 + 0x90, 0xbad0_0090);
        let l = namespace_mounts(&mut f.mem, &btf, VirtAddr(NS), root(), 100).unwrap();
        assert_eq!(l.mounts.len(), 2);
        assert!(
            l.problems.iter().any(|p| p.contains("bad00090")),
            "{:?}",
            l.problems
        );
        // A mount whose superblock is wild: skipped, named.
        let mut f = world();
        f.mem.put_u64(0x2000 + MNT + 8, 0xbad0_0000);
        let l = namespace_mounts(&mut f.mem, &btf, VirtAddr(NS), root(), 100).unwrap();
        assert_eq!(l.mounts.len(), 1);
        assert!(l.problems[0].starts_with("mount 2000"), "{:?}", l.problems);
        // The bound.
        let mut f = world();
        let l = namespace_mounts(&mut f.mem, &btf, VirtAddr(NS), root(), 1).unwrap();
        assert_eq!(l.mounts.len(), 1);
        assert!(l.problems[0].contains("bound of 1"));
    }

    #[test]
    fn names_are_escaped_as_the_kernel_does() {
        assert_eq!(mangle("a b\tc\nd\\e"), "a\\040b\\011c\\012d\\134e");
        assert_eq!(mangle("/dev/sda1"), "/dev/sda1");
    }
}
