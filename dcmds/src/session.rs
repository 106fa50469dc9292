//! A debugging session: the program under debug, dot, variables and run control. Its entry
//! points, [`Session::execute`] and [`Session::call`], are the executor's (`exec.rs`,
//! `call.rs`).

use crate::error::DcmdError;
use crate::lang::EvalEnv;
use qmdb_bridge::{Target, VirtAddr};
use qmdb_linux::Program;
use std::collections::BTreeMap;

/// What [`Session::execute`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecOutcome {
    /// Every command of the line succeeded.
    pub all_ok: bool,
    /// `$q` or `::quit` was run; the caller should end the session.
    pub quit: bool,
    /// The connection to the target is gone; the rest of the line was not run, and nothing
    /// more can be.
    pub fatal: bool,
    /// A command was interrupted through [`Program::interrupt_flag`]; the rest of the line
    /// was not run.
    pub interrupted: bool,
}

/// The state of one debugging session: the [`Program`] under debug, and the REPL's own state
/// (dot, variables, run control, the event table).
///
/// A session derefs to its program, so walkers that take a [`Program`] take a session too.
pub struct Session {
    program: Program,
    dot: VirtAddr,
    vars: BTreeMap<String, u64>,
    writable: bool,
    /// Who runs the guest instead of qmdb's events, when not qmdb (gdb, in proxy mode).
    run_control_elsewhere: Option<String>,
    quit: bool,
    /// Breakpoints and watchpoints, and the run-control state around them.
    events: crate::events::EventTable,
    /// What [`Session::repeat_last`] runs: the last non-blank line given to
    /// [`Session::execute`], or, after a display, the display of what follows.
    last_line: Option<String>,
    /// Where the last display (`addr,count/fmt`) ended, and its count.
    display_end: Option<(VirtAddr, u64)>,
    /// Whether `cmd ! shell-command` may run a shell.
    shell_allowed: bool,
}

impl std::ops::Deref for Session {
    type Target = Program;
    fn deref(&self) -> &Program {
        &self.program
    }
}

impl std::ops::DerefMut for Session {
    fn deref_mut(&mut self) -> &mut Program {
        &mut self.program
    }
}

impl Session {
    /// A session on `target`, read-only, with no symbols.
    pub fn new(target: Box<dyn Target>) -> Session {
        Session {
            program: Program::new(target),
            dot: VirtAddr(0),
            vars: BTreeMap::new(),
            writable: false,
            run_control_elsewhere: None,
            quit: false,
            events: crate::events::EventTable::default(),
            last_line: None,
            display_end: None,
            shell_allowed: true,
        }
    }

    /// What an empty line does at an interactive prompt, as in mdb: runs the last command
    /// again. Frontends call this for a blank line typed by the user (never for blank lines
    /// of a script). With no previous command it does nothing.
    pub fn repeat_last(&mut self, out: &mut dyn crate::output::Output) -> ExecOutcome {
        match self.last_line.clone() {
            Some(line) => self.execute(&line, out),
            None => ExecOutcome {
                all_ok: true,
                quit: false,
                fatal: false,
                interrupted: false,
            },
        }
    }

    /// Remembers `line` (if not blank) as the one [`Session::repeat_last`] runs again. When
    /// its last command is a display (`addr,count/fmt`) that ran, the repeat displays the
    /// `count` units after the ones shown, as mdb's newline does.
    pub(crate) fn remember_line(&mut self, line: &str) {
        if line.trim().is_empty() {
            return;
        }
        let end = self.display_end.take();
        let next = crate::lang::parse_line(line).pop().and_then(|cmd| {
            let stages = cmd.stages.ok()?;
            match stages.as_slice() {
                [crate::lang::Stage {
                    verb: crate::lang::Verb::Display(_),
                    ..
                }] => {
                    let slash = display_slash(&cmd.source)?;
                    let (next, count) = end?;
                    Some(format!(
                        "{:#x},{count:#x}{}",
                        next.0,
                        cmd.source.get(slash..)?
                    ))
                }
                _ => None,
            }
        });
        self.last_line = Some(next.unwrap_or_else(|| line.to_string()));
    }

    /// Notes where a top-level display ended (see [`Session::remember_line`]).
    pub(crate) fn set_display_end(&mut self, end: Option<(VirtAddr, u64)>) {
        self.display_end = end;
    }

    /// The line [`Session::repeat_last`] would run, if any.
    pub fn repeat_line(&self) -> Option<&str> {
        self.last_line.as_deref()
    }

    /// The program under debug.
    pub fn program(&self) -> &Program {
        &self.program
    }

    pub fn program_mut(&mut self) -> &mut Program {
        &mut self.program
    }

    /// The event table (`::events`).
    pub fn events(&self) -> &crate::events::EventTable {
        &self.events
    }

