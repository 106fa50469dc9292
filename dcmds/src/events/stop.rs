//! Where the guest stopped — vCPU, CPU, the task running there, pc — and the report printed
//! for every stop, as kmdb prints one.
//!
//! Text (two lines; the task part only with a kernel):
//! ```text
//! stopped: breakpoint 1 (hrtimer_nanosleep), hit 1, vCPU 1 (CPU 1), pid 90 (sleep), task ffff8dc3c2a43000
//! hrtimer_nanosleep:               endbr64
//! ```
//! `--json`: one record `{"stop", "event", "events", "hits", "watch", "signal", "vcpu",
//! "cpu", "pid", "comm", "task", "pc", "sp", "mode", "symbol", "offset", "instruction"}`, or
//! only `{"stop"}` once the target has exited (see [`StopReport`]).

use super::event::{EventKind, WatchMode};
use super::table::StepKind;
use crate::error::DcmdError;
use crate::records::{Instruction, StopPlace, StopReport};
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::{VcpuId, VirtAddr};
use qmdb_linux::{self, LinuxLayout, PerCpu, Task};
use std::time::Duration;

/// The state of the vCPU that stopped.
#[derive(Debug, Clone)]
pub struct Here {
    pub vcpu: VcpuId,
    pub pc: u64,
    pub sp: u64,
    pub user_mode: bool,
    /// The kernel's CPU number (with a kernel).
    pub cpu: Option<u32>,
    /// The task current on that CPU (with a kernel).
    pub task: Option<Task>,
}

/// Selects `vcpu` and reads where it is. The CPU and task need `layout` (a kernel with
/// BTF); failing to find them is not an error (they stay `None`), a lost connection is.
pub fn here(
    session: &mut Session,
    vcpu: VcpuId,
    layout: Option<&LinuxLayout>,
) -> Result<Here, DcmdError> {
    if session.target().selected_vcpu() != vcpu {
        session.target_mut().select_vcpu(vcpu)?;
    }
    let regs = session.target_mut().read_registers()?;
    let pc = regs.get_u64("rip").unwrap_or(0);
    let sp = regs.get_u64("rsp").unwrap_or(0);
    let user_mode = regs.get_u64("cs").unwrap_or(0) & 3 != 0;
    let mut h = Here {
        vcpu,
        pc,
        sp,
        user_mode,
        cpu: None,
        task: None,
    };
    let Some(layout) = layout else {
        return Ok(h);
    };
    let found = (|| -> Result<(Option<u32>, Option<Task>), DcmdError> {
        let percpu = PerCpu::read(session)?;
        let cpu = percpu.cpu_of_vcpu(
            user_mode,
            regs.get_u64("gs_base"),
            regs.get_u64("k_gs_base"),
        );
        let Some(cpu) = cpu else {
            return Ok((None, None));
        };
        let (curr, _) = qmdb_linux::tasks::current_and_idle(session, layout, &percpu, cpu)?;
        let task = qmdb_linux::tasks::read_task(session, layout, curr)?;
        Ok((Some(cpu), Some(task)))
    })();
    match found {
        Ok((cpu, task)) => {
            h.cpu = cpu;
            h.task = task;
        }
        Err(e) if e.ends_command() => return Err(e),
        Err(_) => {}
    }
    Ok(h)
}

/// Why the guest stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum StopWhy {
    /// Events `ids` (the first is reported) of this kind matched; `watch` is the address
    /// the stub reported for a watchpoint.
    Event {
        ids: Vec<u32>,
        kind: EventKind,
        what: String,
        hits: u64,
        watch: Option<u64>,
    },
    /// A `::step` ended where it should.
    Step(StepKind),
    /// Ctrl-C or the TUI's interrupt: qmdb halted the guest.
    Interrupted,
    /// `-T`: qmdb halted the guest after this long.
    Timeout(Duration),
    /// `::stop`.
    Halted,
    /// A stop no event explains (another debugger, a guest `int3`), with its signal.
    Signal(u8),
    /// The target exited or was terminated (QEMU quit).
    Exited(u8),
    Terminated(u8),
}

