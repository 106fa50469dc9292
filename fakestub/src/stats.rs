//! Counters shared between the server thread and the test.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A snapshot of what the fake has seen since it started (or since the last
/// [`FakeStub::reset_stats`](crate::FakeStub::reset_stats)).
///
/// Counters marked *wire* are taken from the raw byte stream as packets arrive, before
/// gdbstub handles them, so they are exact whatever gdbstub does internally; by the time the
/// client has the reply to a packet, that packet is counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// TCP connections accepted.
    pub sessions: u64,
    /// *wire*: `$...#xx` packets received (all commands; acks and `\x03` excluded).
    pub packets: u64,
    /// *wire*: `\x03` interrupt bytes received outside packets.
    pub interrupts: u64,
    /// *wire*: `m` packets received. Each request counts once, whatever its outcome.
    pub mem_reads: u64,
    /// `m` requests answered with data (not an error). `m addr,0` is not counted.
    pub mem_reads_ok: u64,
    /// `m` requests answered `E14` (some byte of the range unmapped).
    pub mem_reads_e14: u64,
    /// `m` requests answered `E22` (longer than half the packet size).
    pub mem_reads_e22: u64,
    /// Bytes returned by successful `m` requests.
    pub mem_read_bytes: u64,
    /// *wire*: `M` and `X` packets received (memory writes, successful or not).
    pub mem_writes: u64,
    /// *wire*: `G` and `P` packets received (register writes).
    pub reg_writes: u64,
    /// *wire*: `Qqemu.PhyMemMode:` packets received (switches to or from physical mode,
    /// accepted or not).
    pub phys_mode_sets: u64,
    /// *wire*: `Qqemu.sstep=` packets received (changes of the single-step flags, accepted
    /// or not).
    pub sstep_sets: u64,
    /// *wire*: `z` packets received (breakpoint and watchpoint removals, successful or not).
    pub breakpoint_removals: u64,
    /// *wire*: `k` and `vKill` packets received. QEMU would exit on these.
    pub kills: u64,
    /// *wire*: `D` packets received (detach; QEMU resumes the VM).
    pub detaches: u64,
    /// Resumes (`c`, `s`, `vCont;c`/`s`, ...) acted on.
    pub resumes: u64,
    /// `qRcmd` monitor commands handled.
    pub monitor_cmds: u64,
    /// Single steps acted on (each also counts in `resumes`).
    pub steps: u64,
    /// Stops reported because a continue reached a planted breakpoint.
    pub breakpoint_hits: u64,
    /// Sessions that ended on an error (I/O, or a packet gdbstub could not parse).
    pub session_errors: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub sessions: AtomicU64,
    pub packets: AtomicU64,
    pub interrupts: AtomicU64,
    pub mem_reads: AtomicU64,
    pub mem_reads_ok: AtomicU64,
    pub mem_reads_e14: AtomicU64,
    pub mem_reads_e22: AtomicU64,
    pub mem_read_bytes: AtomicU64,
    pub mem_writes: AtomicU64,
    pub reg_writes: AtomicU64,
    pub phys_mode_sets: AtomicU64,
    pub sstep_sets: AtomicU64,
    pub breakpoint_removals: AtomicU64,
    pub kills: AtomicU64,
    pub detaches: AtomicU64,
    pub resumes: AtomicU64,
    pub monitor_cmds: AtomicU64,
    pub steps: AtomicU64,
    pub breakpoint_hits: AtomicU64,
    pub session_errors: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            sessions: self.sessions.load(Relaxed),
            packets: self.packets.load(Relaxed),
            interrupts: self.interrupts.load(Relaxed),
            mem_reads: self.mem_reads.load(Relaxed),
            mem_reads_ok: self.mem_reads_ok.load(Relaxed),
            mem_reads_e14: self.mem_reads_e14.load(Relaxed),
            mem_reads_e22: self.mem_reads_e22.load(Relaxed),
            mem_read_bytes: self.mem_read_bytes.load(Relaxed),
            mem_writes: self.mem_writes.load(Relaxed),
            reg_writes: self.reg_writes.load(Relaxed),
            phys_mode_sets: self.phys_mode_sets.load(Relaxed),
            sstep_sets: self.sstep_sets.load(Relaxed),
            breakpoint_removals: self.breakpoint_removals.load(Relaxed),
            kills: self.kills.load(Relaxed),
            detaches: self.detaches.load(Relaxed),
            resumes: self.resumes.load(Relaxed),
            monitor_cmds: self.monitor_cmds.load(Relaxed),
            steps: self.steps.load(Relaxed),
            breakpoint_hits: self.breakpoint_hits.load(Relaxed),
            session_errors: self.session_errors.load(Relaxed),
        }
    }

    pub(crate) fn reset(&self) {
        for c in [
            &self.sessions,
            &self.packets,
            &self.interrupts,
            &self.mem_reads,
            &self.mem_reads_ok,
            &self.mem_reads_e14,
            &self.mem_reads_e22,
            &self.mem_read_bytes,
            &self.mem_writes,
            &self.reg_writes,
            &self.phys_mode_sets,
            &self.sstep_sets,
            &self.breakpoint_removals,
            &self.kills,
            &self.detaches,
            &self.resumes,
            &self.monitor_cmds,
            &self.steps,
            &self.breakpoint_hits,
            &self.session_errors,
        ] {
            c.store(0, Relaxed);
        }
    }

    /// Count one complete incoming packet (its body, between `$` and `#`).
    pub(crate) fn classify(&self, body: &[u8]) {
        self.packets.fetch_add(1, Relaxed);
        let c = match body.first() {
            Some(b'm') => &self.mem_reads,
            Some(b'M' | b'X') => &self.mem_writes,
            Some(b'G' | b'P') => &self.reg_writes,
            Some(b'D') => &self.detaches,
            Some(b'z') => &self.breakpoint_removals,
            Some(b'k') if body.len() == 1 => &self.kills,
            _ if body.starts_with(b"vKill") => &self.kills,
            _ if body.starts_with(b"Qqemu.PhyMemMode:") => &self.phys_mode_sets,
            _ if body.starts_with(b"Qqemu.sstep=") => &self.sstep_sets,
            _ => return,
        };
        c.fetch_add(1, Relaxed);
    }
}
