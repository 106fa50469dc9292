//! VMCOREINFO: the `KEY=value` lines the kernel keeps for crash-dump tools, in an ELF note
//! that `vmcoreinfo_note` points at (set up by an initcall; null earlier in boot).
//!
//! qmdb uses `KERNELOFFSET` (the KASLR slide, exactly), `OSRELEASE` and `BUILD-ID` to
//! cross-check what it derived from the page tables and kallsyms.

use std::collections::BTreeMap;

/// `VMCOREINFO_BYTES`: the note's page.
pub const MAX_NOTE: usize = 4096;

/// The parsed lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VmcoreInfo {
    /// `KEY` to `value`, every line of the note.
    pub entries: BTreeMap<String, String>,
}

/// Why a note is not VMCOREINFO.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VmcoreInfoError {
    /// The note ends before the header field at this offset.
    #[error("the note header is cut at byte {0}")]
    Truncated(usize),
    /// The note is another one.
    #[error("the note is named {0:?}, not VMCOREINFO")]
    WrongName(String),
    /// The description is longer than what was read.
    #[error("the note's text ({len} bytes) runs past its {max}-byte page")]
    TooLong { len: usize, max: usize },
}

impl VmcoreInfo {
    /// Parses the note (`Elf64_Nhdr`, name `VMCOREINFO`, text description).
    pub fn parse_note(note: &[u8]) -> Result<VmcoreInfo, VmcoreInfoError> {
        let u32_at = |off: usize| {
            note.get(off..off + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_le_bytes)
                .ok_or(VmcoreInfoError::Truncated(off))
        };
        let namesz = u32_at(0)? as usize;
        let descsz = u32_at(4)? as usize;
        let name_end = 12usize.saturating_add(namesz);
        let name = note
            .get(12..name_end)
            .ok_or(VmcoreInfoError::Truncated(12))?;
        let name = name.strip_suffix(b"\0").unwrap_or(name);
        if name != b"VMCOREINFO" {
            return Err(VmcoreInfoError::WrongName(
                String::from_utf8_lossy(name).into_owned(),
            ));
        }
        let desc_start = name_end.next_multiple_of(4);
        let desc = note
            .get(desc_start..desc_start.saturating_add(descsz))
            .ok_or(VmcoreInfoError::TooLong {
                len: descsz,
                max: note.len().saturating_sub(desc_start),
            })?;
        Ok(VmcoreInfo::parse_text(desc))
    }

    /// Parses `KEY=value` lines; other lines are ignored, text ends at a NUL.
    pub fn parse_text(text: &[u8]) -> VmcoreInfo {
        let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
        let text = String::from_utf8_lossy(text.get(..end).unwrap_or_default());
        let entries = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        VmcoreInfo { entries }
    }

    /// The value of `key` (`OSRELEASE`, `KERNELOFFSET`...), if the note has it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }

    /// `KERNELOFFSET`: the KASLR slide.
    pub fn kernel_offset(&self) -> Option<u64> {
        u64::from_str_radix(self.get("KERNELOFFSET")?, 16).ok()
    }

    /// `BUILD-ID`, as bytes.
    pub fn build_id(&self) -> Option<Vec<u8>> {
        qmdb_bridge::rsp::encoding::from_hex(self.get("BUILD-ID")?.as_bytes()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(name: &[u8], desc: &[u8]) -> Vec<u8> {
        let mut n = Vec::new();
        n.extend((name.len() as u32).to_le_bytes());
        n.extend((desc.len() as u32).to_le_bytes());
        n.extend(0u32.to_le_bytes());
        n.extend(name);
        while n.len() % 4 != 0 {
            n.push(0);
        }
        n.extend(desc);
        n
    }

    #[test]
    fn parses_the_kernels_lines() {
        let text = b"OSRELEASE=6.1.0-56-cloud-amd64\nBUILD-ID=0a1b\nPAGESIZE=4096\n\
                     SYMBOL(init_uts_ns)=ffffffff90a13700\nKERNELOFFSET=e600000\n";
        let info = VmcoreInfo::parse_note(&note(b"VMCOREINFO\0", text)).unwrap();
        assert_eq!(info.get("OSRELEASE"), Some("6.1.0-56-cloud-amd64"));
        assert_eq!(info.kernel_offset(), Some(0xe600000));
        assert_eq!(info.build_id(), Some(vec![0x0a, 0x1b]));
        assert_eq!(info.get("SYMBOL(init_uts_ns)"), Some("ffffffff90a13700"));
    }

    #[test]
    fn rejects_other_and_cut_notes() {
        assert_eq!(
            VmcoreInfo::parse_note(&note(b"GNU\0", b"x")),
            Err(VmcoreInfoError::WrongName("GNU".into()))
        );
        assert_eq!(
            VmcoreInfo::parse_note(&[1, 0, 0]),
            Err(VmcoreInfoError::Truncated(0))
        );
        let mut n = note(b"VMCOREINFO\0", b"A=1\n");
        n.truncate(n.len() - 2);
        assert!(matches!(
            VmcoreInfo::parse_note(&n),
            Err(VmcoreInfoError::TooLong { len: 4, .. })
        ));
        for cut in 0..n.len() {
            let _ = VmcoreInfo::parse_note(&n[..cut]);
        }
    }
}
