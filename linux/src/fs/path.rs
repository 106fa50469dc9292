//! `d_path()`: the path of a `struct path` (a vfsmount and a dentry) as the kernel prints
//! it in `/proc/PID/fd`, `/proc/mounts` and `/proc/PID/maps` (`fs/d_path.c`).
//!
//! From the dentry, `d_parent` is followed up to the root of its mount
//! (`vfsmount.mnt_root`), then the walk crosses to the parent mount (`struct mount`, which
//! embeds the `struct vfsmount` as its member `mnt`: `mnt_parent`, and `mnt_mountpoint`,
//! the dentry it is mounted on), until it meets the root it was given (a task's
//! `fs->root`) or the root of the mount tree. Each dentry adds `/` and its `d_name`.
//!
//! As the kernel does, a dentry whose `dentry_operations` have a `d_dname` (and that is not
//! mounted as its mount's root) is named by that function instead: `pipe:[INO]`,
//! `socket:[INO]`, `anon_inode:[NAME]`, `NS:[INO]` for namespace files, `/NAME (deleted)`
//! for `simple_dname`; a dentry that is unhashed and not its own parent (`d_unlinked`) gets
//! ` (deleted)` after its path.
//!
//! The walk is bounded ([`MAX_COMPONENTS`] names, [`MAX_MOUNTS`] mount crossings) and
//! cycle-checked: a cyclic or wild `d_parent` or `mnt_parent`, or a dentry that cannot be
//! read, ends it with the path found so far prefixed with `?` and a note saying why.

use crate::error::Error;
use crate::object::{has_member, offset_of, read_cstring, StructView};
use crate::GuestMemory;
use qmdb_bridge::VirtAddr;
use qmdb_kernel::btf::Btf;
use qmdb_kernel::symbols::SymbolLookup;
use std::collections::HashSet;

/// The most names a path is built of (a path longer than this is corrupt: `PATH_MAX` is
/// 4096 bytes).
pub const MAX_COMPONENTS: usize = 4096;
/// The most mounts a walk crosses.
pub const MAX_MOUNTS: usize = 64;
/// The longest name read (`PATH_MAX`).
const MAX_NAME: u64 = 4096;

/// A `struct path`: the mount (`struct vfsmount *`) and the dentry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PathRef {
    /// The `struct vfsmount` (inside its `struct mount`).
    pub mnt: VirtAddr,
    pub dentry: VirtAddr,
}

impl PathRef {
    /// The `struct path` at `addr` (a file's `f_path`, an `fs_struct`'s `root`).
    pub fn read(mem: &mut dyn GuestMemory, btf: &Btf, addr: VirtAddr) -> Result<PathRef, Error> {
        let v = StructView::read(mem, btf, "path", addr)?;
        Ok(PathRef {
            mnt: v.ptr(btf, "mnt")?,
            dentry: v.ptr(btf, "dentry")?,
        })
    }
}

/// The root of `task`'s filesystem view (`task->fs->root`); `None` when it has no
/// `fs_struct` (an exiting task).
pub fn task_root(
    mem: &mut dyn GuestMemory,
    btf: &Btf,
    task: VirtAddr,
) -> Result<Option<PathRef>, Error> {
    let fs = super::read_ptr_member(mem, btf, "task_struct", task, "fs")?;
    if fs.0 == 0 {
        return Ok(None);
    }
    let root = fs.add(offset_of(btf, "fs_struct", "root")?);
    PathRef::read(mem, btf, root).map(Some)
}

/// The `d_dname` functions whose names qmdb reproduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dname {
    /// `pipefs_dname`: `pipe:[INO]`.
    Pipe,
    /// `sockfs_dname`: `socket:[INO]`.
    Socket,
    /// `anon_inodefs_dname`: `anon_inode:NAME` (names are bracketed: `[eventpoll]`).
    AnonInode,
    /// `simple_dname`: `/NAME (deleted)`.
    Simple,
    /// `ns_dname` (nsfs): `TYPE:[INO]`, the type from `ns_common.ops->name`.
    Namespace,
}

/// The kernel functions behind [`Dname`], by symbol name.
const DNAMES: &[(&str, Dname)] = &[
    ("pipefs_dname", Dname::Pipe),
    ("sockfs_dname", Dname::Socket),
    ("anon_inodefs_dname", Dname::AnonInode),
    ("simple_dname", Dname::Simple),
    ("ns_dname", Dname::Namespace),
];

