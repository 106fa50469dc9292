//! Kernel stacks: one frame type for `::findstack`, `$c`/`$C` and `::stacks`.

use crate::record::{hex, Record};
use qmdb_linux::backtrace::{StackOrigin, TaskBacktrace};
use qmdb_linux::modules::frame_symbol;
use qmdb_linux::{Program, Task};
use qmdb_unwind::{EndReason, Frame as UnwoundFrame, FrameKind, PtRegs, Reg};
use serde::Serialize;

/// How a frame was found, for `::findstack -v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameHow {
    Start,
    Call,
    Regs { pt_regs: u64, user: bool },
    Scanned { slot: u64 },
}

/// One frame of a kernel stack, its pc resolved to a symbol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Frame {
    /// The stack pointer in this frame.
    #[serde(with = "hex")]
    pub sp: u64,
    #[serde(with = "hex")]
    pub pc: u64,
    /// The function, without offset or module.
    pub symbol: Option<String>,
    /// `pc - symbol`.
    pub offset: Option<u64>,
    /// The loadable module the function is in.
    pub module: Option<String>,
    /// False for a frame found by scanning the stack (printed with `?`).
    pub reliable: bool,
    /// For a frame of registers saved at entry: their `pt_regs`.
    #[serde(with = "hex::option", skip_serializing_if = "Option::is_none")]
    pub pt_regs: Option<u64>,
    /// For a frame of registers saved at entry: whether they are user mode's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<bool>,
    #[serde(skip)]
    pub how: FrameHow,
}

impl Frame {
    /// `f`, its pc resolved in `program`'s symbols.
    pub fn new(program: &Program, f: &UnwoundFrame) -> Frame {
        // A return address is named as the kernel's `%pB` names it (`/proc/PID/stack`,
        // Call Traces): by the byte before it, plus one. The call to a noreturn function
        // (`panic` calling `vpanic`) can be the last instruction of its caller, and its
        // return address then the first byte of the next function.
        let hit = match f.kind {
            FrameKind::Call | FrameKind::Scanned { .. } => {
                frame_symbol(program, f.pc.wrapping_sub(1)).map(|mut h| {
                    h.offset += 1;
                    h
                })
            }
            FrameKind::Initial | FrameKind::Regs { .. } => frame_symbol(program, f.pc),
        };
        let (pt_regs, user, how) = match f.kind {
            FrameKind::Initial => (None, None, FrameHow::Start),
            FrameKind::Call => (None, None, FrameHow::Call),
            FrameKind::Regs { pt_regs, user } => {
                (Some(pt_regs), Some(user), FrameHow::Regs { pt_regs, user })
            }
            FrameKind::Scanned { slot } => (None, None, FrameHow::Scanned { slot }),
        };
        Frame {
            sp: f.sp,
            pc: f.pc,
            symbol: hit.as_ref().map(|h| h.name.clone()),
            offset: hit.as_ref().map(|h| h.offset),
            module: hit.and_then(|h| h.module),
            reliable: f.reliable,
            pt_regs,
            user,
            how,
        }
    }

    /// `func+0x1a`, ``module`func+0x1a`` in a module, or the bare address.
    pub fn name(&self) -> String {
        let Some(sym) = &self.symbol else {
            return format!("{:x}", self.pc);
        };
        let module = self
            .module
            .as_ref()
            .map_or_else(String::new, |m| format!("{m}`"));
        match self.offset {
            Some(0) | None => format!("{module}{sym}"),
            Some(off) => format!("{module}{sym}+{off:#x}"),
        }
    }

    /// `? ` for a frame found by scanning, as Linux marks unreliable frames.
    fn mark(&self) -> &'static str {
        if self.reliable {
            ""
        } else {
            "? "
        }
    }
}

/// The frames of a backtrace that are in the kernel (not the user-mode registers at its end).
pub fn kernel_frames(bt: &TaskBacktrace) -> impl Iterator<Item = &UnwoundFrame> + '_ {
    bt.backtrace
        .iter()
        .flat_map(|b| b.frames.iter())
        .filter(|f| !matches!(f.kind, FrameKind::Regs { user: true, .. }))
}

/// The registers saved in one `pt_regs`, for `::findstack -v`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedRegs {
    pub at: u64,
    pub regs: PtRegs,
}

