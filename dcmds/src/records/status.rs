//! `::status`: the connection, the VM's state, and what detaching does.

use crate::record::{hex, Record};
use serde::Serialize;

/// What qmdb is attached to and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// The stub's address.
    pub target: String,
    /// The run state in words (`stopped (SIGTRAP) on vCPU 0`).
    pub state: String,
    pub was_running_at_attach: bool,
    /// `resume` or `leave stopped`.
    pub detach: &'static str,
    /// How many vCPUs the guest has.
    pub vcpus: usize,
    /// The selected vCPU's index.
    pub selected: u32,
    pub packet_size: usize,
    /// QEMU's version, when the monitor told it.
    pub qemu_version: Option<String>,
    /// Whether qmdb may write to the guest (the stub allows it and `-w` was given).
    pub writable: bool,
    /// The kernel's release, when known.
    pub kernel_release: Option<String>,
    /// The KASLR slide, with a kernel.
    #[serde(with = "hex::option")]
    pub kaslr_slide: Option<u64>,
    /// What was noticed about the kernel while finding it.
    pub kernel_notes: Vec<String>,
    /// Why there is no kernel, without one.
    pub kernel_missing: Option<String>,
    /// The `kernel:` row: the release, or why it is unknown.
    #[serde(skip)]
    pub kernel_text: String,
    /// How many symbols the kernel has.
    #[serde(skip)]
    pub symbols: usize,
    /// How many BTF types the kernel has, when it has BTF.
    #[serde(skip)]
    pub btf_types: Option<usize>,
}

impl Record for Status {
    fn render(&self, lines: &mut Vec<String>) {
        let mut rows: Vec<(&str, String)> = vec![
            ("target", self.target.clone()),
            (
                "qemu",
                self.qemu_version
                    .clone()
                    .unwrap_or_else(|| "unknown".to_string()),
            ),
            ("state", self.state.clone()),
            (
                "attach",
                if self.was_running_at_attach {
                    "the VM was running when qmdb attached: detaching resumes it"
                } else {
                    "the VM was stopped when qmdb attached: detaching leaves it stopped"
                }
                .to_string(),
            ),
            (
                "vcpus",
                format!("{}, vCPU {} selected", self.vcpus, self.selected),
            ),
            ("packet size", format!("{} bytes", self.packet_size)),
            (
                "access",
                if self.writable {
                    "writable (-w)"
                } else {
                    "read-only"
                }
                .to_string(),
            ),
            ("kernel", self.kernel_text.clone()),
        ];
        if let Some(slide) = self.kaslr_slide {
            rows.push(("kaslr slide", format!("{slide:#x}")));
            rows.push(("symbols", self.symbols.to_string()));
            rows.push((
                "types",
                match self.btf_types {
                    Some(n) => format!("{n} (BTF)"),
                    None => "none".to_string(),
                },
            ));
            for note in &self.kernel_notes {
                rows.push(("note", note.clone()));
            }
        }
        for (k, v) in rows {
            lines.push(format!("{:<13}{v}", format!("{k}:")));
        }
    }
}
