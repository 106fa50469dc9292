//! Per-CPU data: which CPUs exist and where each one's copy of a per-CPU variable is.

use crate::error::DcmdError;
use crate::session::Session;
use qmdb_bridge::VirtAddr;

/// The bound on CPUs read (the kernel's `NR_CPUS` on Debian is 8192).
pub const MAX_CPUS: u32 = 8192;

/// The online CPUs and their per-CPU offsets (`__per_cpu_offset[cpu]`).
///
/// A per-CPU variable's copy for `cpu` is at its symbol's value plus the offset; on x86_64
/// the offset is also the `gs` base of that CPU while it runs kernel code, which is how a
/// vCPU is matched to a CPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerCpu {
    /// `(cpu, offset)` for each online CPU, by CPU number.
    cpus: Vec<(u32, u64)>,
}

impl PerCpu {
    /// Reads `nr_cpu_ids`, `__cpu_online_mask` and `__per_cpu_offset` from the guest.
    pub fn read(session: &mut Session) -> Result<PerCpu, DcmdError> {
        let sym = |session: &mut Session, name: &str| {
            session
                .symbols()
                .lookup_name(name)
                .ok_or_else(|| DcmdError::Corrupt(format!("no symbol {name} in the kernel")))
        };
        let nr_addr = sym(session, "nr_cpu_ids")?;
        let nr = session.read_bytes(nr_addr, 4, Some("nr_cpu_ids"))?;
        let nr = nr
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_le_bytes);
        if nr == 0 || nr > MAX_CPUS {
            return Err(DcmdError::Corrupt(format!(
                "nr_cpu_ids at {nr_addr} is {nr}: not a CPU count"
            )));
        }
        let words = nr.div_ceil(64) as usize;
        let online = match sym(session, "__cpu_online_mask") {
            Ok(a) => Some(session.read_bytes(a, words * 8, Some("__cpu_online_mask"))?),
            Err(_) => None,
        };
        let offsets_addr = sym(session, "__per_cpu_offset")?;
        let raw = session.read_bytes(offsets_addr, nr as usize * 8, Some("__per_cpu_offset"))?;
        let cpus = raw
            .chunks_exact(8)
            .enumerate()
            .filter_map(|(cpu, w)| {
                let cpu = cpu as u32;
                let is_online = online.as_ref().is_none_or(|m| {
                    m.get((cpu / 8) as usize)
                        .is_some_and(|b| b & (1 << (cpu % 8)) != 0)
                });
                let off = u64::from_le_bytes(w.try_into().ok()?);
                is_online.then_some((cpu, off))
            })
            .collect();
        Ok(PerCpu { cpus })
    }

    /// A table given directly (tests).
    pub fn from_offsets(cpus: Vec<(u32, u64)>) -> PerCpu {
        PerCpu { cpus }
    }

    /// The online CPUs, in order.
    pub fn cpus(&self) -> impl Iterator<Item = u32> + '_ {
        self.cpus.iter().map(|&(c, _)| c)
    }

    /// `cpu`'s copy of the per-CPU variable whose symbol value is `var`.
    pub fn ptr(&self, cpu: u32, var: VirtAddr) -> Option<VirtAddr> {
        self.cpus
            .iter()
            .find(|&&(c, _)| c == cpu)
            .map(|&(_, off)| VirtAddr(var.0.wrapping_add(off)))
    }

    /// The CPU whose per-CPU offset is `base` (a vCPU's kernel `gs` base).
    pub fn cpu_of_base(&self, base: u64) -> Option<u32> {
        self.cpus
            .iter()
            .find(|&&(_, off)| off == base && base != 0)
            .map(|&(c, _)| c)
    }
}
