//! The contract between the UI thread and the session worker.
//!
//! The worker thread owns the [`qmdb_dcmds::Session`] (and so the connection): every dcmd,
//! every read of guest memory runs there, never on the UI thread, which only draws and
//! handles keys. The UI sends [`Request`]s; the worker answers with [`Event`]s, streaming a
//! command's output line by line as the dcmd produces it. The UI holds no logic about the
//! kernel: its panes are filled by running ordinary dcmds (`::ps -t`, `::regs`,
//! `addr::findstack -v`, `addr::dis`) whose `--json` records the worker turns into rows.

use std::time::Duration;

/// A command id, chosen by the UI, echoed in the events of that command.
pub type CommandId = u64;

/// What the UI asks of the worker. Requests are handled one at a time, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Run an mdb command line (several commands separated by `;` are fine). Its output
    /// arrives as [`Event::Output`]s, then one [`Event::Done`].
    Execute { id: CommandId, line: String },
    /// A blank line typed at the prompt: run the last command again, as mdb does
    /// ([`qmdb_dcmds::Session::repeat_last`]: after `addr/X` the next units, after `:s`
    /// another step). Answered like [`Request::Execute`], after an [`Event::Repeating`].
    Repeat { id: CommandId },
    /// Refill a pane from the guest; answered by the matching event.
    Refresh(Pane),
    /// Stop a guest that runs with no command waiting for it (resumed by `::monitor cont`,
    /// say). Answered by [`Event::Status`]. (`:c` and F5 run the `::cont` dcmd, which
    /// Ctrl-C interrupts through the worker's interrupt flag, see [`Event::Ready`].)
    Halt,
    /// Drop the connection (if any) and attach again with the same options.
    Reconnect,
    /// End the session: detach, leaving the VM as it was found at attach (`resume`
    /// false: leave it stopped). The worker answers [`Event::Exited`] and ends.
    Quit { resume: bool },
}

/// The panes whose data comes from the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pane {
    /// Every task (`::ps -t` and `::cpuinfo`).
    Threads,
    /// The selected vCPU's registers (`::regs`).
    Registers,
    /// A task's stack (`addr::findstack -v`), or the selected vCPU's (`$c`) when `None`.
    Stack { thread: Option<u64> },
    /// Instructions around an address (the selected vCPU's pc when `None`).
    Disassembly { addr: Option<u64> },
    /// The bytes at the value of an mdb expression (`init_task`, `<rsp+0x10`),
    /// evaluated again at each refresh.
    Memory { expr: String },
    /// The session's breakpoints and watchpoints (`::events`); no guest reads.
    Events,
}

/// What kind of output line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Text,
    Warning,
    Error,
}

/// What the worker tells the UI.
#[derive(Debug, Clone)]
pub enum Event {
    /// The worker is up; `interrupt` is the session's interrupt flag: setting it makes the
    /// running dcmd stop at its next guest read (Ctrl-C on a long command).
    Ready {
        interrupt: std::sync::Arc<std::sync::atomic::AtomicBool>,
    },
    /// Attached (at start or after [`Request::Reconnect`]).
    Connected(Status),
    /// Attaching failed, or the connection was lost; the UI stays up and can ask for
    /// [`Request::Reconnect`].
    Disconnected {
        reason: String,
    },
    /// One line of a command's output, as it is produced.
    Output {
        id: CommandId,
        kind: LineKind,
        text: String,
    },
    /// The running command has resumed the guest (`::cont`, `::step`); an
    /// [`Event::Status`] follows its [`Event::Done`], with the guest stopped again.
    Resumed,
    /// A command ended.
    Done {
        id: CommandId,
        ok: bool,
        elapsed: Duration,
        /// `$q`/`::quit` was run: the UI should quit (asking first if needed).
        quit: bool,
        /// The connection is gone.
        fatal: bool,
        interrupted: bool,
    },
    /// The target's state changed (or was asked for).
    Status(Status),
    Threads(Vec<ThreadRow>),
    Registers(Vec<RegisterRow>),
    Stack(StackView),
    Disassembly(Vec<DisasmRow>),
    Memory(MemoryView),
    /// The event table, sent after every command that changed it (and when asked).
    Events(Vec<EventRow>),
    /// The line a [`Request::Repeat`] runs (`None`: there is none; a `Done` follows).
    Repeating {
        id: CommandId,
        line: Option<String>,
    },
    /// A pane could not be refreshed (no kernel, a read failed...).
    PaneError {
        pane: Pane,
        message: String,
    },
    /// The worker has detached and ended.
    Exited,
    /// Symbol and type names for the command line's Tab completion (sent once a kernel is
    /// loaded; any order, duplicates allowed).
    Names {
        symbols: Vec<String>,
        types: Vec<String>,
    },
}

/// The status bar's facts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Status {
    /// `host:port`.
    pub target: String,
    /// Running, or stopped and why (`SIGTRAP on vCPU 0`).
    pub running: bool,
    pub stop_reason: Option<String>,
    pub vcpus: usize,
    pub selected_vcpu: u32,
    pub kernel_release: Option<String>,
    pub kaslr_slide: Option<u64>,
    /// Whether the VM was running when qmdb attached (quitting resumes it).
    pub was_running_at_attach: bool,
}

/// One task of the threads pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadRow {
    pub thread: u64,
    pub pid: i64,
    pub tgid: i64,
    pub comm: String,
    pub state: char,
    pub cpu: Option<u32>,
    /// The vCPU it is running on, if any.
    pub on_vcpu: Option<u32>,
}

/// One register.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegisterRow {
    pub name: String,
    pub value: u64,
    /// `func+0x1a` when the value points into the kernel's text or data (or a module's).
    pub symbol: Option<String>,
    /// The 8 bytes the value points at, when it is a readable kernel address.
    pub deref: Option<Pointee>,
}

/// One level of dereference of a register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointee {
    /// The little-endian 8-byte word at the register's value.
    pub value: u64,
    /// `func+0x1a` when that word is itself a kernel text or data address.
    pub symbol: Option<String>,
}

/// What the memory pane shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryView {
    /// The expression, as the user gave it.
    pub expr: String,
    /// Its value: where `bytes` start.
    pub addr: u64,
    /// The readable bytes from `addr` on (fewer than asked when a page faulted).
    pub bytes: Vec<u8>,
    /// Why fewer bytes than asked were read.
    pub note: Option<String>,
}

/// One breakpoint or watchpoint, as `::events` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub id: u32,
    /// `bp`, or `wp/` plus mode and size (`wp/w8`).
    pub kind: String,
    pub addr: u64,
    /// The address as given or as a symbol.
    pub symbol: String,
    pub enabled: bool,
    /// Whether QEMU holds it now.
    pub planted: bool,
    pub hits: u64,
    /// The options as given (`-n 3 -c '...'`).
    pub options: String,
}

/// A stack, as the stack pane shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackView {
    /// The task, or `None` for the selected vCPU's stack.
    pub thread: Option<u64>,
    /// The `stack pointer for thread ...` line.
    pub header: String,
    pub frames: Vec<FrameRow>,
    /// Why the walk ended early, or the user-mode note.
    pub note: Option<String>,
}

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameRow {
    pub sp: u64,
    pub pc: u64,
    /// `func+0x1a`, or the hex pc.
    pub symbol: String,
    pub reliable: bool,
}

/// One instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisasmRow {
    pub addr: u64,
    /// `func+0x1a` of the address, when known.
    pub symbol: Option<String>,
    pub bytes: String,
    pub text: String,
    /// The instruction at the pc the pane is centred on.
    pub current: bool,
}
