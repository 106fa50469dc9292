//! Loaded kernel modules: the `modules` list, each module's memory, its own kallsyms
//! ([`symbols`]) and its ORC table ([`orc`]).
//!
//! Offsets come from BTF by member name: 6.4+ kernels describe a module's memory as
//! `mem[MOD_TEXT..]` (`struct module_memory {base, size}`), older ones as `core_layout` /
//! `init_layout` (`struct module_layout {base, size, text_size}`). Everything read is guest
//! data: the list walk is bounded and cycle-checked, symbol and ORC counts and string
//! lengths are capped, and a module whose symbols or ORC table cannot be read is reported
//! and skipped.
//!
//! [`ModuleSymbols`] holds every module's symbols; [`LayeredSymbols`] puts them over the
//! kernel's, so that `symbol+offset` output and expressions know module addresses.
//! [`load_orcs`] gives the unwinder each module's text and ORC table.

pub mod orc;
pub mod symbols;
pub mod table;

pub use orc::{load_orcs, read_module_orc, MAX_MODULE_ORCS};
pub use symbols::{
    frame_symbol, fresh_symbols, load_symbols, read_module_symbols, refresh_symbols, FrameSymbol,
    LayeredSymbols, ModuleSymbol, ModuleSymbols, MAX_MODULE_SYMBOLS, MAX_STRTAB,
};

use super::layout::{find_member, find_struct, struct_size, LayoutError};
use crate::memory::GuestMemory;
use crate::Error;
use crate::Program;
use qmdb_bridge::VirtAddr;
use qmdb_kernel::btf::{Btf, TypeId};
use std::collections::HashSet;

/// Where a module's memory is described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemLayout {
    /// 6.4+: `mem[]`, an array of `struct module_memory`; `text` is `MOD_TEXT`'s index,
    /// `init_text` `MOD_INIT_TEXT`'s.
    Mem {
        mem: u64,
        count: u64,
        stride: u64,
        base: u64,
        size: u64,
        text: u64,
        init_text: Option<u64>,
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
    /// `struct mod_kallsyms`: `symtab`, `num_symtab`, `strtab`, `typetab` (5.x+).
    pub ks_symtab: u64,
    pub ks_num: u64,
    pub ks_strtab: u64,
    pub ks_typetab: Option<u64>,
    /// `enum module_state`'s names, by value.
    pub states: Vec<(u64, String)>,
    /// `mod->arch`'s ORC fields, when the kernel has them.
    pub orc: Option<OrcLayout>,
}

/// Offsets in `struct module` of `arch.num_orcs`, `arch.orc_unwind_ip`, `arch.orc_unwind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrcLayout {
    pub num: u64,
    pub ip: u64,
    pub unwind: u64,
}

/// A module's ORC table, as `mod->arch` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModuleOrcRef {
    /// `num_orcs`.
    pub num: u64,
    /// `orc_unwind_ip`: `num` place-relative s32 ips.
    pub ip: u64,
    /// `orc_unwind`: `num` 6-byte entries.
    pub unwind: u64,
}