impl StopWhy {
    /// The `"stop"` word of the JSON record.
    pub fn word(&self) -> &'static str {
        match self {
            StopWhy::Event { kind, .. } => kind.word(),
            StopWhy::Step(StepKind::Into) => "step",
            StopWhy::Step(StepKind::Over) => "step-over",
            StopWhy::Step(StepKind::Out) => "step-out",
            StopWhy::Interrupted => "interrupt",
            StopWhy::Timeout(_) => "timeout",
            StopWhy::Halted => "halt",
            StopWhy::Signal(_) => "signal",
            StopWhy::Exited(_) => "exited",
            StopWhy::Terminated(_) => "terminated",
        }
    }

    fn text(&self) -> String {
        match self {
            StopWhy::Event {
                ids,
                kind,
                what,
                hits,
                watch,
            } => {
                let (first, more) = match ids.split_first() {
                    Some((first, more)) => (first.to_string(), more),
                    None => ("?".to_string(), &[][..]),
                };
                let mut s = format!("{} {first} ({what}), hit {hits}", kind.word());
                if !more.is_empty() {
                    let more: Vec<String> = more.iter().map(u32::to_string).collect();
                    s.push_str(&format!(" (also event {})", more.join(", ")));
                }
                if let Some(w) = watch {
                    let what = match kind {
                        EventKind::Watchpoint {
                            mode: WatchMode::Write,
                            ..
                        } => "write",
                        EventKind::Watchpoint {
                            mode: WatchMode::Read,
                            ..
                        } => "read",
                        _ => "access",
                    };
                    s.push_str(&format!(", {what} at {w:x}"));
                }
                s
            }
            StopWhy::Step(StepKind::Into) => "step".into(),
            StopWhy::Step(StepKind::Over) => "step over".into(),
            StopWhy::Step(StepKind::Out) => "step out".into(),
            StopWhy::Interrupted => "interrupted".into(),
            StopWhy::Timeout(d) => format!("timeout: halted after {:.1} s", d.as_secs_f64()),
            StopWhy::Halted => "halted (::stop)".into(),
            StopWhy::Signal(s) => format!("signal {s}, no qmdb event"),
            StopWhy::Exited(c) => format!("target exited with status {c}"),
            StopWhy::Terminated(s) => format!("target terminated by signal {s}"),
        }
    }
}

/// Prints the report of a stop: the why line, then pc disassembled.
pub fn report(session: &mut Session, sink: &mut Sink<'_>, why: &StopWhy, here: Option<&Here>) {
    let at = here.map(|h| place(session, why, h));
    sink.record(StopReport {
        stop: why.word(),
        at,
        why: why.text(),
    });
}

/// Where `h` stopped, for `why`: the task, the pc symbolized and its instruction.
fn place(session: &mut Session, why: &StopWhy, h: &Here) -> StopPlace {
    let insn = match crate::dis::disassemble(session, VirtAddr(h.pc), 1, |_, _| true) {
        Ok(lines) => lines.into_iter().next(),
        Err(_) => None,
    };
    let hit = (!h.user_mode)
        .then(|| session.symbols().lookup_addr(VirtAddr(h.pc)))
        .flatten();
    let (event, events, hits, watch) = match why {
        StopWhy::Event {
            ids, hits, watch, ..
        } => (ids.first().copied(), Some(ids.clone()), Some(*hits), *watch),
        _ => (None, None, None, None),
    };
    let signal = match why {
        StopWhy::Signal(s) => Some(*s),
        _ => None,
    };
    StopPlace {
        event,
        events,
        hits,
        watch,
        signal,
        vcpu: h.vcpu.cpu_index(),
        cpu: h.cpu,
        pid: h.task.as_ref().map(|t| t.pid),
        comm: h.task.as_ref().map(|t| t.comm.clone()),
        task: h.task.as_ref().map(|t| t.addr.0 .0),
        pc: h.pc,
        sp: h.sp,
        mode: if h.user_mode { "user" } else { "kernel" },
        symbol: hit.as_ref().map(|s| s.name.clone()),
        offset: hit.as_ref().map(|s| s.offset),
        instruction: insn.as_ref().map(|l| l.text.clone()),
        insn: insn.as_ref().map(|l| Instruction::new(session, l, false)),
        pc_label: session.symbolize(VirtAddr(h.pc)),
    }
}
