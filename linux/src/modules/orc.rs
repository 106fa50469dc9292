//! Module ORC tables: `mod->arch.{num_orcs, orc_unwind_ip, orc_unwind}`, which the kernel
//! sorted when it loaded the module (`unwind_module_init`). `orc_unwind_ip[i]` is
//! place-relative (ip = `&orc_unwind_ip[i]` + value) and `orc_unwind` holds entries in the
//! kernel's own format, so a module's table is an [`OrcTable`] at runtime addresses.

use super::{Module, ModuleList};
use crate::memory::GuestMemory;
use crate::Error;
use qmdb_bridge::VirtAddr;
use qmdb_unwind::{ModuleOrc, ModuleOrcs, OrcFormat, OrcTable};

/// At most this many ORC entries are read from one module (a large module such as a GPU
/// driver has ~100 000).
pub const MAX_MODULE_ORCS: u64 = 1 << 20;

/// Reads `m`'s ORC table: `Ok(None)` when it has none (no ORC in the kernel, or
/// `num_orcs` is 0); the error names the module and the address that failed.
pub fn read_module_orc(
    mem: &mut dyn GuestMemory,
    m: &Module,
    format: OrcFormat,
) -> Result<Option<OrcTable>, Error> {
    let Some(o) = m.orc else {
        return Ok(None);
    };
    if o.num == 0 || o.ip == 0 || o.unwind == 0 {
        return Ok(None);
    }
    if o.num > MAX_MODULE_ORCS {
        return Err(Error::Corrupt(format!(
            "module {} at {:x}: num_orcs {} is more than qmdb reads ({MAX_MODULE_ORCS})",
            m.name, m.addr, o.num
        )));
    }
    let ips = mem.read_bytes(
        VirtAddr(o.ip),
        (o.num * 4) as usize,
        Some("module orc_unwind_ip"),
    )?;
    let entries = mem.read_bytes(
        VirtAddr(o.unwind),
        (o.num * 6) as usize,
        Some("module orc_unwind"),
    )?;
    let table = OrcTable::from_sections(o.ip, &ips, &entries, format)
        .map_err(|e| Error::Corrupt(format!("module {}: ORC table at {:x}: {e}", m.name, o.ip)))?;
    Ok(Some(table))
}

/// Every module's text and ORC table (entries in the kernel's `format`, `None` for a
/// kernel without ORC). A module whose table cannot be read is reported and kept without
/// one: its frames are then unwound as the kernel would without ORC data (by frame
/// pointer, unreliable).
pub fn load_orcs(
    mem: &mut dyn GuestMemory,
    list: &ModuleList,
    format: Option<OrcFormat>,
) -> Result<(ModuleOrcs, Vec<String>), Error> {
    let mut modules = Vec::new();
    let mut problems = Vec::new();
    for m in list
        .modules
        .iter()
        .filter(|m| !m.unformed && !m.text.is_empty())
    {
        let table = match format.map(|f| read_module_orc(mem, m, f)) {
            None => None,
            Some(Ok(t)) => t,
            Some(Err(e)) if e.ends_command() => return Err(e),
            Some(Err(e)) => {
                problems.push(format!("module {}: ORC: {e}", m.name));
                None
            }
        };
        modules.push(ModuleOrc {
            name: m.name.clone(),
            text: m.text.iter().map(|&(s, e)| s..e).collect(),
            table,
        });
    }
    Ok((ModuleOrcs::new(modules), problems))
}
