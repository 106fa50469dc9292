//! `P<regnum>=<hex>`: write one register of the selected thread.

use super::encoding::to_hex;

/// `P<regnum>=<value as little-endian hex>`.
pub fn write_request(regnum: u32, value: &[u8]) -> Vec<u8> {
    format!("P{regnum:x}={}", to_hex(value)).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_literals() {
        assert_eq!(
            write_request(0x10, &0xffffffff81000000u64.to_le_bytes()),
            b"P10=00000081ffffffff"
        );
        assert_eq!(write_request(0x11, &[0x46, 2, 0, 0]), b"P11=46020000");
    }
}
