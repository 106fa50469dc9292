//! A mount namespace's mounts as `::mounts` shows them.

use crate::record::{hex, Record};
use qmdb_linux::fs::mounts::Mount;
use qmdb_linux::fs::path::DPath;
use serde::Serialize;

/// One mount, a line of `::mounts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MountRow {
    /// The `struct mount`.
    #[serde(with = "hex")]
    pub mount: u64,
    /// Its `struct vfsmount`.
    #[serde(with = "hex")]
    pub vfsmount: u64,
    pub id: i64,
    /// The first three fields of `/proc/mounts`, escaped as it escapes them.
    pub device: String,
    pub mount_point: String,
    #[serde(rename = "type")]
    pub fstype: String,
    /// `rw` or `ro`, then the options the VFS prints itself (see `::help mounts`).
    pub options: Vec<String>,
    /// Why the mount point may not be the kernel's, if it may not be.
    pub note: Option<String>,
    /// The superblock and the mount's root dentry.
    #[serde(with = "hex")]
    pub sb: u64,
    #[serde(with = "hex")]
    pub root: u64,
}

impl MountRow {
    /// The row of `m`, whose mount point is `mount_point`.
    pub fn new(m: &Mount, mount_point: &DPath) -> MountRow {
        MountRow {
            mount: m.addr.0,
            vfsmount: m.vfsmount.0,
            id: m.id,
            device: m.device.clone(),
            mount_point: mount_point.path.clone(),
            fstype: m.fstype.clone(),
            options: m.options.clone(),
            note: mount_point.note.clone(),
            sb: m.sb.0,
            root: m.root.0,
        }
    }

    /// The table header of `::mounts`.
    pub fn header() -> String {
        format!(
            "{:>16} {:<12} {:<16} {:<10} OPTIONS",
            "MOUNT", "DEVICE", "MOUNTPOINT", "TYPE"
        )
    }
}

impl Record for MountRow {
    fn render(&self, lines: &mut Vec<String>) {
        lines.push(format!(
            "{:>16x} {:<12} {:<16} {:<10} {}",
            self.mount,
            self.device,
            self.mount_point,
            self.fstype,
            self.options.join(",")
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
    use serde_json::json;

    #[test]
    fn a_mount_renders_and_serializes() {
        let m = Mount {
            addr: VirtAddr(0xffff_8880_0000_2000),
            vfsmount: VirtAddr(0xffff_8880_0000_2020),
            parent: VirtAddr(0xffff_8880_0000_1000),
            id: 2,
            device: "devtmpfs".into(),
            mount_point: None,
            fstype: "devtmpfs".into(),
            options: vec!["rw".into(), "relatime".into()],
            sb: VirtAddr(0x50),
            root: VirtAddr(0x60),
        };
        let mp = DPath {
            path: "/dev".into(),
            note: None,
        };
        let r = MountRow::new(&m, &mp);
        let mut lines = Vec::new();
        r.render(&mut lines);
        assert_eq!(
            lines,
            ["ffff888000002000 devtmpfs     /dev             devtmpfs   rw,relatime"]
        );
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"mount": "0xffff888000002000", "vfsmount": "0xffff888000002020", "id": 2,
                   "device": "devtmpfs", "mount_point": "/dev", "type": "devtmpfs",
                   "options": ["rw", "relatime"], "note": null, "sb": "0x50", "root": "0x60"})
        );
    }
}
