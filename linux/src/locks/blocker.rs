//! `task_struct.blocker` (7.x, `CONFIG_DETECT_HUNG_TASK_BLOCKER`): the lock a task is
//! blocked on, with its kind in the low two bits (`include/linux/hung_task.h`).

use super::{BlockedOn, FoundBy, LockKind};
use qmdb_bridge::VirtAddr;

/// `BLOCKER_TYPE_MASK`.
const TYPE_MASK: u64 = 0x3;

/// Decodes a `blocker` value; `None` for 0 (not blocked on a recorded lock).
pub fn decode(blocker: u64) -> Option<BlockedOn> {
    let lock = blocker & !TYPE_MASK;
    if lock == 0 {
        return None;
    }
    let kind = match blocker & TYPE_MASK {
        0 => LockKind::Mutex,
        1 => LockKind::Semaphore,
        2 => LockKind::RwsemRead,
        _ => LockKind::RwsemWrite,
    };
    Some(BlockedOn {
        kind,
        lock: VirtAddr(lock),
        found_by: FoundBy::Blocker,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_the_low_bits() {
        assert_eq!(decode(0), None);
        assert_eq!(decode(3), None);
        let m = decode(0xffff_8880_0123_4500).unwrap();
        assert_eq!((m.kind, m.lock.0), (LockKind::Mutex, 0xffff_8880_0123_4500));
        assert_eq!(
            decode(0xffff_8880_0123_4501).unwrap().kind,
            LockKind::Semaphore
        );
        assert_eq!(
            decode(0xffff_8880_0123_4502).unwrap().kind,
            LockKind::RwsemRead
        );
        let w = decode(0xffff_8880_0123_4503).unwrap();
        assert_eq!(
            (w.kind, w.lock.0),
            (LockKind::RwsemWrite, 0xffff_8880_0123_4500)
        );
    }
}
