//! A task's state as the one letter `ps` and `/proc/PID/stat` show.

/// `TASK_REPORT`: the state bits `/proc` reports.
const TASK_REPORT: u32 = 0x7f;
const TASK_UNINTERRUPTIBLE: u32 = 0x2;
const TASK_NOLOAD: u32 = 0x400;
/// `TASK_IDLE`: uninterruptible, but not counted in the load average.
const TASK_IDLE: u32 = TASK_UNINTERRUPTIBLE | TASK_NOLOAD;
const TASK_RTLOCK_WAIT: u32 = 0x1000;

/// The letters by index of the highest reported bit, as the kernel's `task_state_array`.
const LETTERS: &[u8; 9] = b"RSDTtXZPI";

/// The letter of a task whose `__state` is `state` and `exit_state` is `exit_state`,
/// computed as the kernel's `task_state_index()` does.
pub fn state_letter(state: u32, exit_state: u32) -> char {
    let reported = (state | exit_state) & TASK_REPORT;
    let index = if state == TASK_IDLE {
        LETTERS.len() - 1
    } else if state == TASK_RTLOCK_WAIT {
        2
    } else {
        (u32::BITS - reported.leading_zeros()) as usize
    };
    LETTERS.get(index).map_or('?', |&b| char::from(b))
}

/// A longer name for `::stacks -t` and `::task`.
pub fn state_name(letter: char) -> &'static str {
    match letter {
        'R' => "running",
        'S' => "sleeping",
        'D' => "disk sleep",
        'T' => "stopped",
        't' => "tracing stop",
        'X' => "dead",
        'Z' => "zombie",
        'P' => "parked",
        'I' => "idle",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_match_the_kernel() {
        assert_eq!(state_letter(0, 0), 'R');
        assert_eq!(state_letter(0x1, 0), 'S');
        assert_eq!(state_letter(0x2, 0), 'D');
        assert_eq!(state_letter(0x402, 0), 'I');
        assert_eq!(state_letter(0x4, 0), 'T');
        assert_eq!(state_letter(0x8, 0), 't');
        assert_eq!(state_letter(0x80, 0x20), 'Z');
        assert_eq!(state_letter(0x80, 0x10), 'X');
        assert_eq!(state_letter(0x40, 0), 'P');
        assert_eq!(state_letter(0x1000, 0), 'D');
        // TASK_INTERRUPTIBLE|TASK_FREEZABLE (6.1): still S.
        assert_eq!(state_letter(0x2001, 0), 'S');
    }
}