/// One task's kernel stack (`::findstack`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskStack {
    #[serde(with = "hex")]
    pub thread: u64,
    pub pid: i32,
    pub comm: String,
    pub state: String,
    /// The CPU it runs on, when on a vCPU.
    pub cpu: Option<u32>,
    /// The vCPU it runs on.
    pub vcpu: Option<u32>,
    /// The stack pointer the walk started from.
    #[serde(with = "hex")]
    pub sp: u64,
    pub frames: Vec<Frame>,
    #[serde(with = "hex::option")]
    pub user_pc: Option<u64>,
    #[serde(with = "hex::option")]
    pub user_sp: Option<u64>,
    /// Why the walk ended early, or why there is no walk.
    pub end: Option<String>,
    /// Why there is no walk (a note on the task, printed under the header).
    #[serde(skip)]
    pub note: Option<String>,
    /// Why the walk ended early (printed last).
    #[serde(skip)]
    pub end_note: Option<String>,
    /// Whether a walk was made at all.
    #[serde(skip)]
    pub walked: bool,
    /// Whether the walk ended in user mode.
    #[serde(skip)]
    pub ended_in_user: bool,
    /// `-v`: each frame's pc and how it was found, and the saved registers.
    #[serde(skip)]
    pub verbose: bool,
    #[serde(skip)]
    pub saved: Vec<SavedRegs>,
    /// The `pt_regs` of the user-mode registers the walk ended at.
    #[serde(skip)]
    pub user_regs_at: Option<u64>,
}

impl TaskStack {
    /// The stack of `t` from its backtrace `bt`; `saved` are the `pt_regs` read for `-v`.
    pub fn new(
        program: &Program,
        t: &Task,
        bt: &TaskBacktrace,
        verbose: bool,
        saved: Vec<SavedRegs>,
    ) -> TaskStack {
        let (vcpu, cpu) = match &bt.origin {
            StackOrigin::Saved => (None, None),
            StackOrigin::OnVcpu { vcpu, cpu } | StackOrigin::UserMode { vcpu, cpu, .. } => {
                (Some(vcpu.cpu_index()), *cpu)
            }
        };
        let end = bt.backtrace.as_ref().map(|b| &b.end);
        let (user_pc, user_sp) = match (&bt.origin, end) {
            (StackOrigin::UserMode { pc, sp, .. }, _) => (Some(*pc), Some(*sp)),
            (_, Some(EndReason::UserMode { pc, sp })) => (Some(*pc), Some(*sp)),
            _ => (None, None),
        };
        let end_note = end.and_then(EndReason::note);
        let user_regs_at = bt
            .backtrace
            .iter()
            .flat_map(|b| b.frames.iter())
            .rev()
            .find_map(|f| match f.kind {
                FrameKind::Regs {
                    pt_regs,
                    user: true,
                } => Some(pt_regs),
                _ => None,
            });
        TaskStack {
            thread: t.addr.0 .0,
            pid: t.pid,
            comm: t.comm.clone(),
            state: t.state_letter().to_string(),
            cpu,
            vcpu,
            sp: bt.sp,
            frames: kernel_frames(bt).map(|f| Frame::new(program, f)).collect(),
            user_pc,
            user_sp,
            end: end_note.clone().or_else(|| bt.note.clone()),
            note: bt.note.clone(),
            end_note,
            walked: bt.backtrace.is_some(),
            ended_in_user: matches!(end, Some(EndReason::UserMode { .. })),
            verbose,
            saved,
            user_regs_at,
        }
    }

    /// The header line: `stack pointer for thread … (pid comm)[ running on …]: sp`.
    pub fn header(&self) -> String {
        let where_ = match self.vcpu {
            Some(v) => {
                let cpu = self.cpu.map_or_else(|| "?".to_string(), |c| c.to_string());
                format!(" running on vCPU {v} (CPU {cpu})")
            }
            None => String::new(),
        };
        format!(
            "stack pointer for thread {:x} ({} {}){where_}: {:x}",
            self.thread, self.pid, self.comm, self.sp
        )
    }

    fn saved_at(&self, at: u64) -> Option<&PtRegs> {
        self.saved.iter().find(|s| s.at == at).map(|s| &s.regs)
    }
}

fn regs_lines(p: &PtRegs, indent: &str) -> [String; 2] {
    let g = |r: Reg| p.get(r);
    [
        format!(
            "{indent}orig_ax {:x}  di {:x}  si {:x}  dx {:x}  r10 {:x}  r8 {:x}  r9 {:x}",
            g(Reg::OrigAx),
            g(Reg::Di),
            g(Reg::Si),
            g(Reg::Dx),
            g(Reg::R10),
            g(Reg::R8),
            g(Reg::R9)
        ),
        format!(
            "{indent}ax {:x}  bx {:x}  cx {:x}  bp {:x}  flags {:x}  cs {:x}",
            g(Reg::Ax),
            g(Reg::Bx),
            g(Reg::Cx),
            g(Reg::Bp),
            g(Reg::Flags),
            g(Reg::Cs)
        ),
    ]
}

