//! A task's open files as `::pfiles` shows them.

use crate::record::{hex, Record};
use qmdb_linux::fs::files::{open_flags, OpenFile};
use qmdb_linux::fs::path::DPath;
use serde::Serialize;

/// One open descriptor of a task, a line of `::pfiles`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenFileRow {
    /// The task's pid (its thread id).
    pub pid: i32,
    pub fd: u32,
    /// `REG`, `DIR`, `CHR`, `BLK`, `FIFO`, `SOCK`, `LNK`, `ANON` or `UNKNOWN`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The flags `/proc/PID/fdinfo` prints (`f_flags`, with `O_CLOEXEC`).
    pub flags: u32,
    /// The same as `O_RDWR|O_APPEND`.
    pub flags_text: String,
    /// `f_pos`.
    pub pos: i64,
    /// The `struct file`.
    #[serde(with = "hex")]
    pub file: u64,
    /// The path as `/proc/PID/fd/N` shows it (`?...` when the walk broke off).
    pub path: String,
    /// Why the path may not be the kernel's, if it may not be.
    pub note: Option<String>,
    #[serde(with = "hex")]
    pub dentry: u64,
    #[serde(with = "hex")]
    pub inode: u64,
    pub ino: u64,
    /// `i_rdev` as `major:minor` for a device, null otherwise.
    pub rdev: Option<String>,
}

impl OpenFileRow {
    /// The row of `f`, open in task `pid`, whose path is `path`.
    pub fn new(pid: i32, f: &OpenFile, path: DPath) -> OpenFileRow {
        let t = f.file.file_type();
        let device = matches!(
            t,
            qmdb_linux::fs::files::FileType::Chr | qmdb_linux::fs::files::FileType::Blk
        );
        OpenFileRow {
            pid,
            fd: f.fd,
            kind: t.name().to_string(),
            flags: f.flags,
            flags_text: open_flags(f.flags),
            pos: f.file.pos,
            file: f.file.addr.0,
            path: path.path,
            note: path.note,
            dentry: f.file.path.dentry.0,
            inode: f.file.inode.0,
            ino: f.file.ino,
            rdev: device.then(|| format!("{}:{}", f.file.rdev >> 20, f.file.rdev & 0xfffff)),
        }
    }

    /// The table header of `::pfiles`.
    pub fn header() -> String {
        format!(
            "{:>4} {:<7} {:<30} {:>10} {:>16} PATH",
            "FD", "TYPE", "FLAGS", "POS", "FILE"
        )
    }
}

impl Record for OpenFileRow {
    fn render(&self, lines: &mut Vec<String>) {
        lines.push(format!(
            "{:>4} {:<7} {:<30} {:>10} {:>16x} {}",
            self.fd, self.kind, self.flags_text, self.pos, self.file, self.path
        ));
        if let Some(n) = &self.note {
            lines.push(format!("     note: {n}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qmdb_bridge::VirtAddr;
    use qmdb_linux::fs::files::FileInfo;
    use qmdb_linux::fs::path::PathRef;
    use serde_json::json;

    fn row(note: Option<&str>) -> OpenFileRow {
        let f = OpenFile {
            fd: 3,
            flags: 0o2100002,
            file: FileInfo {
                addr: VirtAddr(0xffff_8880_0000_1000),
                f_flags: 0o100002,
                f_mode: 0,
                pos: 42,
                path: PathRef {
                    mnt: VirtAddr(0x20),
                    dentry: VirtAddr(0x30),
                },
                inode: VirtAddr(0x40),
                i_mode: 0o20620,
                ino: 7,
                rdev: (4 << 20) | 64,
            },
        };
        let path = DPath {
            path: "/dev/tty0".into(),
            note: note.map(str::to_string),
        };
        OpenFileRow::new(12, &f, path)
    }

    #[test]
    fn a_row_renders_and_serializes() {
        let mut lines = Vec::new();
        row(None).render(&mut lines);
        assert_eq!(
            lines,
            ["   3 CHR     O_RDWR|O_LARGEFILE|O_CLOEXEC           42 ffff888000001000 /dev/tty0"]
        );
        assert_eq!(
            serde_json::to_value(row(None)).unwrap(),
            json!({"pid": 12, "fd": 3, "type": "CHR", "flags": 0o2100002,
                   "flags_text": "O_RDWR|O_LARGEFILE|O_CLOEXEC", "pos": 42,
                   "file": "0xffff888000001000", "path": "/dev/tty0", "note": null,
                   "dentry": "0x30", "inode": "0x40", "ino": 7, "rdev": "4:64"})
        );
        let mut lines = Vec::new();
        row(Some("a cycle")).render(&mut lines);
        assert_eq!(lines[1], "     note: a cycle");
        assert!(OpenFileRow::header().ends_with("FILE PATH"));
    }
}