/// The addresses of the `d_dname` functions qmdb knows, looked up once in the kernel's
/// symbols (the walk itself reads only memory).
#[derive(Debug, Clone, Default)]
pub struct Dnames(Vec<(u64, Dname)>);

impl Dnames {
    /// The functions of [`Dname`] found in `syms`.
    pub fn from_symbols(syms: &dyn SymbolLookup) -> Dnames {
        Dnames(
            DNAMES
                .iter()
                .filter_map(|&(name, k)| syms.lookup_name(name).map(|a| (a.0, k)))
                .collect(),
        )
    }

    /// A table of known addresses (tests).
    pub fn new(known: &[(VirtAddr, Dname)]) -> Dnames {
        Dnames(known.iter().map(|&(a, k)| (a.0, k)).collect())
    }

    fn kind(&self, f: u64) -> Option<Dname> {
        self.0.iter().find(|(a, _)| *a == f).map(|&(_, k)| k)
    }
}

/// A path as the kernel prints it, or as far as it could be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DPath {
    /// The path; it starts with `?` when the walk broke off before a root.
    pub path: String,
    /// Why the path may not be the kernel's: the walk broke off (a cycle, an unreadable
    /// dentry or mount, a bound), or the name comes from a `d_dname` qmdb does not know.
    pub note: Option<String>,
}

impl DPath {
    fn broken(names: &[String], why: String) -> DPath {
        DPath {
            path: format!("?{}", join(names)),
            note: Some(why),
        }
    }
}

/// How a walk up the dentries ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reach {
    /// At the root it was given.
    Root,
    /// At the root of a mount tree (or, with no mount, of the dentry's filesystem) that is
    /// not the root given: the kernel's `d_path` prints the path from there.
    TreeRoot,
    /// At a dentry that is its own parent but not its mount's root (`Escaped?` in the
    /// kernel): `dentry` names it.
    Escaped(VirtAddr),
    /// The walk could not go on; the text says why and where.
    Broken(String),
}

/// The names found, innermost first, and how the walk ended.
struct Walk {
    names: Vec<String>,
    reach: Reach,
}

/// `/a/b/c` of names innermost first; empty for none.
fn join(names: &[String]) -> String {
    names.iter().rev().fold(String::new(), |mut s, n| {
        s.push('/');
        s.push_str(n);
        s
    })
}

/// A read that failed without ending the command becomes the text of a note.
fn soft<T>(r: Result<T, Error>) -> Result<Result<T, String>, Error> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(e) if e.ends_command() => Err(e),
        Err(e) => Ok(Err(e.to_string())),
    }
}

/// The name of the dentry read in `d` (`d_name`: its `len` bytes, up to a NUL as the
/// kernel's `prepend_name` copies it).
pub fn dentry_name(mem: &mut dyn GuestMemory, btf: &Btf, d: &StructView) -> Result<String, Error> {
    let name = d.ptr(btf, "d_name.name")?;
    let len = if has_member(btf, "dentry", "d_name.len") {
        d.uint(btf, "d_name.len")?
    } else {
        d.uint(btf, "d_name.hash_len")? >> 32
    };
    if len > MAX_NAME {
        return Err(Error::Corrupt(format!(
            "dentry {} has a name of {len} bytes",
            d.addr()
        )));
    }
    let b = mem.read_bytes(name, len as usize, Some("dentry name"))?;
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    Ok(String::from_utf8_lossy(b.get(..end).unwrap_or_default()).into_owned())
}

