//! Register layouts from the stub's `target.xml`, and register values.

/// One register as described by `target.xml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegDesc {
    pub name: String,
    /// Width in bits (64 for rax, 80 for st0, 128 for xmm0).
    pub bits: u32,
    /// The number used in `p`/`P` packets.
    pub regnum: u32,
    /// The `type` attribute (`int64`, `code_ptr`, `i387_ext`, `vec128`...).
    pub ty: String,
    /// The `group` attribute, if given (`general`, `float`, `vector`...).
    pub group: Option<String>,
}

/// All registers of the target, in `regnum` order, with their offsets in a `g` reply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegLayout {
    pub regs: Vec<RegDesc>,
}

impl RegLayout {
    /// The register named `name` (case-insensitive).
    pub fn find(&self, name: &str) -> Option<&RegDesc> {
        self.regs.iter().find(|r| r.name.eq_ignore_ascii_case(name))
    }
}

/// Register values of one vCPU: `(description, little-endian bytes)` in layout order.
/// A register the stub could not supply is absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegValues {
    pub values: Vec<(RegDesc, Vec<u8>)>,
}

impl RegValues {
    /// The register's value as an integer, if it exists and is at most 64 bits wide.
    pub fn get_u64(&self, name: &str) -> Option<u64> {
        let (desc, bytes) = self
            .values
            .iter()
            .find(|(d, _)| d.name.eq_ignore_ascii_case(name))?;
        if desc.bits > 64 || bytes.len() > 8 {
            return None;
        }
        let mut buf = [0u8; 8];
        buf.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(u64::from_le_bytes(buf))
    }

    /// The raw bytes of a register.
    pub fn get_bytes(&self, name: &str) -> Option<&[u8]> {
        self.values
            .iter()
            .find(|(d, _)| d.name.eq_ignore_ascii_case(name))
            .map(|(_, b)| b.as_slice())
    }
}
