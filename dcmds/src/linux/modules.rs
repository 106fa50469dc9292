//! Loaded kernel modules: the `modules` list, each module's memory, and its own kallsyms.
//!
//! Offsets come from BTF by member name: 6.4+ kernels describe a module's memory as
//! `mem[MOD_TEXT..]` (`struct module_memory {base, size}`), older ones as `core_layout` /
//! `init_layout` (`struct module_layout {base, size, text_size}`). Everything read is guest
//! data: the list walk is bounded and cycle-checked, symbol counts and string lengths are
//! capped, and a module whose symbols cannot be read is reported and skipped.
//!
//! [`ModuleSymbols`] holds every module's symbols; [`LayeredSymbols`] puts them over the
//! kernel's, so that `symbol+offset` output and expressions know module addresses.

use super::layout::{find_member, find_struct};
use crate::error::DcmdError;
use crate::kernel::btf::{Btf, TypeId};
use crate::session::Session;
use crate::symbols::{SymbolHit, SymbolLookup};
use qmdb_bridge::VirtAddr;
use std::collections::HashSet;

/// At most this many symbols are read from one module's kallsyms.
pub const MAX_MODULE_SYMBOLS: u64 = 200_000;
/// At most this many bytes of one module's string table are read.
pub const MAX_STRTAB: u64 = 4 << 20;
/// A symbol name longer than this is cut.
const MAX_NAME: usize = 256;
/// `sizeof(Elf64_Sym)`.
const ELF64_SYM: u64 = 24;

/// Where a module's memory is described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemLayout {
    /// 6.4+: `mem[]`, an array of `struct module_memory`; `text` is `MOD_TEXT`'s index.
    Mem {
        mem: u64,
        count: u64,
        stride: u64,
        base: u64,
        size: u64,
        text: u64,
    },
    /// Before 6.4: `core_layout` and `init_layout` (`struct module_layout`).
    Layout {
        core: u64,
        init: Option<u64>,
        base: u64,
        size: u64,
        text_size: u64,
    },
}

/// Offsets in `struct module` and `struct mod_kallsyms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleLayout {
    pub list: u64,
    pub name: u64,
    pub name_len: u64,
    pub state: u64,
    pub kallsyms: Option<u64>,
    pub mem: MemLayout,
    /// `struct mod_kallsyms`: `symtab`, `num_symtab`, `strtab`.
    pub ks_symtab: u64,
    pub ks_num: u64,
    pub ks_strtab: u64,
    /// `enum module_state`'s names, by value.
    pub states: Vec<(u64, String)>,
}

fn off(btf: &Btf, id: TypeId, sname: &str, path: &str) -> Result<(u64, u64), String> {
    find_member(btf, id, sname, path).map(|m| (m.offset, m.size))
}

fn enum_values(btf: &Btf, name: &str) -> Vec<(u64, String)> {
    let Some(id) = btf
        .find(&format!("enum {name}"))
        .ok()
        .and_then(|c| c.plain())
    else {
        return Vec::new();
    };
    let Ok(ty) = btf.resolved(id) else {
        return Vec::new();
    };
    btf.enumerators(ty)
        .map(|e| (e.value, e.name.to_string()))
        .collect()
}

impl ModuleLayout {
    /// Looks the offsets up in `btf`; the error names what is missing.
    pub fn from_btf(btf: &Btf) -> Result<ModuleLayout, String> {
        let m = find_struct(btf, "module")?;
        let list = off(btf, m, "module", "list")?.0;
        let (name, name_len) = off(btf, m, "module", "name")?;
        let state = off(btf, m, "module", "state")?.0;
        let kallsyms = off(btf, m, "module", "kallsyms").ok().map(|f| f.0);
        let mem = if let Ok((mem, total)) = off(btf, m, "module", "mem") {
            let mm = find_struct(btf, "module_memory")?;
            let stride = btf
                .size_of(mm)
                .map_err(|e| format!("struct module_memory: {e}"))?;
            let text = enum_values(btf, "mod_mem_type")
                .into_iter()
                .find(|(_, n)| n == "MOD_TEXT")
                .map_or(0, |(v, _)| v);
            MemLayout::Mem {
                mem,
                count: total.checked_div(stride).unwrap_or(0),
                stride,
                base: off(btf, mm, "module_memory", "base")?.0,
                size: off(btf, mm, "module_memory", "size")?.0,
                text,
            }
        } else {
            let core = off(btf, m, "module", "core_layout")
                .map_err(|_| "struct module has neither mem nor core_layout".to_string())?
                .0;
            let ml = find_struct(btf, "module_layout")?;
            MemLayout::Layout {
                core,
                init: off(btf, m, "module", "init_layout").ok().map(|f| f.0),
                base: off(btf, ml, "module_layout", "base")?.0,
                size: off(btf, ml, "module_layout", "size")?.0,
                text_size: off(btf, ml, "module_layout", "text_size")?.0,
            }
        };
        let ks = find_struct(btf, "mod_kallsyms")?;
        Ok(ModuleLayout {
            list,
            name,
            name_len,
            state,
            kallsyms,
            mem,
            ks_symtab: off(btf, ks, "mod_kallsyms", "symtab")?.0,
            ks_num: off(btf, ks, "mod_kallsyms", "num_symtab")?.0,
            ks_strtab: off(btf, ks, "mod_kallsyms", "strtab")?.0,
            states: enum_values(btf, "module_state"),
        })
    }