fn off(btf: &Btf, id: TypeId, sname: &str, path: &str) -> Result<(u64, u64), LayoutError> {
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
    pub fn from_btf(btf: &Btf) -> Result<ModuleLayout, LayoutError> {
        let m = find_struct(btf, "module")?;
        let list = off(btf, m, "module", "list")?.0;
        let (name, name_len) = off(btf, m, "module", "name")?;
        let state = off(btf, m, "module", "state")?.0;
        let kallsyms = off(btf, m, "module", "kallsyms").ok().map(|f| f.0);
        let mem = if let Ok((mem, total)) = off(btf, m, "module", "mem") {
            let mm = find_struct(btf, "module_memory")?;
            let stride = struct_size(btf, mm, "module_memory")?;
            let types = enum_values(btf, "mod_mem_type");
            let index = |name: &str| types.iter().find(|(_, n)| n == name).map(|(v, _)| *v);
            MemLayout::Mem {
                mem,
                count: total.checked_div(stride).unwrap_or(0),
                stride,
                base: off(btf, mm, "module_memory", "base")?.0,
                size: off(btf, mm, "module_memory", "size")?.0,
                text: index("MOD_TEXT").unwrap_or(0),
                init_text: index("MOD_INIT_TEXT"),
            }
        } else {
            let core = off(btf, m, "module", "core_layout")
                .map_err(|_| LayoutError::Neither {
                    sname: "module".into(),
                    first: "mem".into(),
                    second: "core_layout".into(),
                })?
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
            ks_typetab: off(btf, ks, "mod_kallsyms", "typetab").ok().map(|f| f.0),
            states: enum_values(btf, "module_state"),
            orc: match (
                off(btf, m, "module", "arch.num_orcs"),
                off(btf, m, "module", "arch.orc_unwind_ip"),
                off(btf, m, "module", "arch.orc_unwind"),
            ) {
                (Ok(n), Ok(i), Ok(u)) => Some(OrcLayout {
                    num: n.0,
                    ip: i.0,
                    unwind: u.0,
                }),
                _ => None,
            },
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
        if let Some(o) = self.orc {
            end = end.max(o.num + 4).max(o.ip + 8).max(o.unwind + 8);
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
    /// `mod->name`.
    pub name: String,
    /// Its state as `/proc/modules` prints it (`Live`, `Loading`...).
    pub state: String,
    /// Whether the module is still being set up (`MODULE_STATE_UNFORMED`).
    pub unformed: bool,
    /// The text base, as `/proc/modules` prints it.
    pub base: u64,
    /// Every region's size added up, as `/proc/modules` prints it.
    pub size: u64,
    /// The core text's size.
    pub text_size: u64,
    /// The module's memory regions, `[start, end)`.
    pub regions: Vec<(u64, u64)>,
    /// Its text (core, and init text while it is there), `[start, end)`.
    pub text: Vec<(u64, u64)>,
    /// `mod->kallsyms`, 0 when none.
    pub kallsyms: u64,
    /// `mod->arch`'s ORC table, when the kernel has the fields.
    pub orc: Option<ModuleOrcRef>,
}

/// The modules found and what was skipped.
#[derive(Debug, Clone, Default)]
pub struct ModuleList {
    /// The modules, in list order.
    pub modules: Vec<Module>,
    /// What was skipped and why, one line each.
    pub problems: Vec<String>,
}

/// The little-endian `u64` at `off` of a module's bytes; 0 past the end.
pub(crate) fn u64_at(b: &[u8], off: u64) -> u64 {
    crate::memory::u64_at(b, off)
}

/// The little-endian `u32` at `off` of a module's bytes, widened; 0 past the end.
pub(crate) fn u32_at(b: &[u8], off: u64) -> u64 {
    u64::from(crate::memory::u32_at(b, off))
}

pub(crate) fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(b.get(..end).unwrap_or(b)).into_owned()
}

/// Decodes the `struct module` at `addr` from its first bytes.
pub fn decode_module(addr: u64, b: &[u8], l: &ModuleLayout) -> Module {
    let name = usize::try_from(l.name)
        .ok()
        .zip(usize::try_from(l.name.saturating_add(l.name_len)).ok())
        .and_then(|(s, e)| b.get(s..e))
        .map_or_else(String::new, cstr);
    let state_v = u32_at(b, l.state);
    let unformed = l
        .states
        .iter()
        .any(|(v, n)| *v == state_v && n == "MODULE_STATE_UNFORMED");
    let mut text_ranges = Vec::new();
    let mut add_text = |base: u64, len: u64| {
        if base != 0 && len != 0 {
            text_ranges.push((base, base.saturating_add(len)));
        }
    };
    let (base, size, text_size, regions) = match l.mem {
        MemLayout::Mem {
            mem,
            count,
            stride,
            base,
            size,
            text,
            init_text,
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
            add_text(tb, ts);
            if let Some(it) = init_text.filter(|&i| i < count) {
                add_text(
                    u64_at(b, mem + it * stride + base),
                    u32_at(b, mem + it * stride + size),
                );
            }
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
            let cts = u32_at(b, core + text_size);
            add_text(cb, cts.min(cs));
            let mut total = cs;
            if cb != 0 && cs != 0 {
                regions.push((cb, cb.saturating_add(cs)));
            }
            if let Some(i) = init {
                let ib = u64_at(b, i + base);
                let is = u32_at(b, i + size);
                add_text(ib, u32_at(b, i + text_size).min(is));
                total = total.wrapping_add(is);
                if ib != 0 && is != 0 {
                    regions.push((ib, ib.saturating_add(is)));
                }
            }
            (cb, total, cts, regions)
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
        text: text_ranges,
        kallsyms: l.kallsyms.map_or(0, |k| u64_at(b, k)),
        orc: l.orc.map(|o| ModuleOrcRef {
            num: u32_at(b, o.num),
            ip: u64_at(b, o.ip),
            unwind: u64_at(b, o.unwind),
        }),
    }
}

/// Walks the `modules` list from its head at `head`, at most `limit` modules.
pub fn walk_modules(
    mem: &mut dyn GuestMemory,
    l: &ModuleLayout,
    head: u64,
    limit: u64,
) -> Result<ModuleList, Error> {
    let mut out = ModuleList::default();
    let mut next = match mem.read_u64(VirtAddr(head), Some("modules list head")) {
        Ok(n) => n,
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
        match mem.read_bytes(VirtAddr(addr), len, Some("struct module")) {
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

/// The program's module layout and list: the `modules` head from the kernel's symbols.
pub fn session_modules(
    program: &mut Program,
    cmd: &str,
) -> Result<(ModuleLayout, ModuleList), Error> {
    let btf = program.types()?;
    let layout = ModuleLayout::from_btf(&btf).map_err(|e| Error::layout(cmd, e))?;
    let head = program
        .symbols()
        .lookup_name("modules")
        .ok_or_else(|| Error::Corrupt("no symbol modules in the kernel".into()))?;
    let limit = program.walk_limit().min(100_000);
    let list = walk_modules(program, &layout, head.0, limit)?;
    Ok((layout, list))
}

#[cfg(test)]
mod tests {
    use super::*;
    use qmdb_kernel::symbols::SymbolLookup;
    use qmdb_unwind::{ModuleLookup, OrcEntry, OrcFormat};

    type Mem = crate::mock::SparseMemory;

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
                init_text: None,
            },
            ks_symtab: 0,
            ks_num: 8,
            ks_strtab: 16,
            ks_typetab: Some(24),
            orc: Some(OrcLayout {
                num: 80,
                ip: 88,
                unwind: 96,
            }),
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
        let mut b = vec![0u8; 104];
        b[8..16].copy_from_slice(&next.to_le_bytes());
        b[24..24 + name.len()].copy_from_slice(name.as_bytes());
        b[40..48].copy_from_slice(&(addr + 0x100).to_le_bytes());
        b[48..56].copy_from_slice(&text.to_le_bytes());
        b[56..60].copy_from_slice(&0x100u32.to_le_bytes());
        b[64..72].copy_from_slice(&(text + 0x800).to_le_bytes());
        b[72..76].copy_from_slice(&0x80u32.to_le_bytes());
        m.put(addr, &b);
        let (symtab, strtab) = (addr + 0x200, addr + 0x300);
        let mut ks = vec![0u8; 32];
        ks[0..8].copy_from_slice(&symtab.to_le_bytes());
        ks[8..12].copy_from_slice(&2u32.to_le_bytes());
        ks[16..24].copy_from_slice(&strtab.to_le_bytes());
        ks[24..32].copy_from_slice(&(addr + 0x380).to_le_bytes());
        m.put(addr + 0x100, &ks);
        m.put(addr + 0x380, b"?t");
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
        let (s, off) = syms.lookup(0xb018).unwrap();
        assert_eq!((s.name.as_str(), s.kind, off), ("beta_fn", 't', 8));
        assert!(syms.matches(&list));
        let mut fewer = list.clone();
        fewer.modules.pop();
        assert!(!syms.matches(&fewer));
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

    /// Module `alpha` with a three-entry ORC table at `0x4000` (ips) and `0x4100` (entries),
    /// place-relative as the kernel leaves them after sorting.
    fn module_with_orc(m: &mut Mem, entries: &[(u64, OrcEntry)]) {
        module(m, 0x2000, HEAD, "alpha", 0xa000);
        m.put(0x2000 + 80, &(entries.len() as u32).to_le_bytes());
        m.put(0x2000 + 88, &0x4000u64.to_le_bytes());
        m.put(0x2000 + 96, &0x4100u64.to_le_bytes());
        for (i, (ip, e)) in entries.iter().enumerate() {
            let place = 0x4000 + 4 * i as u64;
            m.put(place, &((ip.wrapping_sub(place)) as i32).to_le_bytes());
            m.put(0x4100 + 6 * i as u64, &e.encode(OrcFormat::Current));
        }
    }

    #[test]
    fn module_orc_tables() {
        let l = layout();
        let mut m = Mem::default();
        m.put(HEAD, &(0x2000u64 + 8).to_le_bytes());
        let entries = [
            (0xa000, OrcEntry::call(8)),
            (0xa010, OrcEntry::call(24)),
            (0xa0f0, OrcEntry::call(8)),
        ];
        module_with_orc(&mut m, &entries);
        let list = walk_modules(&mut m, &l, HEAD, 100).unwrap();
        assert_eq!(list.modules[0].text, [(0xa000, 0xa100)]);
        let (orcs, problems) = load_orcs(&mut m, &list, Some(OrcFormat::Current)).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            orcs.lookup(0xa014),
            ModuleLookup::Module(Some(OrcEntry::call(24)))
        );
        assert_eq!(orcs.lookup(0xb000), ModuleLookup::NotModule);
        assert!(orcs.is_text(0xa0ff) && !orcs.is_text(0xa100));

        // Unsorted ips, or an unreadable table: reported, and the module keeps its text
        // without a table.
        let mut bad = Mem::default();
        bad.put(HEAD, &(0x2000u64 + 8).to_le_bytes());
        module_with_orc(
            &mut bad,
            &[(0xa010, OrcEntry::call(8)), (0xa000, OrcEntry::call(8))],
        );
        let list = walk_modules(&mut bad, &l, HEAD, 100).unwrap();
        let (orcs, problems) = load_orcs(&mut bad, &list, Some(OrcFormat::Current)).unwrap();
        assert!(problems[0].contains("not sorted"), "{problems:?}");
        assert_eq!(orcs.lookup(0xa014), ModuleLookup::Module(None));
        bad.put(0x2000 + 80, &u32::MAX.to_le_bytes());
        let list = walk_modules(&mut bad, &l, HEAD, 100).unwrap();
        let (_, problems) = load_orcs(&mut bad, &list, Some(OrcFormat::Current)).unwrap();
        assert!(problems[0].contains("num_orcs"), "{problems:?}");
        bad.put(0x2000 + 80, &40u32.to_le_bytes());
        let list = walk_modules(&mut bad, &l, HEAD, 100).unwrap();
        let (_, problems) = load_orcs(&mut bad, &list, Some(OrcFormat::Current)).unwrap();
        assert!(problems[0].contains("4000"), "{problems:?}");
    }
}
