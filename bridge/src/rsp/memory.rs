//! `m addr,length` memory reads.

use super::encoding::from_hex;
use crate::VirtAddr;

/// Bytes of RSP framing around a reply body (`$`, `#`, two checksum digits).
pub const FRAMING: usize = 4;

/// `m<addr>,<len>`.
pub fn read_request(addr: VirtAddr, len: usize) -> Vec<u8> {
    format!("m{:x},{:x}", addr.0, len).into_bytes()
}

/// The largest read whose hex reply fits a packet of `packet_size` bytes.
///
/// QEMU's limit is on the hex body alone (PacketSize 0x1000 allows 2048-byte reads), so the
/// framing is not subtracted here.
pub fn max_read(packet_size: usize) -> usize {
    (packet_size / 2).max(1)
}

/// Decodes a successful `m` reply.
pub fn parse_data(body: &[u8]) -> Result<Vec<u8>, String> {
    from_hex(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_literals() {
        assert_eq!(
            read_request(VirtAddr(0xffffffff81000000), 2048),
            b"mffffffff81000000,800"
        );
        assert_eq!(parse_data(b"0102ff").unwrap(), vec![1, 2, 0xff]);
        assert_eq!(max_read(0x1000), 2048);
    }
}