    /// How many bytes of a `struct module` hold every field read.
    fn prefix(&self) -> u64 {
        let mut end = (self.list + 16)
            .max(self.name + self.name_len)
            .max(self.state + 4);
        if let Some(k) = self.kallsyms {
            end = end.max(k + 8);
        }
        end.max(match self.mem {
            MemLayout::Mem {
                mem, count, stride, ..
            } => mem + count * stride,
            MemLayout::Layout {
                core,
                init,
                size,
                text_size,
                ..
            } => {
                let l = size.max(text_size) + 4;
                (core + l).max(init.map_or(0, |i| i + l))
            }
        })
    }

    fn state_name(&self, v: u64) -> String {
        self.states
            .iter()
            .find(|(x, _)| *x == v)
            .map(|(_, n)| {
                let n = n.strip_prefix("MODULE_STATE_").unwrap_or(n);
                let mut s = n.to_ascii_lowercase();
                if let Some(c) = s.get_mut(0..1) {
                    c.make_ascii_uppercase();
                }
                s
            })
            .unwrap_or_else(|| v.to_string())
    }
}

/// One loaded module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// The `struct module`.
    pub addr: u64,
    pub name: String,
    pub state: String,
    /// Whether the module is still being set up (`MODULE_STATE_UNFORMED`).
    pub unformed: bool,
    /// The text base, as `/proc/modules` prints it.
    pub base: u64,
    /// Every region's size added up, as `/proc/modules` prints it.
    pub size: u64,
    pub text_size: u64,
    /// The module's memory regions, `[start, end)`.
    pub regions: Vec<(u64, u64)>,
    /// `mod->kallsyms`, 0 when none.
    pub kallsyms: u64,
}

/// The modules found and what was skipped.
#[derive(Debug, Clone, Default)]
pub struct ModuleList {
    pub modules: Vec<Module>,
    pub problems: Vec<String>,
}

/// Guest memory, as the walk reads it (a [`Session`], or a test's map).
pub trait ModuleMemory {
    fn read(&mut self, addr: u64, len: usize, what: &str) -> Result<Vec<u8>, DcmdError>;
    /// The readable bytes from `addr`, at most `len`.
    fn read_some(&mut self, addr: u64, len: usize) -> Result<Vec<u8>, DcmdError>;
}

impl ModuleMemory for Session {
    fn read(&mut self, addr: u64, len: usize, what: &str) -> Result<Vec<u8>, DcmdError> {
        self.read_bytes(VirtAddr(addr), len, Some(what))
    }
    fn read_some(&mut self, addr: u64, len: usize) -> Result<Vec<u8>, DcmdError> {
        Ok(self.read_partial(VirtAddr(addr), len)?.data)
    }
}

fn u64_at(b: &[u8], off: u64) -> u64 {
    let o = off as usize;
    b.get(o..o + 8)
        .map_or(0, |s| u64::from_le_bytes(s.try_into().unwrap_or([0; 8])))
}

fn u32_at(b: &[u8], off: u64) -> u64 {
    let o = off as usize;
    b.get(o..o + 4).map_or(0, |s| {
        u32::from_le_bytes(s.try_into().unwrap_or([0; 4])) as u64
    })
}

fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Decodes the `struct module` at `addr` from its first bytes.
pub fn decode_module(addr: u64, b: &[u8], l: &ModuleLayout) -> Module {
    let name = cstr(
        b.get(l.name as usize..(l.name + l.name_len) as usize)
            .unwrap_or(&[]),
    );
    let state_v = u32_at(b, l.state);
    let unformed = l
        .states
        .iter()
        .any(|(v, n)| *v == state_v && n == "MODULE_STATE_UNFORMED");
    let (base, size, text_size, regions) = match l.mem {
        MemLayout::Mem {
            mem,
            count,
            stride,
            base,
            size,
            text,
        } => {
            let mut total = 0u64;
            let mut regions = Vec::new();
            for i in 0..count {
                let b0 = u64_at(b, mem + i * stride + base);
                let s = u32_at(b, mem + i * stride + size);
                total = total.wrapping_add(s);
                if b0 != 0 && s != 0 {
                    regions.push((b0, b0.saturating_add(s)));
                }
            }
            let tb = u64_at(b, mem + text * stride + base);
            let ts = u32_at(b, mem + text * stride + size);
            (tb, total, ts, regions)
        }
        MemLayout::Layout {
            core,
            init,
            base,
            size,
            text_size,
        } => {
            let mut regions = Vec::new();
            let cb = u64_at(b, core + base);
            let cs = u32_at(b, core + size);
            let mut total = cs;
            if cb != 0 && cs != 0 {
                regions.push((cb, cb.saturating_add(cs)));
            }
            if let Some(i) = init {
                let ib = u64_at(b, i + base);
                let is = u32_at(b, i + size);
                total = total.wrapping_add(is);
                if ib != 0 && is != 0 {
                    regions.push((ib, ib.saturating_add(is)));
                }
            }
            (cb, total, u32_at(b, core + text_size), regions)
        }
    };
    Module {
        addr,
        name,
        state: l.state_name(state_v),
        unformed,
        base,
        size,
        text_size,
        regions,
        kallsyms: l.kallsyms.map_or(0, |k| u64_at(b, k)),
    }
}

/// Walks the `modules` list from its head at `head`, at most `limit` modules.
pub fn walk_modules(
    mem: &mut dyn ModuleMemory,
    l: &ModuleLayout,
    head: u64,
    limit: u64,
) -> Result<ModuleList, DcmdError> {
    let mut out = ModuleList::default();
    let mut next = match mem.read(head, 8, "modules list head") {
        Ok(b) => u64_at(&b, 0),
        Err(e) if e.ends_command() => return Err(e),
        Err(e) => {
            out.problems.push(format!("modules: {e}"));
            return Ok(out);
        }
    };
    let mut seen = HashSet::new();
    let len = l.prefix() as usize;
    while next != head {
        if next == 0 || !seen.insert(next) {
            let why = if next == 0 {
                "a NULL next pointer"
            } else {
                "a cycle"
            };
            out.problems.push(format!(
                "modules at {head:x}: {why} at node {next:x}; the rest of the list is skipped"
            ));
            break;
        }
        if out.modules.len() as u64 >= limit {
            out.problems
                .push("modules: stopped at the walk limit".to_string());
            break;
        }
        let addr = next.wrapping_sub(l.list);
        match mem.read(addr, len, "struct module") {
            Ok(b) => {
                next = u64_at(&b, l.list);
                out.modules.push(decode_module(addr, &b, l));
            }
            Err(e) if e.ends_command() => return Err(e),
            Err(e) => {
                out.problems.push(format!(
                    "modules: module {addr:x}: {e}; the rest of the list is skipped"
                ));
                break;
            }
        }
    }
    Ok(out)
}

/// One module symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleSymbol {
    pub addr: u64,
    pub name: String,
    pub module: String,
}

/// Every loaded module's symbols, by address, with each module's memory regions.
#[derive(Debug, Clone, Default)]
pub struct ModuleSymbols {
    /// Sorted by address.
    syms: Vec<ModuleSymbol>,
    /// `[start, end)` and the module's name; sorted.
    regions: Vec<(u64, u64, String)>,
}

impl ModuleSymbols {
    /// Builds the table from symbols and module regions in any order.
    pub fn new(mut syms: Vec<ModuleSymbol>, mut regions: Vec<(u64, u64, String)>) -> Self {
        syms.sort_by(|a, b| a.addr.cmp(&b.addr).then_with(|| a.name.cmp(&b.name)));
        regions.sort();
        ModuleSymbols { syms, regions }
    }

    pub fn len(&self) -> usize {
        self.syms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.syms.is_empty()
    }

    /// The module whose memory holds `addr`.
    pub fn module_at(&self, addr: u64) -> Option<&str> {
        self.regions
            .iter()
            .find(|(s, e, _)| (*s..*e).contains(&addr))
            .map(|(_, _, n)| n.as_str())
    }

