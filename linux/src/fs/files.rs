//! A task's open files, as `/proc/PID/fd` and `/proc/PID/fdinfo` show them:
//! `task->files->fdt` is a `struct fdtable` (`max_fds`, the `fd` array of `struct file *`,
//! the `open_fds` and `close_on_exec` bitmaps); each open descriptor's `struct file` gives
//! its flags (`f_flags`, plus `O_CLOEXEC` from the bitmap as fdinfo adds it), mode, position,
//! path (`f_path`) and inode (type from `i_mode`, `i_ino`, `i_rdev`).
//!
//! `max_fds` is guest data: it is bounded by [`MAX_FDS`], and the descriptors listed by the
//! walk limit; a descriptor whose file cannot be read is reported and skipped.

use super::path::PathRef;
use crate::error::Error;
use crate::object::StructView;
use crate::GuestMemory;
use qmdb_bridge::VirtAddr;
use qmdb_kernel::btf::Btf;

/// The most descriptors looked at (the kernel's default `fs.nr_open`, 1 << 20).
pub const MAX_FDS: u64 = 1 << 20;

/// `O_CLOEXEC` (x86_64, `asm-generic/fcntl.h`): fdinfo adds it when the descriptor's
/// `close_on_exec` bit is set.
pub const O_CLOEXEC: u32 = 0o2000000;

/// The type of an inode, from `i_mode & S_IFMT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    Reg,
    Dir,
    Chr,
    Blk,
    Fifo,
    Sock,
    Lnk,
    /// No type bits (anonymous inodes have none).
    None,
    /// Type bits no file type has.
    Unknown(u32),
}

impl FileType {
    /// The type of an inode of mode `mode`.
    pub fn of_mode(mode: u32) -> FileType {
        match mode & 0o170000 {
            0o100000 => FileType::Reg,
            0o040000 => FileType::Dir,
            0o020000 => FileType::Chr,
            0o060000 => FileType::Blk,
            0o010000 => FileType::Fifo,
            0o140000 => FileType::Sock,
            0o120000 => FileType::Lnk,
            0 => FileType::None,
            t => FileType::Unknown(t),
        }
    }

    /// `REG`, `DIR`, `CHR`, `BLK`, `FIFO`, `SOCK`, `LNK`, `ANON` (no type bits), `UNKNOWN`.
    pub fn name(self) -> &'static str {
        match self {
            FileType::Reg => "REG",
            FileType::Dir => "DIR",
            FileType::Chr => "CHR",
            FileType::Blk => "BLK",
            FileType::Fifo => "FIFO",
            FileType::Sock => "SOCK",
            FileType::Lnk => "LNK",
            FileType::None => "ANON",
            FileType::Unknown(_) => "UNKNOWN",
        }
    }
}

/// One `struct file`, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The `struct file`.
    pub addr: VirtAddr,
    /// `f_flags` (`O_*`).
    pub f_flags: u32,
    /// `f_mode` (`FMODE_*`).
    pub f_mode: u32,
    /// `f_pos`.
    pub pos: i64,
    /// `f_path`.
    pub path: PathRef,
    /// `f_inode`.
    pub inode: VirtAddr,
    /// The inode's `i_mode`.
    pub i_mode: u32,
    /// `i_ino`.
    pub ino: u64,
    /// `i_rdev` (the kernel's encoding: major in the upper 12 bits, minor in the lower 20).
    pub rdev: u32,
}

impl FileInfo {
    /// The inode's type.
    pub fn file_type(&self) -> FileType {
        FileType::of_mode(self.i_mode)
    }
}

/// Reads the `struct file` at `addr` and its inode.
pub fn read_file(mem: &mut dyn GuestMemory, btf: &Btf, addr: VirtAddr) -> Result<FileInfo, Error> {
    let f = StructView::read(mem, btf, "file", addr)?;
    let inode = f.ptr(btf, "f_inode")?;
    let i = StructView::read(mem, btf, "inode", inode)?;
    Ok(FileInfo {
        addr,
        f_flags: f.uint(btf, "f_flags")? as u32,
        f_mode: f.uint(btf, "f_mode")? as u32,
        pos: f.int(btf, "f_pos")?,
        path: PathRef {
            mnt: f.ptr(btf, "f_path.mnt")?,
            dentry: f.ptr(btf, "f_path.dentry")?,
        },
        inode,
        i_mode: i.uint(btf, "i_mode")? as u32,
        ino: i.uint(btf, "i_ino")?,
        rdev: i.uint(btf, "i_rdev")? as u32,
    })
}