/// The walk from `dentry` in `mount` (a `struct mount`; `None`: stop at the filesystem's
/// root, as `dentry_path_raw` does) up to `root`.
fn walk_up(
    mem: &mut dyn GuestMemory,
    btf: &Btf,
    mut mount: Option<VirtAddr>,
    mut dentry: VirtAddr,
    root: Option<PathRef>,
) -> Result<Walk, Error> {
    let mnt_off = offset_of(btf, "mount", "mnt")?;
    let mut names: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    let mut crossings = 0usize;
    // The mount last read, with its root dentry and parent.
    let mut mview: Option<(VirtAddr, VirtAddr, VirtAddr, VirtAddr)> = None;
    let broken = |names: Vec<String>, why: String| {
        Ok(Walk {
            names,
            reach: Reach::Broken(why),
        })
    };
    loop {
        let vfsmount = mount.map(|m| m.add(mnt_off));
        if let (Some(r), Some(v)) = (root, vfsmount) {
            if r.dentry == dentry && r.mnt == v {
                return Ok(Walk {
                    names,
                    reach: Reach::Root,
                });
            }
        }
        if !seen.insert((mount, dentry)) {
            let n = names.len();
            return broken(
                names,
                format!("dentry {dentry} was reached twice: a cycle after {n} names"),
            );
        }
        let d = match soft(StructView::read(mem, btf, "dentry", dentry))? {
            Ok(d) => d,
            Err(e) => return broken(names, format!("dentry {dentry}: {e}")),
        };
        let parent = d.ptr(btf, "d_parent")?;
        if let Some(m) = mount {
            let (mnt_root, mnt_parent, mountpoint) = match mview {
                Some((a, r, p, mp)) if a == m => (r, p, mp),
                _ => {
                    let mv = match soft(StructView::read(mem, btf, "mount", m))? {
                        Ok(v) => v,
                        Err(e) => return broken(names, format!("mount {m}: {e}")),
                    };
                    let r = mv.ptr(btf, "mnt.mnt_root")?;
                    let p = mv.ptr(btf, "mnt_parent")?;
                    let mp = mv.ptr(btf, "mnt_mountpoint")?;
                    mview = Some((m, r, p, mp));
                    (r, p, mp)
                }
            };
            if dentry == mnt_root {
                if mnt_parent == m {
                    return Ok(Walk {
                        names,
                        reach: Reach::TreeRoot,
                    });
                }
                crossings += 1;
                if crossings > MAX_MOUNTS {
                    return broken(
                        names,
                        format!("stopped at the bound of {MAX_MOUNTS} mounts (at mount {m})"),
                    );
                }
                mount = Some(mnt_parent);
                dentry = mountpoint;
                continue;
            }
        }
        if parent == dentry {
            let reach = if mount.is_some() {
                Reach::Escaped(dentry)
            } else {
                Reach::TreeRoot
            };
            return Ok(Walk { names, reach });
        }
        if names.len() >= MAX_COMPONENTS {
            return broken(
                names,
                format!("stopped at the bound of {MAX_COMPONENTS} names (at dentry {dentry})"),
            );
        }
        match soft(dentry_name(mem, btf, &d))? {
            Ok(n) => names.push(n),
            Err(e) => return broken(names, format!("name of dentry {dentry}: {e}")),
        }
        dentry = parent;
    }
}

/// `d_path(path)` with `root` as the reader's root (`current->fs->root` in the kernel):
/// what `/proc/PID/fd` shows to a reader whose root that is.
pub fn d_path(
    mem: &mut dyn GuestMemory,
    btf: &Btf,
    dnames: &Dnames,
    path: PathRef,
    root: PathRef,
) -> Result<DPath, Error> {
    let d = match soft(StructView::read(mem, btf, "dentry", path.dentry))? {
        Ok(d) => d,
        Err(e) => return Ok(DPath::broken(&[], format!("dentry {}: {e}", path.dentry))),
    };
    let is_root = d.ptr(btf, "d_parent")? == path.dentry;
    let mut note = None;
    // A pseudo file's name, unless it is mounted as its mount's root.
    let mounted = is_root && {
        let r = super::read_ptr_member(mem, btf, "vfsmount", path.mnt, "mnt_root");
        soft(r)?.ok() == Some(path.dentry)
    };
    if !mounted {
        match pseudo(mem, btf, dnames, &d)? {
            Pseudo::Known(p) => return Ok(p),
            Pseudo::Unknown(n) => note = Some(n),
            Pseudo::None => {}
        }
    }
    let unhashed = d.uint(btf, "d_hash.pprev")? == 0;
    let mnt_off = offset_of(btf, "mount", "mnt")?;
    let mount = VirtAddr(path.mnt.0.wrapping_sub(mnt_off));
    let w = walk_up(mem, btf, Some(mount), path.dentry, Some(root))?;
    let mut out = match w.reach {
        Reach::Root | Reach::TreeRoot => DPath {
            path: join(&w.names),
            note,
        },
        Reach::Escaped(at) => DPath::broken(
            &w.names,
            format!("dentry {at} is its own parent but not its mount's root"),
        ),
        Reach::Broken(why) => DPath::broken(&w.names, why),
    };
    if out.path.is_empty() {
        out.path.push('/');
    }
    if unhashed && !is_root {
        out.path.push_str(" (deleted)");
    }
    Ok(out)
}