    pub fn symbols(&self) -> &[ModuleSymbol] {
        &self.syms
    }
}

impl SymbolLookup for ModuleSymbols {
    /// The first module symbol called `name`.
    fn lookup_name(&self, name: &str) -> Option<VirtAddr> {
        self.syms
            .iter()
            .find(|s| s.name == name)
            .map(|s| VirtAddr(s.addr))
    }

    /// The nearest symbol at or below `addr` in the same module, named as mdb names
    /// module symbols: ``module`func`` (printed ``module`func+0x10``).
    fn lookup_addr(&self, addr: VirtAddr) -> Option<SymbolHit> {
        let module = self.module_at(addr.0)?;
        let i = self.syms.partition_point(|s| s.addr <= addr.0);
        let s = self.syms[..i].iter().rev().find(|s| s.module == module)?;
        let region_start = self
            .regions
            .iter()
            .find(|(st, e, n)| n == module && (*st..*e).contains(&addr.0))
            .map_or(0, |r| r.0);
        if s.addr < region_start {
            return None;
        }
        Some(SymbolHit {
            name: format!("{module}`{}", s.name),
            offset: addr.0 - s.addr,
        })
    }
}

/// Reads `m`'s own kallsyms: `mod->kallsyms->{symtab, num_symtab, strtab}`.
pub fn read_module_symbols(
    mem: &mut dyn ModuleMemory,
    l: &ModuleLayout,
    m: &Module,
) -> Result<Vec<ModuleSymbol>, DcmdError> {
    if m.kallsyms == 0 {
        return Ok(Vec::new());
    }
    let ks = mem.read(
        m.kallsyms,
        (l.ks_strtab.max(l.ks_num).max(l.ks_symtab) + 8) as usize,
        "struct mod_kallsyms",
    )?;
    let symtab = u64_at(&ks, l.ks_symtab);
    let num = u32_at(&ks, l.ks_num).min(MAX_MODULE_SYMBOLS);
    let strtab = u64_at(&ks, l.ks_strtab);
    if num == 0 || symtab == 0 || strtab == 0 {
        return Ok(Vec::new());
    }
    let raw = mem.read(symtab, (num * ELF64_SYM) as usize, "module symtab")?;
    let entries: Vec<(u64, u64, u16)> = raw
        .chunks_exact(ELF64_SYM as usize)
        .map(|e| (u32_at(e, 0), u64_at(e, 8), u16::from_le_bytes([e[6], e[7]])))
        .collect();
    let max_name = entries.iter().map(|e| e.0).max().unwrap_or(0);
    let want = (max_name + MAX_NAME as u64).min(MAX_STRTAB);
    let strings = mem.read_some(strtab, want as usize)?;
    let mut out = Vec::new();
    for (name_off, value, shndx) in entries {
        if value == 0 || shndx == 0 {
            continue;
        }
        let Some(b) = strings.get(name_off as usize..) else {
            continue;
        };
        let name = cstr(&b[..b.len().min(MAX_NAME)]);
        if name.is_empty() {
            continue;
        }
        out.push(ModuleSymbol {
            addr: value,
            name,
            module: m.name.clone(),
        });
    }
    Ok(out)
}

/// Every module's symbols; a module whose kallsyms cannot be read is reported and skipped.
pub fn load_symbols(
    mem: &mut dyn ModuleMemory,
    l: &ModuleLayout,
    list: &ModuleList,
) -> Result<(ModuleSymbols, Vec<String>), DcmdError> {
    let mut syms = Vec::new();
    let mut regions = Vec::new();
    let mut problems = Vec::new();
    for m in list.modules.iter().filter(|m| !m.unformed) {
        for &(s, e) in &m.regions {
            regions.push((s, e, m.name.clone()));
        }
        match read_module_symbols(mem, l, m) {
            Ok(s) => syms.extend(s),
            Err(e) if e.ends_command() => return Err(e),
            Err(e) => problems.push(format!("module {}: symbols: {e}", m.name)),
        }
    }
    Ok((ModuleSymbols::new(syms, regions), problems))
}

/// Module symbols over the kernel's: names resolve in the kernel first, then the modules;
/// an address inside a module's memory is named from that module's symbols.
pub struct LayeredSymbols {
    pub kernel: Box<dyn SymbolLookup>,
    pub modules: std::sync::Arc<ModuleSymbols>,
}