    pub fn events_mut(&mut self) -> &mut crate::events::EventTable {
        &mut self.events
    }

    /// The event table and the target together, to plant and remove events.
    pub fn events_and_target(&mut self) -> (&mut crate::events::EventTable, &mut dyn Target) {
        (&mut self.events, self.program.target_mut())
    }

    /// Dot: the current address, used by commands given none.
    pub fn dot(&self) -> VirtAddr {
        self.dot
    }

    pub fn set_dot(&mut self, addr: VirtAddr) {
        self.dot = addr;
    }

    /// Whether the shell pipe (`cmd ! shell-command`, as in mdb) may run shell commands; it
    /// may by default. A front end whose commands come from someone who should not get a
    /// shell (an MCP client) turns it off.
    pub fn set_shell_allowed(&mut self, allowed: bool) {
        self.shell_allowed = allowed;
    }

    pub fn shell_allowed(&self) -> bool {
        self.shell_allowed
    }

    /// Whether writes to the guest are allowed (`-w`).
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// Allows commands that change the VM (`-w`).
    pub fn set_writable(&mut self, writable: bool) {
        self.writable = writable;
    }

    /// Gives run control to someone else: continuing, stepping and halting are then
    /// refused with `why` (which says what to use instead); events may still be set, for
    /// the other front end to honour (see [`crate::events::front_end`]).
    pub fn set_run_control_elsewhere(&mut self, why: impl Into<String>) {
        self.run_control_elsewhere = Some(why.into());
    }

    /// For run-control dcmds: an error if run control is someone else's.
    pub fn require_run_control(&self, cmd: &str) -> Result<(), DcmdError> {
        match &self.run_control_elsewhere {
            Some(why) => Err(DcmdError::Refused(format!("{cmd}: {why}"))),
            None => Ok(()),
        }
    }

    /// Asks the caller of [`Session::execute`] to end the session.
    pub fn request_quit(&mut self) {
        self.quit = true;
    }

    pub(crate) fn quit_requested(&self) -> bool {
        self.quit
    }

    pub(crate) fn take_quit(&mut self) -> bool {
        std::mem::take(&mut self.quit)
    }

    /// A variable set with `>name`.
    pub fn variable(&self, name: &str) -> Option<u64> {
        self.vars.get(name).copied()
    }

    /// Sets a variable. Register names are refused: registers are never written.
    pub fn set_variable(&mut self, name: &str, value: u64) -> Result<(), DcmdError> {
        if self.program.target().register_layout().find(name).is_some() {
            return Err(DcmdError::Refused(format!(
                "'{name}' is a register, and qmdb does not write registers"
            )));
        }
        self.vars.insert(name.to_string(), value);
        Ok(())
    }

    /// The value of a register of the selected vCPU, at most 64 bits wide.
    pub fn register(&mut self, name: &str) -> Result<u64, DcmdError> {
        if self.program.target().register_layout().find(name).is_none() {
            return Err(DcmdError::UnknownVariable(name.to_string()));
        }
        let regs = self.program.target_mut().read_registers()?;
        match regs.get_u64(name) {
            Some(v) => Ok(v),
            None if regs.get_bytes(name).is_some() => Err(DcmdError::usage(
                format!("<{name}"),
                "the register is wider than 64 bits",
            )),
            None => Err(DcmdError::usage(
                format!("<{name}"),
                "the stub did not supply this register",
            )),
        }
    }
}

/// The offset of the `/` that starts the format of a display command: the first `/` outside
/// parentheses and quotes (inside parentheses `/` divides).
fn display_slash(source: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    let mut escaped = false;
    for (i, b) in source.bytes().enumerate() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == q {
                quote = None;
            }
            continue;
        }
        match b {
            b'\'' | b'"' => quote = Some(b),
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b'/' if depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

impl EvalEnv for Session {
    fn dot(&self) -> u64 {
        self.dot.0
    }

    fn symbol(&mut self, name: &str) -> Option<u64> {
        self.program.symbols().lookup_name(name).map(|a| a.0)
    }

    fn unknown_symbol(&mut self, name: &str) -> DcmdError {
        let hint = if self.program.target().register_layout().find(name).is_some() {
            format!(" (registers are read with <{name})")
        } else {
            String::new()
        };
        DcmdError::UnknownSymbol {
            name: name.to_string(),
            hint,
        }
    }

    fn variable(&mut self, name: &str) -> Result<u64, DcmdError> {
        if let Some(v) = self.vars.get(name) {
            return Ok(*v);
        }
        self.register(name)
    }

    fn read_pointer(&mut self, addr: u64) -> Result<u64, DcmdError> {
        Ok(self.program.read_u64(VirtAddr(addr), None)?)
    }
}