/// `__d_path(path, root)`: the path from `root`, as `/proc/mounts` prints mount points;
/// `None` when `root` is not on the way up (the kernel skips such a mount), and for an
/// escaped dentry.
pub fn path_from_root(
    mem: &mut dyn GuestMemory,
    btf: &Btf,
    path: PathRef,
    root: PathRef,
) -> Result<Option<DPath>, Error> {
    let mnt_off = offset_of(btf, "mount", "mnt")?;
    let mount = VirtAddr(path.mnt.0.wrapping_sub(mnt_off));
    let w = walk_up(mem, btf, Some(mount), path.dentry, Some(root))?;
    Ok(match w.reach {
        Reach::Root => Some(DPath {
            path: if w.names.is_empty() {
                "/".into()
            } else {
                join(&w.names)
            },
            note: None,
        }),
        Reach::TreeRoot | Reach::Escaped(_) => None,
        Reach::Broken(why) => Some(DPath::broken(&w.names, why)),
    })
}

/// The path of `dentry` from the root of its filesystem (`dentry_path_raw`), for a dentry
/// whose mount is not known.
pub fn dentry_path(mem: &mut dyn GuestMemory, btf: &Btf, dentry: VirtAddr) -> Result<DPath, Error> {
    let w = walk_up(mem, btf, None, dentry, None)?;
    Ok(match w.reach {
        Reach::Broken(why) => DPath::broken(&w.names, why),
        _ if w.names.is_empty() => DPath {
            path: "/".into(),
            note: None,
        },
        _ => DPath {
            path: join(&w.names),
            note: None,
        },
    })
}

/// What a dentry's `d_op->d_dname` makes of it.
enum Pseudo {
    /// It has none.
    None,
    /// The name it makes.
    Known(DPath),
    /// A function qmdb does not know: the note to print by the path instead.
    Unknown(String),
}

fn pseudo(
    mem: &mut dyn GuestMemory,
    btf: &Btf,
    dnames: &Dnames,
    d: &StructView,
) -> Result<Pseudo, Error> {
    let ops = d.ptr(btf, "d_op")?;
    if ops.0 == 0 {
        return Ok(Pseudo::None);
    }
    let r = super::read_ptr_member(mem, btf, "dentry_operations", ops, "d_dname");
    let f = match soft(r)? {
        Ok(f) if f.0 != 0 => f.0,
        Ok(_) => return Ok(Pseudo::None),
        Err(e) => {
            return Ok(Pseudo::Unknown(format!(
                "its dentry_operations cannot be read ({e}): its dentry path instead"
            )))
        }
    };
    Ok(match dnames.kind(f) {
        Some(k) => Pseudo::Known(dname(mem, btf, k, d)?),
        None => Pseudo::Unknown(format!(
            "named by a d_dname function at {f:#x} qmdb does not know: its dentry path \
             instead"
        )),
    })
}

/// A dentry whose mount is not known: the name its `d_dname` makes for a pseudo file,
/// its path inside its filesystem otherwise (with a note saying so).
pub fn dentry_path_or_name(
    mem: &mut dyn GuestMemory,
    btf: &Btf,
    dnames: &Dnames,
    dentry: VirtAddr,
) -> Result<DPath, Error> {
    let d = match soft(StructView::read(mem, btf, "dentry", dentry))? {
        Ok(d) => d,
        Err(e) => return Ok(DPath::broken(&[], format!("dentry {dentry}: {e}"))),
    };
    let note = match pseudo(mem, btf, dnames, &d)? {
        Pseudo::Known(p) => return Ok(p),
        Pseudo::Unknown(n) => n,
        Pseudo::None => "no mount of its filesystem is known: its path inside it".to_string(),
    };
    let mut p = dentry_path(mem, btf, dentry)?;
    p.note.get_or_insert(note);
    Ok(p)
}

/// The name `k` makes for the dentry read in `d`.
fn dname(mem: &mut dyn GuestMemory, btf: &Btf, k: Dname, d: &StructView) -> Result<DPath, Error> {
    let made = (|| -> Result<String, Error> {
        let inode = d.ptr(btf, "d_inode")?;
        let ino = |mem: &mut dyn GuestMemory| -> Result<u64, Error> {
            let off = offset_of(btf, "inode", "i_ino")?;
            mem.read_u64(inode.add(off), Some("inode.i_ino"))
        };
        Ok(match k {
            Dname::Pipe => format!("pipe:[{}]", ino(mem)?),
            Dname::Socket => format!("socket:[{}]", ino(mem)?),
            Dname::AnonInode => format!("anon_inode:{}", dentry_name(mem, btf, d)?),
            Dname::Simple => format!("/{} (deleted)", dentry_name(mem, btf, d)?),
            Dname::Namespace => {
                let ns = super::read_ptr_member(mem, btf, "inode", inode, "i_private")?;
                let ops = super::read_ptr_member(mem, btf, "ns_common", ns, "ops")?;
                let name = super::read_ptr_member(mem, btf, "proc_ns_operations", ops, "name")?;
                let name = read_cstring(mem, name, 64)?;
                format!("{name}:[{}]", ino(mem)?)
            }
        })
    })();
    match soft(made)? {
        Ok(path) => Ok(DPath { path, note: None }),
        Err(e) => Ok(DPath::broken(
            &[],
            format!("pseudo file name of dentry {}: {e}", d.addr()),
        )),
    }
}

