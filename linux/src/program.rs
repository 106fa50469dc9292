//! The debugged program: one object owning the target, the kernel knowledge, the symbols and
//! what one command derived from the stopped guest. Every walker reads the guest through it.

use crate::error::{bytes_word, Error, ReadCause};
use crate::memory::GuestMemory;
use crate::modules::table::{LayeredSymbols, ModuleSymbols};
use qmdb_bridge::{read_partial, PartialRead, Target, VirtAddr};
use qmdb_kernel::btf::Btf;
use qmdb_kernel::symbols::{self, NoSymbols, SymbolLookup};
use qmdb_kernel::symtab::SlidSymbols;
use qmdb_kernel::Kernel;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The default bound on the steps of one walk.
pub const DEFAULT_WALK_LIMIT: u64 = 1_000_000;

/// A guest kernel under debug: its target, kernel, symbols and per-stop caches.
pub struct Program {
    target: Box<dyn Target>,
    symbols: Box<dyn SymbolLookup>,
    kernel: Option<Kernel>,
    /// Why there is no kernel, when there is none.
    kernel_missing: String,
    /// Loaded modules' symbols, layered over the kernel's (see [`Program::set_module_symbols`]).
    module_symbols: Option<Arc<ModuleSymbols>>,
    /// What one command derived from the stopped guest and its pipeline stages share
    /// (the task list, the vCPUs' state), by type; emptied before each command.
    command_cache: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    interrupt: Arc<AtomicBool>,
    walk_limit: u64,
}

impl Program {
    /// A program on `target`, with no kernel and no symbols.
    pub fn new(target: Box<dyn Target>) -> Program {
        Program {
            target,
            symbols: Box::new(NoSymbols),
            kernel: None,
            kernel_missing: "no kernel was given (--kernel) or looked for".into(),
            module_symbols: None,
            command_cache: HashMap::new(),
            interrupt: Arc::new(AtomicBool::new(false)),
            walk_limit: DEFAULT_WALK_LIMIT,
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

    /// The kernel, or an error saying why there is none.
    pub fn require_kernel(&self) -> Result<&Kernel, Error> {
        self.kernel
            .as_ref()
            .ok_or_else(|| Error::NoKernel(self.kernel_missing.clone()))
    }

    /// The kernel's types, or an error saying why there are none.
    pub fn types(&self) -> Result<Arc<Btf>, Error> {
        self.require_kernel()?.types.clone().ok_or(Error::NoTypes)
    }

    /// Installs kernel knowledge; its symbols, moved by the KASLR slide, become the
    /// program's. [`crate::load::install`] also reads the loaded modules' symbols.
    pub fn set_kernel(&mut self, kernel: Kernel) {
        self.symbols = Box::new(SlidSymbols::new(Arc::clone(&kernel.symbols), kernel.slide));
        self.kernel = Some(kernel);
        self.module_symbols = None;
    }

    /// Installs module symbols over the kernel's (`None` removes them).
    pub fn set_module_symbols(&mut self, modules: Option<Arc<ModuleSymbols>>) {
        let Some(kernel) = &self.kernel else {
            return;
        };
        let base = Box::new(SlidSymbols::new(Arc::clone(&kernel.symbols), kernel.slide));
        self.symbols = match &modules {
            Some(m) => Box::new(LayeredSymbols {
                kernel: base,
                modules: Arc::clone(m),
            }),
            None => base,
        };
        self.module_symbols = modules;
    }

    /// The module symbols installed, if any.
    pub fn module_symbols(&self) -> Option<Arc<ModuleSymbols>> {
        self.module_symbols.clone()
    }

    /// A flag that, once set (from a signal handler or another thread), makes the running
    /// walk stop at its next read of the guest or step with [`Error::Interrupted`].
    pub fn interrupt_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.interrupt)
    }

    /// Uses `flag` as the interrupt flag (one a signal handler already sets).
    pub fn set_interrupt_flag(&mut self, flag: Arc<AtomicBool>) {
        self.interrupt = flag;
    }

    /// Lowers the interrupt flag, as a new command starts.
    pub fn clear_interrupt(&self) {
        self.interrupt.store(false, Ordering::Relaxed);
    }

    /// Fails with [`Error::Interrupted`] if the interrupt flag is set.
    pub fn check_interrupt(&self) -> Result<(), Error> {
        if self.interrupt.load(Ordering::Relaxed) {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
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
    pub fn clear_command_cache(&mut self) {
        self.command_cache.clear();
    }

    /// The target the guest is read through.
    pub fn target(&self) -> &dyn Target {
        self.target.as_ref()
    }

    /// The target, to run, stop or select vCPUs.
    pub fn target_mut(&mut self) -> &mut dyn Target {
        self.target.as_mut()
    }

    /// Installs the symbol table used by expressions and `symbol+offset` output.
    pub fn set_symbols(&mut self, symbols: Box<dyn SymbolLookup>) {
        self.symbols = symbols;
    }

    /// The symbol table of expressions and output: the kernel's, slid, with modules' over it.
    pub fn symbols(&self) -> &dyn SymbolLookup {
        self.symbols.as_ref()
    }

    /// `symbol+0x10`, or bare hex.
    pub fn symbolize(&self, addr: VirtAddr) -> String {
        symbols::symbolize(self.symbols.as_ref(), addr)
    }

    /// The bound on the steps of one walk.
    pub fn walk_limit(&self) -> u64 {
        self.walk_limit
    }

    /// Bounds the steps of one walk (`::set -l`); a corrupt list stops there.
    pub fn set_walk_limit(&mut self, limit: u64) {
        self.walk_limit = limit;
    }

    /// Every readable byte of `[addr, addr+len)` before the first unreadable one.
    pub fn read_partial(&mut self, addr: VirtAddr, len: usize) -> Result<PartialRead, Error> {
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
    ) -> Result<Vec<u8>, Error> {
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
        Err(Error::read(what, addr, cause))
    }

    /// The 8-byte little-endian value at `addr`.
    pub fn read_u64(&mut self, addr: VirtAddr, what: Option<&str>) -> Result<u64, Error> {
        let b = self.read_bytes(addr, 8, what)?;
        let arr: [u8; 8] = b
            .try_into()
            .map_err(|_| Error::read(bytes_word(8), addr, ReadCause::Wrap))?;
        Ok(u64::from_le_bytes(arr))
    }
}

/// The program is the one [`GuestMemory`] every walker reads.
impl GuestMemory for Program {
    fn read_bytes(
        &mut self,
        addr: VirtAddr,
        len: usize,
        what: Option<&str>,
    ) -> Result<Vec<u8>, Error> {
        Program::read_bytes(self, addr, len, what)
    }

    fn read_some(&mut self, addr: VirtAddr, len: usize) -> Result<Vec<u8>, Error> {
        Ok(self.read_partial(addr, len)?.data)
    }

    fn read_u64(&mut self, addr: VirtAddr, what: Option<&str>) -> Result<u64, Error> {
        Program::read_u64(self, addr, what)
    }
}