/// One open descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenFile {
    pub fd: u32,
    /// The flags fdinfo prints: `f_flags`, with [`O_CLOEXEC`] when the descriptor has it.
    pub flags: u32,
    pub file: FileInfo,
}

/// A task's open descriptors, by number, and what was skipped and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FdList {
    pub files: Vec<OpenFile>,
    /// The table's `max_fds`.
    pub max_fds: u64,
    /// Descriptors skipped, bounds hit: one line each.
    pub problems: Vec<String>,
}

/// Whether bit `n` of the little-endian bitmap `b` is set.
fn bit(b: &[u8], n: u64) -> bool {
    usize::try_from(n / 8)
        .ok()
        .and_then(|i| b.get(i))
        .is_some_and(|byte| byte & (1 << (n % 8)) != 0)
}

/// The open files of the task at `task`, at most `limit` of them.
pub fn task_files(
    mem: &mut dyn GuestMemory,
    btf: &Btf,
    task: VirtAddr,
    limit: u64,
) -> Result<FdList, Error> {
    let files = super::read_ptr_member(mem, btf, "task_struct", task, "files")?;
    let mut out = FdList::default();
    if files.0 == 0 {
        out.problems
            .push(format!("task {task} has no files_struct (it is exiting)"));
        return Ok(out);
    }
    let fdt = super::read_ptr_member(mem, btf, "files_struct", files, "fdt")?;
    let t = StructView::read(mem, btf, "fdtable", fdt)?;
    out.max_fds = t.uint(btf, "max_fds")?;
    let n = if out.max_fds > MAX_FDS {
        out.problems.push(format!(
            "fdtable {fdt}: max_fds {} is over the bound of {MAX_FDS}: looked at the first {MAX_FDS}",
            out.max_fds
        ));
        MAX_FDS
    } else {
        out.max_fds
    };
    let bytes = (n.div_ceil(64) * 8) as usize;
    let open = mem.read_bytes(t.ptr(btf, "open_fds")?, bytes, Some("fdtable.open_fds"))?;
    let cloexec = match mem.read_bytes(t.ptr(btf, "close_on_exec")?, bytes, Some("close_on_exec")) {
        Ok(b) => b,
        Err(e) if e.ends_command() => return Err(e),
        Err(e) => {
            out.problems
                .push(format!("fdtable {fdt}: O_CLOEXEC unknown: {e}"));
            Vec::new()
        }
    };
    let array = t.ptr(btf, "fd")?;
    for fd in (0..n).filter(|&fd| bit(&open, fd)) {
        if out.files.len() as u64 >= limit {
            out.problems.push(format!(
                "stopped at the bound of {limit} descriptors (at fd {fd})"
            ));
            break;
        }
        let slot = array.add(fd * 8);
        let r = mem
            .read_u64(slot, Some("fdtable.fd[]"))
            .and_then(|f| match f {
                0 => Ok(None),
                f => read_file(mem, btf, VirtAddr(f)).map(Some),
            });
        match r {
            Ok(Some(file)) => {
                let cloexec = if bit(&cloexec, fd) { O_CLOEXEC } else { 0 };
                out.files.push(OpenFile {
                    fd: fd as u32,
                    flags: file.f_flags | cloexec,
                    file,
                });
            }
            // Reserved by an open in progress: not in /proc/PID/fd either.
            Ok(None) => {}
            Err(e) if e.ends_command() => return Err(e),
            Err(e) => out.problems.push(format!("fd {fd}: {e}")),
        }
    }
    Ok(out)
}

