//! `Z`/`z`: plant and remove breakpoints and watchpoints (`Z<type>,<addr>,<kind or length>`).

use crate::target::BreakKind;
use crate::VirtAddr;

/// `Z<type>,<addr>,<len>`: plant.
pub fn insert_request(kind: BreakKind, addr: VirtAddr, len: u64) -> Vec<u8> {
    format!("Z{},{:x},{len:x}", kind.z_type(), addr.0).into_bytes()
}

/// `z<type>,<addr>,<len>`: remove (the same arguments as when planted).
pub fn remove_request(kind: BreakKind, addr: VirtAddr, len: u64) -> Vec<u8> {
    format!("z{},{:x},{len:x}", kind.z_type(), addr.0).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_literals() {
        let a = VirtAddr(0xffffffff81234560);
        assert_eq!(
            insert_request(BreakKind::Software, a, 1),
            b"Z0,ffffffff81234560,1"
        );
        assert_eq!(
            remove_request(BreakKind::Hardware, a, 1),
            b"z1,ffffffff81234560,1"
        );
        assert_eq!(
            insert_request(BreakKind::Write, a, 8),
            b"Z2,ffffffff81234560,8"
        );
        assert_eq!(
            insert_request(BreakKind::Read, a, 4),
            b"Z3,ffffffff81234560,4"
        );
        assert_eq!(
            remove_request(BreakKind::Access, a, 0x10),
            b"z4,ffffffff81234560,10"
        );
    }
}
