//! A debugging session: the target, dot, variables, the symbol hook, and the entry point
//! [`Session::execute`].

use crate::error::{bytes_word, DcmdError, ReadCause};
use crate::exec;
use crate::kernel::Kernel;
use crate::lang::EvalEnv;
use crate::output::Output;
use crate::symbols::{self, NoSymbols, SymbolLookup};
use qmdb_bridge::{read_partial, PartialRead, Target, VirtAddr};
use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The default bound on the steps of one walk.
pub const DEFAULT_WALK_LIMIT: u64 = 1_000_000;

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
    /// A command was interrupted through [`Session::interrupt_flag`]; the rest of the line
    /// was not run.
    pub interrupted: bool,
}

/// The state of one debugging session.
pub struct Session {
    target: Box<dyn Target>,
    symbols: Box<dyn SymbolLookup>,
    dot: VirtAddr,
    vars: BTreeMap<String, u64>,
    writable: bool,
    /// Who runs the guest instead of qmdb's events, when not qmdb (gdb, in proxy mode).
    run_control_elsewhere: Option<String>,
    walk_limit: u64,
    quit: bool,
    interrupt: Arc<AtomicBool>,
    kernel: Option<Kernel>,
    /// Why there is no kernel, when there is none.
    kernel_missing: String,
    /// Loaded modules' symbols, layered over the kernel's (see [`Session::set_module_symbols`]).
    module_symbols: Option<Arc<crate::linux::modules::ModuleSymbols>>,
    /// What one command derived from the stopped guest and its pipeline stages share
    /// (the task list, the vCPUs' state), by type; emptied before each command.
    command_cache: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    /// Breakpoints and watchpoints, and the run-control state around them.
    events: crate::events::EventTable,
}

impl Session {
    /// A session on `target`, read-only, with no symbols.
    pub fn new(target: Box<dyn Target>) -> Session {
        Session {
            target,
            symbols: Box::new(NoSymbols),
            dot: VirtAddr(0),
            vars: BTreeMap::new(),
            writable: false,
            run_control_elsewhere: None,
            walk_limit: DEFAULT_WALK_LIMIT,
            quit: false,
            interrupt: Arc::new(AtomicBool::new(false)),
            kernel: None,
            kernel_missing: "no kernel was given (--kernel) or looked for".into(),
            module_symbols: None,
            command_cache: HashMap::new(),
            events: crate::events::EventTable::default(),
        }
    }

    /// What is known of the guest kernel, once `--kernel` (or discovery) provided it.
    pub fn kernel(&self) -> Option<&Kernel> {
        self.kernel.as_ref()
    }

    /// Why there is no kernel (for errors of dcmds that need one).
    pub fn kernel_missing(&self) -> &str {
        &self.kernel_missing
    }

    /// Records why there is no kernel.
    pub fn set_kernel_missing(&mut self, why: String) {
        self.kernel_missing = why;
    }

    /// The kernel, or for `cmd` an error saying why there is none.
    pub fn require_kernel(&self, cmd: &str) -> Result<&Kernel, DcmdError> {
        self.kernel
            .as_ref()
            .ok_or_else(|| DcmdError::usage(cmd, format!("no kernel: {}", self.kernel_missing)))
    }

    /// Installs kernel knowledge; its symbols, moved by the KASLR slide, become the
    /// session's.
    pub fn set_kernel(&mut self, kernel: Kernel) {
        self.symbols = Box::new(crate::kernel::symtab::SlidSymbols::new(
            Arc::clone(&kernel.symbols),
            kernel.slide,
        ));
        self.kernel = Some(kernel);
        self.module_symbols = None;
        // Module symbols are read once here, at attach (a few KB per module), because the
        // symbol hook cannot read the guest; `::lsmod` reads them again. A kernel without
        // modules, BTF or a `modules` symbol simply has none.
        if self.symbols.lookup_name("modules").is_some() {
            let _ = crate::linux::modules::refresh_symbols(self, "attach");
        }
    }

    /// Installs module symbols over the kernel's (`None` removes them).
    pub fn set_module_symbols(
        &mut self,
        modules: Option<Arc<crate::linux::modules::ModuleSymbols>>,
    ) {
        let Some(kernel) = &self.kernel else {
            return;
        };
        let base = Box::new(crate::kernel::symtab::SlidSymbols::new(
            Arc::clone(&kernel.symbols),
            kernel.slide,
        ));
        self.symbols = match &modules {
            Some(m) => Box::new(crate::linux::modules::LayeredSymbols {
                kernel: base,
                modules: Arc::clone(m),
            }),
            None => base,
        };
        self.module_symbols = modules;
    }

    /// The module symbols installed, if any.
    pub fn module_symbols(&self) -> Option<Arc<crate::linux::modules::ModuleSymbols>> {
        self.module_symbols.clone()
    }

