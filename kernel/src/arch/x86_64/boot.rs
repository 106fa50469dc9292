//! The x86 boot protocol's bzImage (Documentation/arch/x86/boot.rst): the real-mode setup
//! sectors, then the protected-mode kernel whose setup header says where the compressed
//! payload (the kernel ELF, compressed) is.

use crate::ImageError;

/// Offsets in the bzImage setup header (Documentation/arch/x86/boot.rst).
const SETUP_SECTS: usize = 0x1f1;
const HDRS_MAGIC: usize = 0x202;
const PAYLOAD_OFFSET: usize = 0x248;
const PAYLOAD_LENGTH: usize = 0x24c;

/// The compressed payload of a bzImage: [`ImageError::NotKernel`] without the `HdrS`
/// magic, [`ImageError::Truncated`] naming the header field whose value points past the end.
pub fn bzimage_payload(data: &[u8]) -> Result<&[u8], ImageError> {
    let u32_at =
        |off: usize| crate::le::u32_at(data, off).ok_or(ImageError::Truncated { offset: off });
    if data.get(HDRS_MAGIC..HDRS_MAGIC + 4) != Some(b"HdrS") {
        return Err(ImageError::NotKernel);
    }
    let setup_sects = match data.get(SETUP_SECTS).copied() {
        Some(0) => 4,
        Some(n) => usize::from(n),
        None => {
            return Err(ImageError::Truncated {
                offset: SETUP_SECTS,
            })
        }
    };
    let pm_start = (setup_sects + 1) * 512;
    let off = u32_at(PAYLOAD_OFFSET)? as usize;
    let len = u32_at(PAYLOAD_LENGTH)? as usize;
    let start = pm_start.checked_add(off).ok_or(ImageError::Truncated {
        offset: PAYLOAD_OFFSET,
    })?;
    data.get(start..start.saturating_add(len))
        .ok_or(ImageError::Truncated { offset: start })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KernelImage;

    #[test]
    fn truncated_bzimage_header() {
        let mut data = vec![0u8; 0x250];
        data[HDRS_MAGIC..HDRS_MAGIC + 4].copy_from_slice(b"HdrS");
        data[PAYLOAD_OFFSET..PAYLOAD_OFFSET + 4].copy_from_slice(&0x1000u32.to_le_bytes());
        data[PAYLOAD_LENGTH..PAYLOAD_LENGTH + 4].copy_from_slice(&0x1000u32.to_le_bytes());
        assert!(matches!(
            KernelImage::from_bytes(data),
            Err(ImageError::Truncated { .. })
        ));
    }
}