/// The `O_*` flag bits (x86_64 and most architectures: `asm-generic/fcntl.h`) past the
/// access mode, in bit order.
const OPEN_FLAGS: &[(u32, &str)] = &[
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (0o10000, "O_DSYNC"),
    (0o20000, "O_ASYNC"),
    (0o40000, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"),
    (0o200000, "O_DIRECTORY"),
    (0o400000, "O_NOFOLLOW"),
    (0o1000000, "O_NOATIME"),
    (0o2000000, "O_CLOEXEC"),
    (0o4000000, "__O_SYNC"),
    (0o10000000, "O_PATH"),
    (0o20000000, "__O_TMPFILE"),
];

/// `flags` as `O_RDWR|O_APPEND|O_LARGEFILE`: the access mode first, then each flag
/// (`O_SYNC` for `__O_SYNC|O_DSYNC`, `O_TMPFILE` for `__O_TMPFILE|O_DIRECTORY`), then any
/// bits left over in octal.
pub fn open_flags(flags: u32) -> String {
    let mut parts = vec![match flags & 3 {
        0 => "O_RDONLY",
        1 => "O_WRONLY",
        2 => "O_RDWR",
        _ => "O_ACCMODE",
    }
    .to_string()];
    let mut rest = flags & !3;
    for (both, name) in [(0o4010000u32, "O_SYNC"), (0o20200000, "O_TMPFILE")] {
        if rest & both == both {
            parts.push(name.into());
            rest &= !both;
        }
    }
    for &(b, name) in OPEN_FLAGS {
        if rest & b != 0 {
            parts.push(name.into());
            rest &= !b;
        }
    }
    if rest != 0 {
        parts.push(format!("0{rest:o}"));
    }
    parts.join("|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::SparseMemory;
    use qmdb_kernel::btf::builder::BtfBuilder;

    fn btf() -> Btf {
        let mut b = BtfBuilder::new();
        let u16t = b.int("short unsigned int", 2, 16, 0);
        let u32t = b.int("unsigned int", 4, 32, 0);
        let u64t = b.int("long unsigned int", 8, 64, 0);
        let i64t = b.int("long long int", 8, 64, 1);
        let ptr = b.ptr(u64t);
        let path = b.struct_("path", 16, &[("mnt", ptr, 0), ("dentry", ptr, 64)]);
        b.struct_(
            "task_struct",
            0x100,
            &[("fs", ptr, 0x50 * 8), ("files", ptr, 0x58 * 8)],
        );
        b.struct_("files_struct", 0x40, &[("fdt", ptr, 0x20 * 8)]);
        b.struct_(
            "fdtable",
            0x28,
            &[
                ("max_fds", u32t, 0),
                ("fd", ptr, 0x8 * 8),
                ("close_on_exec", ptr, 0x10 * 8),
                ("open_fds", ptr, 0x18 * 8),
            ],
        );
        b.struct_(
            "file",
            0x80,
            &[
                ("f_path", path, 0x10 * 8),
                ("f_inode", ptr, 0x20 * 8),
                ("f_flags", u32t, 0x40 * 8),
                ("f_mode", u32t, 0x44 * 8),
                ("f_pos", i64t, 0x68 * 8),
            ],
        );
        b.struct_(
            "inode",
            0x50,
            &[
                ("i_mode", u16t, 0),
                ("i_ino", u64t, 0x40 * 8),
                ("i_rdev", u32t, 0x4c * 8),
            ],
        );
        Btf::parse(&b.build()).unwrap()
    }

    const TASK: u64 = 0x1000;
    const FDT: u64 = 0x3000;
    const ARRAY: u64 = 0x4000;

    /// A task with a table of `max` descriptors, open ones at `open` (fd, file address).
    fn task(max: u32, open: &[(u64, u64)]) -> SparseMemory {
        let mut m = SparseMemory::default();
        m.put(TASK, &[0u8; 0x100]);
        m.put_u64(TASK + 0x58, 0x2000);
        m.put(0x2000, &[0u8; 0x40]);
        m.put_u64(0x2000 + 0x20, FDT);
        m.put(FDT, &[0u8; 0x28]);
        m.put(FDT, &max.to_le_bytes());
        m.put_u64(FDT + 0x8, ARRAY);
        m.put_u64(FDT + 0x10, 0x5000);
        m.put_u64(FDT + 0x18, 0x6000);
        let words = (max as u64).div_ceil(64).min(MAX_FDS / 64);
        m.put(0x5000, &vec![0u8; words as usize * 8]);
        m.put(0x6000, &vec![0u8; words as usize * 8]);
        for &(fd, file) in open {
            m.put_u64(ARRAY + fd * 8, file);
            let byte = 0x6000 + fd / 8;
            let old = m.read_some(VirtAddr(byte), 1).unwrap()[0];
            m.put(byte, &[old | (1 << (fd % 8))]);
            if file == 0 {
                continue;
            }
            let mut f = vec![0u8; 0x80];
            f[0x18..0x20].copy_from_slice(&(0xd000 + fd).to_le_bytes());
            f[0x20..0x28].copy_from_slice(&0x8000u64.to_le_bytes());
            f[0x40..0x44].copy_from_slice(&(0o102002u32).to_le_bytes());
            f[0x68..0x70].copy_from_slice(&(fd as i64 * 10).to_le_bytes());
            m.put(file, &f);
        }
        let mut i = vec![0u8; 0x50];
        i[0..2].copy_from_slice(&0o20620u16.to_le_bytes());
        i[0x40..0x48].copy_from_slice(&7u64.to_le_bytes());
        i[0x4c..0x50].copy_from_slice(&((4u32 << 20) | 64).to_le_bytes());
        m.put(0x8000, &i);
        m
    }

    #[test]
    fn open_descriptors_are_listed_with_their_files() {
        let btf = btf();
        let mut m = task(64, &[(0, 0xa000), (2, 0xa100), (63, 0xa200), (5, 0)]);
        // fd 2 is close-on-exec.
        m.put(0x5000, &[0b100]);
        let l = task_files(&mut m, &btf, VirtAddr(TASK), 100).unwrap();
        assert_eq!(l.max_fds, 64);
        assert_eq!(l.problems, Vec::<String>::new());
        let fds: Vec<u32> = l.files.iter().map(|f| f.fd).collect();
        assert_eq!(fds, [0, 2, 63]);
        let f = &l.files[1];
        assert_eq!(f.flags, 0o102002 | O_CLOEXEC);
        assert_eq!(f.file.f_flags, 0o102002);
        assert_eq!(f.file.pos, 20);
        assert_eq!(f.file.path.dentry, VirtAddr(0xd002));
        assert_eq!(f.file.file_type(), FileType::Chr);
        assert_eq!((f.file.ino, f.file.rdev >> 20), (7, 4));
        assert_eq!(l.files[0].flags, 0o102002);
    }

    #[test]
    fn a_wild_file_is_skipped_and_bounds_hold() {
        let btf = btf();
        let mut m = task(128, &[(1, 0xa000), (3, 0xdead_0000), (70, 0xa100)]);
        m.remove(0xdead_0000, 0x80);
        let l = task_files(&mut m, &btf, VirtAddr(TASK), 100).unwrap();
        assert_eq!(l.files.iter().map(|f| f.fd).collect::<Vec<_>>(), [1, 70]);
        assert_eq!(l.problems.len(), 1);
        assert!(l.problems[0].contains("fd 3") && l.problems[0].contains("dead0000"));
        // The walk limit.
        let l = task_files(&mut m, &btf, VirtAddr(TASK), 1).unwrap();
        assert_eq!(l.files.len(), 1);
        assert!(l.problems.iter().any(|p| p.contains("bound of 1")));
        // A max_fds of garbage: bounded, said so.
        let mut m = task(u32::MAX, &[(1, 0xa000)]);
        let l = task_files(&mut m, &btf, VirtAddr(TASK), 100).unwrap();
        assert_eq!(l.files.len(), 1);
        assert!(l.problems[0].contains("over the bound"), "{:?}", l.problems);
        // No files_struct.
        m.put_u64(TASK + 0x58, 0);
        let l = task_files(&mut m, &btf, VirtAddr(TASK), 100).unwrap();
        assert!(l.files.is_empty() && l.problems[0].contains("no files_struct"));
        // The open_fds bitmap unreadable: an error naming it.
        let mut m = task(64, &[(1, 0xa000)]);
        m.put_u64(FDT + 0x18, 0x7777_0000);
        let e = task_files(&mut m, &btf, VirtAddr(TASK), 100).unwrap_err();
        assert!(e.to_string().contains("open_fds at 77770000"), "{e}");
    }

    #[test]
    fn flags_decode_as_open_spells_them() {
        assert_eq!(open_flags(0o100000), "O_RDONLY|O_LARGEFILE");
        assert_eq!(open_flags(0o2100001), "O_WRONLY|O_LARGEFILE|O_CLOEXEC");
        assert_eq!(open_flags(0o2002), "O_RDWR|O_APPEND");
        assert_eq!(open_flags(0o4010001), "O_WRONLY|O_SYNC");
        assert_eq!(open_flags(0o20200002), "O_RDWR|O_TMPFILE");
        assert_eq!(open_flags(0o10000), "O_RDONLY|O_DSYNC");
        assert_eq!(open_flags(0o40000000 | 3), "O_ACCMODE|040000000");
        assert_eq!(FileType::of_mode(0o100644).name(), "REG");
        assert_eq!(FileType::of_mode(0o600).name(), "ANON");
        assert_eq!(FileType::of_mode(0o170000).name(), "UNKNOWN");
    }
}