    /// A flag that, once set (from a signal handler or another thread), makes the running
    /// command stop at its next read of the guest, walk step or pipeline item with
    /// [`DcmdError::Interrupted`]. [`Session::execute`] clears it when it starts.
    pub fn interrupt_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.interrupt)
    }

    /// Uses `flag` as the interrupt flag (one a signal handler already sets).
    pub fn set_interrupt_flag(&mut self, flag: Arc<AtomicBool>) {
        self.interrupt = flag;
    }

    /// Fails with [`DcmdError::Interrupted`] if the interrupt flag is set.
    pub fn check_interrupt(&self) -> Result<(), DcmdError> {
        if self.interrupt.load(Ordering::Relaxed) {
            Err(DcmdError::Interrupted)
        } else {
            Ok(())
        }
    }

    /// Runs every command of `line` (commands are separated by `;` or newlines), reporting
    /// each command's results and errors to `out`. A failing command does not stop the next
    /// one; a lost connection, `$q`, or a closed output does.
    pub fn execute(&mut self, line: &str, out: &mut dyn Output) -> ExecOutcome {
        self.interrupt.store(false, Ordering::Relaxed);
        exec::execute(self, line, out)
    }

    /// The value of type `T` cached for the running command, if any.
    pub fn command_cached<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        let v = self.command_cache.get(&TypeId::of::<T>())?;
        Arc::clone(v).downcast::<T>().ok()
    }

    /// Caches `value` for the rest of the running command (every stage of its pipeline).
    pub fn cache_for_command<T: Any + Send + Sync>(&mut self, value: Arc<T>) {
        self.command_cache.insert(TypeId::of::<T>(), value);
    }

    /// Forgets what the previous command cached: the guest may have run since.
    pub(crate) fn clear_command_cache(&mut self) {
        self.command_cache.clear();
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
        (&mut self.events, self.target.as_mut())
    }

    pub fn target(&self) -> &dyn Target {
        self.target.as_ref()
    }

    pub fn target_mut(&mut self) -> &mut dyn Target {
        self.target.as_mut()
    }

    /// Installs the symbol table used by expressions and `symbol+offset` output.
    pub fn set_symbols(&mut self, symbols: Box<dyn SymbolLookup>) {
        self.symbols = symbols;
    }

    pub fn symbols(&self) -> &dyn SymbolLookup {
        self.symbols.as_ref()
    }

    /// `symbol+0x10`, or bare hex.
    pub fn symbolize(&self, addr: VirtAddr) -> String {
        symbols::symbolize(self.symbols.as_ref(), addr)
    }

    /// Dot: the current address, used by commands given none.
    pub fn dot(&self) -> VirtAddr {
        self.dot
    }

    pub fn set_dot(&mut self, addr: VirtAddr) {
        self.dot = addr;
    }

    /// Whether writes to the guest are allowed. Always false for now: nothing writes.
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

    /// The bound on the steps of one walk.
    pub fn walk_limit(&self) -> u64 {
        self.walk_limit
    }

    pub fn set_walk_limit(&mut self, limit: u64) {
        self.walk_limit = limit;
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
        if self.target.register_layout().find(name).is_some() {
            return Err(DcmdError::Refused(format!(
                "'{name}' is a register, and qmdb does not write registers"
            )));
        }
        self.vars.insert(name.to_string(), value);
        Ok(())
    }

    /// The value of a register of the selected vCPU, at most 64 bits wide.
    pub fn register(&mut self, name: &str) -> Result<u64, DcmdError> {
        if self.target.register_layout().find(name).is_none() {
            return Err(DcmdError::UnknownVariable(name.to_string()));
        }
        let regs = self.target.read_registers()?;
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

    /// Every readable byte of `[addr, addr+len)` before the first unreadable one.
    pub fn read_partial(&mut self, addr: VirtAddr, len: usize) -> Result<PartialRead, DcmdError> {
        self.check_interrupt()?;
        Ok(read_partial(self.target.as_mut(), addr, len)?)
    }

    /// Exactly `len` bytes at `addr`; an error names `what` was read (e.g. `next pointer`;
    /// `None` says `N bytes`).
    pub fn read_bytes(
        &mut self,
        addr: VirtAddr,
        len: usize,
        what: Option<&str>,
    ) -> Result<Vec<u8>, DcmdError> {
        let pr = self.read_partial(addr, len)?;
        if pr.data.len() >= len {
            let mut data = pr.data;
            data.truncate(len);
            return Ok(data);
        }
        let cause = pr
            .fault
            .map_or(ReadCause::Wrap, |(_, c)| ReadCause::Target(c));
        let what = what.map_or_else(|| bytes_word(len), str::to_string);
        Err(DcmdError::read(what, addr, cause))
    }

    /// The 8-byte little-endian value at `addr`.
    pub fn read_u64(&mut self, addr: VirtAddr, what: Option<&str>) -> Result<u64, DcmdError> {
        let b = self.read_bytes(addr, 8, what)?;
        let arr: [u8; 8] = b
            .try_into()
            .map_err(|_| DcmdError::read(bytes_word(8), addr, ReadCause::Wrap))?;
        Ok(u64::from_le_bytes(arr))
    }
}

impl EvalEnv for Session {
    fn dot(&self) -> u64 {
        self.dot.0
    }

    fn symbol(&mut self, name: &str) -> Option<u64> {
        self.symbols.lookup_name(name).map(|a| a.0)
    }

    fn unknown_symbol(&mut self, name: &str) -> DcmdError {
        let hint = if self.target.register_layout().find(name).is_some() {
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
        self.read_u64(VirtAddr(addr), None)
    }
}