impl Record for TaskStack {
    fn render(&self, out: &mut Vec<String>) {
        out.push(self.header());
        if let Some(note) = &self.note {
            out.push(format!("  ({note})"));
        }
        if !self.walked {
            if let (true, Some(pc), Some(sp)) = (self.verbose, self.user_pc, self.user_sp) {
                out.push(format!("  user mode: pc {pc:x} sp {sp:x}"));
            }
            return;
        }
        for (i, f) in self.frames.iter().enumerate() {
            let name = format!("{}()", f.name());
            let mut line = if i == 0 {
                format!("[ {:x} {}{name} ]", self.sp, f.mark())
            } else {
                format!("  {:x} {}{name}", f.sp, f.mark())
            };
            if self.verbose {
                let how = match f.how {
                    FrameHow::Start => "start".to_string(),
                    FrameHow::Call => "call".to_string(),
                    FrameHow::Regs { pt_regs, user } => {
                        format!("pt_regs {pt_regs:x}{}", if user { " (user)" } else { "" })
                    }
                    FrameHow::Scanned { slot } => format!("scanned at {slot:x}"),
                };
                line = format!("{line:<60} pc {:x} {how}", f.pc);
            }
            out.push(line);
            if let (true, FrameHow::Regs { pt_regs, .. }) = (self.verbose, f.how) {
                if let Some(p) = self.saved_at(pt_regs) {
                    out.extend(regs_lines(p, "      "));
                }
            }
        }
        match (self.ended_in_user, self.user_pc, self.user_sp) {
            (true, Some(pc), Some(sp)) if self.verbose => {
                out.push(format!("  user mode: pc {pc:x} sp {sp:x}"));
                if let Some(p) = self.user_regs_at.and_then(|at| self.saved_at(at)) {
                    out.extend(regs_lines(p, "    "));
                }
            }
            _ => {
                if let Some(note) = &self.end_note {
                    out.push(format!("  (walk ended: {note})"));
                }
            }
        }
    }
}

/// The stack of the task a vCPU runs (`$c`, `$C`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VcpuStack {
    pub vcpu: u32,
    #[serde(with = "hex")]
    pub thread: u64,
    pub pid: i32,
    pub comm: String,
    pub frames: Vec<Frame>,
    /// Why there is no kernel stack (user mode), with the vCPU's pc.
    #[serde(skip)]
    pub note: Option<String>,
    /// Why the walk ended early.
    #[serde(skip)]
    pub end_note: Option<String>,
    /// `$C`: each frame's stack pointer too.
    #[serde(skip)]
    pub with_sp: bool,
}

impl Record for VcpuStack {
    fn render(&self, out: &mut Vec<String>) {
        if let Some(note) = &self.note {
            out.push(note.clone());
        }
        for f in &self.frames {
            if self.with_sp {
                out.push(format!("{:x} {}{}()", f.sp, f.mark(), f.name()));
            } else {
                out.push(format!("{}{}()", f.mark(), f.name()));
            }
        }
        if let Some(note) = &self.end_note {
            out.push(format!("(walk ended: {note})"));
        }
    }
}

/// Tasks with the same stack (`::stacks`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackGroup {
    pub count: usize,
    pub state: String,
    pub state_name: String,
    #[serde(with = "hex::vec")]
    pub threads: Vec<u64>,
    pub frames: Vec<Frame>,
    /// Why the stack ends where it does (user mode, a note, a walk that ended early).
    #[serde(skip)]
    pub trailer: Option<String>,
    /// `-a`: every thread's address, not only the first.
    #[serde(skip)]
    pub all: bool,
}

impl Record for StackGroup {
    fn render(&self, out: &mut Vec<String>) {
        let Some(first) = self.threads.first() else {
            return;
        };
        out.push(format!("{first:<16x} {:<5} {:>5}", self.state, self.count));
        if self.all {
            out.extend(self.threads.iter().skip(1).map(|t| format!("{t:x}")));
        }
        let pad = " ".repeat(17);
        for f in &self.frames {
            out.push(format!("{pad}{}{}", f.mark(), f.name()));
        }
        if let Some(t) = &self.trailer {
            out.push(format!("{pad}({t})"));
        }
        out.push(String::new());
    }
}