/// The first dentry of `inode` (`i_dentry`, linked through `d_u.d_alias`, or `d_alias`
/// since 6.8); `None` for an inode with none.
pub fn inode_dentry(
    mem: &mut dyn GuestMemory,
    btf: &Btf,
    inode: VirtAddr,
) -> Result<Option<VirtAddr>, Error> {
    let first = super::read_ptr_member(mem, btf, "inode", inode, "i_dentry.first")?;
    if first.0 == 0 {
        return Ok(None);
    }
    let member = if has_member(btf, "dentry", "d_u.d_alias") {
        "d_u.d_alias"
    } else {
        "d_alias"
    };
    let off = offset_of(btf, "dentry", member)?;
    Ok(Some(VirtAddr(first.0.wrapping_sub(off))))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::mock::SparseMemory;
    use qmdb_kernel::btf::builder::BtfBuilder;

    /// A BTF with the members the path walk and the mounts read, at 6.1's offsets (the
    /// dentry's name length as `d_name.len`) or with only `hash_len`.
    pub(crate) fn btf(hash_len_only: bool) -> Btf {
        let mut b = BtfBuilder::new();
        let u32t = b.int("unsigned int", 4, 32, 0);
        let u64t = b.int("long unsigned int", 8, 64, 0);
        let u16t = b.int("short unsigned int", 2, 16, 0);
        let ptr = b.ptr(u64t);
        let hl = if hash_len_only {
            b.struct_("", 8, &[("hash_len", u64t, 0)])
        } else {
            let hash = b.struct_("", 8, &[("hash", u32t, 0), ("len", u32t, 32)]);
            b.union_("", 8, &[("", hash, 0), ("hash_len", u64t, 0)])
        };
        let qstr = b.struct_("qstr", 16, &[("", hl, 0), ("name", ptr, 64)]);
        let hbl = b.struct_("hlist_bl_node", 16, &[("next", ptr, 0), ("pprev", ptr, 64)]);
        let hn = b.struct_("hlist_node", 16, &[("next", ptr, 0), ("pprev", ptr, 64)]);
        let du = b.union_("", 16, &[("d_alias", hn, 0)]);
        b.struct_(
            "dentry",
            0xc0,
            &[
                ("d_flags", u32t, 0),
                ("d_hash", hbl, 0x8 * 8),
                ("d_parent", ptr, 0x18 * 8),
                ("d_name", qstr, 0x20 * 8),
                ("d_inode", ptr, 0x30 * 8),
                ("d_op", ptr, 0x60 * 8),
                ("d_sb", ptr, 0x68 * 8),
                ("d_u", du, 0xb0 * 8),
            ],
        );
        let vfsmount = b.struct_(
            "vfsmount",
            0x20,
            &[
                ("mnt_root", ptr, 0),
                ("mnt_sb", ptr, 64),
                ("mnt_flags", u32t, 128),
            ],
        );
        let lh = b.struct_("list_head", 16, &[("next", ptr, 0), ("prev", ptr, 64)]);
        b.struct_(
            "mount",
            0x140,
            &[
                ("mnt_parent", ptr, 0x10 * 8),
                ("mnt_mountpoint", ptr, 0x18 * 8),
                ("mnt", vfsmount, 0x20 * 8),
                ("mnt_devname", ptr, 0x88 * 8),
                ("mnt_list", lh, 0x90 * 8),
                ("mnt_ns", ptr, 0xe8 * 8),
                ("mnt_id", u32t, 0x124 * 8),
            ],
        );
        b.struct_("path", 16, &[("mnt", ptr, 0), ("dentry", ptr, 64)]);
        let hh = b.struct_("hlist_head", 8, &[("first", ptr, 0)]);
        b.struct_(
            "inode",
            0x100,
            &[
                ("i_mode", u16t, 0),
                ("i_sb", ptr, 0x28 * 8),
                ("i_ino", u64t, 0x40 * 8),
                ("i_rdev", u32t, 0x4c * 8),
                ("i_dentry", hh, 0xb0 * 8),
                ("i_private", ptr, 0xf0 * 8),
            ],
        );
        b.struct_("dentry_operations", 0x50, &[("d_dname", ptr, 0x48 * 8)]);
        b.struct_("mnt_namespace", 0x40, &[("list", lh, 0x20 * 8)]);
        b.struct_(
            "super_block",
            0x60,
            &[
                ("s_type", ptr, 0x28 * 8),
                ("s_flags", u64t, 0x50 * 8),
                ("s_subtype", ptr, 0x58 * 8),
            ],
        );
        b.struct_("file_system_type", 0x10, &[("name", ptr, 0)]);
        b.struct_("ns_common", 0x18, &[("ops", ptr, 0x8 * 8)]);
        b.struct_("proc_ns_operations", 0x10, &[("name", ptr, 0)]);
        Btf::parse(&b.build()).unwrap()
    }

    /// Guest memory of dentries and mounts, laid out as [`btf`] says.
    #[derive(Default)]
    pub(crate) struct Fs {
        pub mem: SparseMemory,
        next_name: u64,
    }

    /// `struct mount` at `m` embeds its `vfsmount` at +0x20.
    pub(crate) const MNT: u64 = 0x20;

    impl Fs {
        /// A hashed dentry at `a` called `name` under `parent` (itself for a root).
        pub fn dentry(&mut self, a: u64, name: &str, parent: u64) {
            let name_at = 0x9000_0000 + self.next_name;
            self.next_name += 0x100;
            self.mem.put(name_at, name.as_bytes());
            let mut b = vec![0u8; 0xc0];
            b[0x10..0x18].copy_from_slice(&0xdeadu64.to_le_bytes()); // d_hash.pprev
            b[0x18..0x20].copy_from_slice(&parent.to_le_bytes());
            b[0x24..0x28].copy_from_slice(&(name.len() as u32).to_le_bytes());
            b[0x28..0x30].copy_from_slice(&name_at.to_le_bytes());
            self.mem.put(a, &b);
        }

        /// A mount at `m` of the tree rooted at `root`, mounted on `mountpoint` of `parent`
        /// (itself for a tree's root).
        pub fn mount(&mut self, m: u64, root: u64, parent: u64, mountpoint: u64) {
            let mut b = vec![0u8; 0x140];
            b[0x10..0x18].copy_from_slice(&parent.to_le_bytes());
            b[0x18..0x20].copy_from_slice(&mountpoint.to_le_bytes());
            b[0x20..0x28].copy_from_slice(&root.to_le_bytes());
            self.mem.put(m, &b);
        }

        /// A tree: `/` (rootfs, mount 0x1000, dentry 0x10000), `/dev` (dentry 0x10100)
        /// with devtmpfs mounted on it (mount 0x2000, root 0x20000), `/dev/input/event0`
        /// (0x20100, 0x20200) and `/fifo` (0x10200).
        pub fn tree() -> Fs {
            let mut f = Fs::default();
            f.dentry(0x10000, "/", 0x10000);
            f.dentry(0x10100, "dev", 0x10000);
            f.dentry(0x10200, "fifo", 0x10000);
            f.dentry(0x20000, "/", 0x20000);
            f.dentry(0x20100, "input", 0x20000);
            f.dentry(0x20200, "event0", 0x20100);
            f.mount(0x1000, 0x10000, 0x1000, 0x10000);
            f.mount(0x2000, 0x20000, 0x1000, 0x10100);
            f
        }
    }

    pub(crate) fn root() -> PathRef {
        PathRef {
            mnt: VirtAddr(0x1000 + MNT),
            dentry: VirtAddr(0x10000),
        }
    }

    fn at(m: u64, d: u64) -> PathRef {
        PathRef {
            mnt: VirtAddr(m + MNT),
            dentry: VirtAddr(d),
        }
    }

    fn path(f: &mut Fs, btf: &Btf, p: PathRef) -> DPath {
        d_path(&mut f.mem, btf, &Dnames::default(), p, root()).unwrap()
    }

    #[test]
    fn paths_cross_mounts_up_to_the_root() {
        let btf = btf(false);
        let mut f = Fs::tree();
        let p = |s: &str| DPath {
            path: s.into(),
            note: None,
        };
        assert_eq!(
            path(&mut f, &btf, at(0x2000, 0x20200)),
            p("/dev/input/event0")
        );
        assert_eq!(path(&mut f, &btf, at(0x1000, 0x10200)), p("/fifo"));
        assert_eq!(path(&mut f, &btf, at(0x2000, 0x20000)), p("/dev"));
        assert_eq!(path(&mut f, &btf, root()), p("/"));
        // The dentry under the mount, seen through the lower mount.
        assert_eq!(path(&mut f, &btf, at(0x1000, 0x10100)), p("/dev"));
        // A length in hash_len's upper half only (no `len` member).
        let btf2 = super::tests::btf(true);
        assert_eq!(
            path(&mut f, &btf2, at(0x2000, 0x20200)),
            p("/dev/input/event0")
        );
        // __d_path: the mount point of devtmpfs; from a root it does not reach, none.
        let r = path_from_root(&mut f.mem, &btf, at(0x2000, 0x20000), root()).unwrap();
        assert_eq!(r, Some(p("/dev")));
        let other = at(0x2000, 0x20100);
        let r = path_from_root(&mut f.mem, &btf, at(0x1000, 0x10200), other).unwrap();
        assert_eq!(r, None);
        // dentry_path_raw: inside its filesystem only.
        let r = dentry_path(&mut f.mem, &btf, VirtAddr(0x20200)).unwrap();
        assert_eq!(r, p("/input/event0"));
    }

    #[test]
    fn a_path_outside_the_root_is_the_path_from_its_tree_root() {
        let btf = btf(false);
        let mut f = Fs::tree();
        // A detached mount (an internal one, as shmem's): its own parent.
        f.dentry(0x30000, "/", 0x30000);
        f.dentry(0x30100, "memfd:x", 0x30000);
        f.mount(0x3000, 0x30000, 0x3000, 0x30000);
        // Unhashed: deleted.
        f.mem.put_u64(0x30100 + 0x10, 0);
        let r = path(&mut f, &btf, at(0x3000, 0x30100));
        assert_eq!(r.path, "/memfd:x (deleted)");
        assert_eq!(r.note, None);
    }

    #[test]
    fn a_cyclic_d_parent_ends_with_a_note() {
        let btf = btf(false);
        let mut f = Fs::tree();
        // input's parent is event0, event0's is input.
        f.mem.put_u64(0x20100 + 0x18, 0x20200);
        let r = path(&mut f, &btf, at(0x2000, 0x20200));
        assert!(r.path.starts_with("?/"), "{r:?}");
        assert!(r.path.ends_with("/input/event0"), "{r:?}");
        let note = r.note.unwrap();
        assert!(note.contains("cycle") && note.contains("20200"), "{note}");
        // A cycle of mounts: devtmpfs is mounted on a mount mounted on devtmpfs.
        let mut f = Fs::tree();
        f.mount(0x2000, 0x20000, 0x5000, 0x20100);
        f.mount(0x5000, 0x20100, 0x2000, 0x20200);
        let r = path(&mut f, &btf, at(0x2000, 0x20200));
        assert!(r.path.starts_with('?'), "{r:?}");
        assert!(r.note.unwrap().contains("cycle"));
    }

    #[test]
    fn a_wild_d_parent_ends_with_a_note_naming_it() {
        let btf = btf(false);
        let mut f = Fs::tree();
        f.mem.put_u64(0x20100 + 0x18, 0xdead_0000);
        let r = path(&mut f, &btf, at(0x2000, 0x20200));
        assert_eq!(r.path, "?/input/event0");
        assert!(r.note.as_deref().unwrap().contains("dead0000"), "{r:?}");
        // A wild mount parent.
        let mut f = Fs::tree();
        f.mount(0x2000, 0x20000, 0xbad_0000, 0x10100);
        let r = path(&mut f, &btf, at(0x2000, 0x20200));
        assert_eq!(r.path, "?/input/event0");
        assert!(r.note.as_deref().unwrap().contains("bad0000"), "{r:?}");
        // The dentry itself unreadable.
        let r = path(&mut f, &btf, at(0x2000, 0x7777_0000));
        assert_eq!(r.path, "?");
        assert!(r.note.unwrap().contains("77770000"));
        // A name that cannot be read.
        let mut f = Fs::tree();
        f.mem.put_u64(0x20100 + 0x28, 0x5555_0000);
        let r = path(&mut f, &btf, at(0x2000, 0x20200));
        assert_eq!(r.path, "?/event0");
        assert!(r.note.unwrap().contains("20100"));
    }

    #[test]
    fn a_long_chain_stops_at_the_bound() {
        let btf = btf(false);
        let mut f = Fs::tree();
        // MAX_COMPONENTS + 10 dentries, each the parent of the next.
        let base = 0x100_0000u64;
        let n = MAX_COMPONENTS as u64 + 10;
        for i in 0..n {
            let parent = if i == 0 {
                0x10000
            } else {
                base + (i - 1) * 0x100
            };
            f.dentry(base + i * 0x100, "d", parent);
        }
        let r = path(&mut f, &btf, at(0x1000, base + (n - 1) * 0x100));
        assert!(r.path.starts_with("?/d/d"), "{}", &r.path[..20]);
        assert!(r.note.unwrap().contains("bound of 4096 names"));
    }

    #[test]
    fn pseudo_files_are_named_by_their_d_dname() {
        let btf = btf(false);
        let mut f = Fs::tree();
        // A pipe: pipefs's dentry with d_op->d_dname = pipefs_dname, inode 4242.
        let (ops, pipefs_dname, anon_dname, unknown) =
            (0x50000u64, 0xffff_1000u64, 0xffff_2000u64, 0xffff_3000u64);
        f.dentry(0x40000, "/", 0x40000);
        f.dentry(0x40100, "", 0x40000);
        f.mount(0x4000, 0x40000, 0x4000, 0x40000);
        f.mem.put_u64(0x40100 + 0x60, ops);
        f.mem.put_u64(ops + 0x48, pipefs_dname);
        f.mem.put_u64(0x40100 + 0x30, 0x60000);
        f.mem.put_u64(0x60000 + 0x40, 4242);
        let dn = Dnames::new(&[
            (VirtAddr(pipefs_dname), Dname::Pipe),
            (VirtAddr(anon_dname), Dname::AnonInode),
        ]);
        let r = d_path(&mut f.mem, &btf, &dn, at(0x4000, 0x40100), root()).unwrap();
        assert_eq!(r.path, "pipe:[4242]");
        // Without its mount: the same; a plain dentry, its path in its filesystem.
        let r = dentry_path_or_name(&mut f.mem, &btf, &dn, VirtAddr(0x40100)).unwrap();
        assert_eq!(r.path, "pipe:[4242]");
        let r = dentry_path_or_name(&mut f.mem, &btf, &dn, VirtAddr(0x20200)).unwrap();
        assert_eq!(r.path, "/input/event0");
        assert!(r.note.unwrap().contains("no mount"));
        // The same dentry as its mount's root: its path, not its d_dname.
        f.mem.put_u64(0x40000 + 0x60, ops);
        let r = d_path(&mut f.mem, &btf, &dn, at(0x4000, 0x40000), root()).unwrap();
        assert_eq!(r.path, "/");
        // anon_inode:[eventpoll]
        f.dentry(0x40200, "[eventpoll]", 0x40000);
        f.mem.put_u64(0x40200 + 0x60, ops + 0x100);
        f.mem.put_u64(ops + 0x100 + 0x48, anon_dname);
        let r = d_path(&mut f.mem, &btf, &dn, at(0x4000, 0x40200), root()).unwrap();
        assert_eq!(r.path, "anon_inode:[eventpoll]");
        // An unknown d_dname: the path, with a note.
        f.mem.put_u64(ops + 0x100 + 0x48, unknown);
        let r = d_path(&mut f.mem, &btf, &dn, at(0x4000, 0x40200), root()).unwrap();
        assert_eq!(r.path, "/[eventpoll]");
        assert!(r.note.unwrap().contains("ffff3000"));
        // A pipe whose inode cannot be read.
        f.mem.put_u64(0x40100 + 0x30, 0x6666_0000);
        let r = d_path(&mut f.mem, &btf, &dn, at(0x4000, 0x40100), root()).unwrap();
        assert!(r.path.starts_with('?') && r.note.unwrap().contains("66660040"));
    }

    #[test]
    fn an_inode_leads_to_its_first_alias() {
        let btf = btf(false);
        let mut f = Fs::tree();
        f.mem.put(0x70000, &[0u8; 0x100]);
        assert_eq!(
            inode_dentry(&mut f.mem, &btf, VirtAddr(0x70000)).unwrap(),
            None
        );
        f.mem.put_u64(0x70000 + 0xb0, 0x20200 + 0xb0);
        let d = inode_dentry(&mut f.mem, &btf, VirtAddr(0x70000)).unwrap();
        assert_eq!(d, Some(VirtAddr(0x20200)));
    }
}
