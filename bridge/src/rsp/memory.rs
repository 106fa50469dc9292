//! `m addr,length` memory reads and `M addr,length:hex` writes.

use super::encoding::{from_hex, to_hex, EncodingError};
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

/// `M<addr>,<len>:<hex>`.
pub fn write_request(addr: VirtAddr, data: &[u8]) -> Vec<u8> {
    format!("M{:x},{:x}:{}", addr.0, data.len(), to_hex(data)).into_bytes()
}

/// The most bytes one `M` request carries within a packet of `packet_size` bytes: the hex
/// data after `M<16 digits>,<8 digits>:` and the framing.
pub fn max_write(packet_size: usize) -> usize {
    (packet_size.saturating_sub(32) / 2).max(1)
}

/// Decodes a successful `m` reply.
pub fn parse_data(body: &[u8]) -> Result<Vec<u8>, EncodingError> {
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
        assert_eq!(
            write_request(VirtAddr(0xffff888000001000), &[0xde, 0xad]),
            b"Mffff888000001000,2:dead"
        );
        assert_eq!(max_write(0x1000), 2032);
    }
}