impl SymbolLookup for LayeredSymbols {
    fn lookup_name(&self, name: &str) -> Option<VirtAddr> {
        self.kernel
            .lookup_name(name)
            .or_else(|| self.modules.lookup_name(name))
    }

    fn lookup_addr(&self, addr: VirtAddr) -> Option<SymbolHit> {
        if self.modules.module_at(addr.0).is_some() {
            return self.modules.lookup_addr(addr);
        }
        self.kernel.lookup_addr(addr)
    }
}

/// The session's module layout and list: the `modules` head from the kernel's symbols.
pub fn session_modules(
    session: &mut Session,
    cmd: &str,
) -> Result<(ModuleLayout, ModuleList), DcmdError> {
    let btf = crate::cmds::print::kernel_types(session, cmd)?;
    let layout = ModuleLayout::from_btf(&btf).map_err(|e| DcmdError::usage(cmd, e))?;
    let head = session
        .symbols()
        .lookup_name("modules")
        .ok_or_else(|| DcmdError::Corrupt("no symbol modules in the kernel".into()))?;
    let limit = session.walk_limit().min(100_000);
    let list = walk_modules(session, &layout, head.0, limit)?;
    Ok((layout, list))
}

/// Reads every module's symbols and installs them over the kernel's; returns the problems.
pub fn refresh_symbols(session: &mut Session, cmd: &str) -> Result<Vec<String>, DcmdError> {
    let (layout, list) = session_modules(session, cmd)?;
    let (syms, mut problems) = load_symbols(session, &layout, &list)?;
    problems.extend(list.problems);
    session.set_module_symbols(Some(std::sync::Arc::new(syms)));
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Sparse memory: reads outside written bytes fail.
    #[derive(Default)]
    struct Mem(BTreeMap<u64, u8>);

    impl Mem {
        fn put(&mut self, addr: u64, b: &[u8]) {
            for (i, &c) in b.iter().enumerate() {
                self.0.insert(addr + i as u64, c);
            }
        }
    }

    impl ModuleMemory for Mem {
        fn read(&mut self, addr: u64, len: usize, what: &str) -> Result<Vec<u8>, DcmdError> {
            let b = self.read_some(addr, len)?;
            if b.len() < len {
                return Err(DcmdError::Corrupt(format!(
                    "cannot read {what} at {addr:x}"
                )));
            }
            Ok(b)
        }
        fn read_some(&mut self, addr: u64, len: usize) -> Result<Vec<u8>, DcmdError> {
            let mut out = Vec::new();
            for a in addr..addr + len as u64 {
                match self.0.get(&a) {
                    Some(c) => out.push(*c),
                    None => break,
                }
            }
            Ok(out)
        }
    }

    fn layout() -> ModuleLayout {
        ModuleLayout {
            list: 8,
            name: 24,
            name_len: 16,
            state: 0,
            kallsyms: Some(40),
            mem: MemLayout::Mem {
                mem: 48,
                count: 2,
                stride: 16,
                base: 0,
                size: 8,
                text: 0,
            },
            ks_symtab: 0,
            ks_num: 8,
            ks_strtab: 16,
            states: vec![
                (0, "MODULE_STATE_LIVE".into()),
                (3, "MODULE_STATE_UNFORMED".into()),
            ],
        }
    }

    const HEAD: u64 = 0x1000;

    /// A module at `addr` linked to `next`, text at `text` (0x100 bytes), with kallsyms at
    /// `addr + 0x100` defining `name_fn` at `text + 0x10`.
    fn module(m: &mut Mem, addr: u64, next: u64, name: &str, text: u64) {
        let mut b = vec![0u8; 80];
        b[8..16].copy_from_slice(&next.to_le_bytes());
        b[24..24 + name.len()].copy_from_slice(name.as_bytes());
        b[40..48].copy_from_slice(&(addr + 0x100).to_le_bytes());
        b[48..56].copy_from_slice(&text.to_le_bytes());
        b[56..60].copy_from_slice(&0x100u32.to_le_bytes());
        b[64..72].copy_from_slice(&(text + 0x800).to_le_bytes());
        b[72..76].copy_from_slice(&0x80u32.to_le_bytes());
        m.put(addr, &b);
        let (symtab, strtab) = (addr + 0x200, addr + 0x300);
        let mut ks = vec![0u8; 24];
        ks[0..8].copy_from_slice(&symtab.to_le_bytes());
        ks[8..12].copy_from_slice(&2u32.to_le_bytes());
        ks[16..24].copy_from_slice(&strtab.to_le_bytes());
        m.put(addr + 0x100, &ks);
        let mut st = vec![0u8; 48];
        st[24..28].copy_from_slice(&1u32.to_le_bytes());
        st[30..32].copy_from_slice(&1u16.to_le_bytes());
        st[32..40].copy_from_slice(&(text + 0x10).to_le_bytes());
        m.put(symtab, &st);
        m.put(strtab, format!("\0{name}_fn\0").as_bytes());
    }

    #[test]
    fn walks_modules_and_symbols() {
        let mut m = Mem::default();
        m.put(HEAD, &(0x2000u64 + 8).to_le_bytes());
        module(&mut m, 0x2000, 0x3000 + 8, "alpha", 0xa000);
        module(&mut m, 0x3000, HEAD, "beta", 0xb000);
        let l = layout();
        let list = walk_modules(&mut m, &l, HEAD, 100).unwrap();
        assert!(list.problems.is_empty(), "{:?}", list.problems);
        let names: Vec<_> = list.modules.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["alpha", "beta"]);
        assert_eq!(list.modules[0].base, 0xa000);
        assert_eq!(list.modules[0].size, 0x180);
        assert_eq!(list.modules[0].text_size, 0x100);
        assert_eq!(list.modules[0].state, "Live");
        let (syms, problems) = load_symbols(&mut m, &l, &list).unwrap();
        assert!(problems.is_empty());
        assert_eq!(syms.len(), 2);
        assert_eq!(syms.lookup_name("beta_fn"), Some(VirtAddr(0xb010)));
        let hit = syms.lookup_addr(VirtAddr(0xb018)).unwrap();
        assert_eq!((hit.name.as_str(), hit.offset), ("beta`beta_fn", 8));
        assert_eq!(syms.lookup_addr(VirtAddr(0xb008)), None);
        assert_eq!(syms.lookup_addr(VirtAddr(0xc000)), None);
    }

    #[test]
    fn cycle_null_and_unreadable_are_reported() {
        let l = layout();
        // A cycle: beta points back at alpha.
        let mut m = Mem::default();
        m.put(HEAD, &(0x2000u64 + 8).to_le_bytes());
        module(&mut m, 0x2000, 0x3000 + 8, "alpha", 0xa000);
        module(&mut m, 0x3000, 0x2000 + 8, "beta", 0xb000);
        let list = walk_modules(&mut m, &l, HEAD, 100).unwrap();
        assert_eq!(list.modules.len(), 2);
        assert!(list.problems[0].contains("a cycle"), "{:?}", list.problems);
        // A NULL next.
        let mut m = Mem::default();
        m.put(HEAD, &(0x2000u64 + 8).to_le_bytes());
        module(&mut m, 0x2000, 0, "alpha", 0xa000);
        let list = walk_modules(&mut m, &l, HEAD, 100).unwrap();
        assert_eq!(list.modules.len(), 1);
        assert!(list.problems[0].contains("NULL"));
        // An unreadable module.
        let mut m = Mem::default();
        m.put(HEAD, &(0x9000u64 + 8).to_le_bytes());
        let list = walk_modules(&mut m, &l, HEAD, 100).unwrap();
        assert!(list.modules.is_empty());
        assert!(list.problems[0].contains("struct module"));
        // The walk limit.
        let mut m = Mem::default();
        m.put(HEAD, &(0x2000u64 + 8).to_le_bytes());
        module(&mut m, 0x2000, 0x3000 + 8, "alpha", 0xa000);
        module(&mut m, 0x3000, HEAD, "beta", 0xb000);
        let list = walk_modules(&mut m, &l, HEAD, 1).unwrap();
        assert_eq!(list.modules.len(), 1);
        assert!(list.problems[0].contains("limit"));
    }

    #[test]
    fn corrupt_kallsyms_is_bounded_and_skipped() {
        let l = layout();
        let mut m = Mem::default();
        m.put(HEAD, &(0x2000u64 + 8).to_le_bytes());
        module(&mut m, 0x2000, HEAD, "alpha", 0xa000);
        // num_symtab huge: capped, and the unreadable symtab is a problem, not a failure.
        m.put(0x2108, &u32::MAX.to_le_bytes());
        let list = walk_modules(&mut m, &l, HEAD, 100).unwrap();
        let (syms, problems) = load_symbols(&mut m, &l, &list).unwrap();
        assert!(syms.is_empty());
        assert_eq!(problems.len(), 1, "{problems:?}");
    }
}
