//! Per-CPU data: which CPUs exist and where each one's copy of a per-CPU variable is.

use crate::Error;
use crate::Program;
use qmdb_bridge::VirtAddr;

/// The bound on CPUs read (the kernel's `NR_CPUS` on Debian is 8192).
pub const MAX_CPUS: u32 = 8192;

/// The possible CPUs, their per-CPU offsets (`__per_cpu_offset[cpu]`) and whether each is
/// online.
///
/// A per-CPU variable's copy for `cpu` is at its symbol's value plus the offset; the offset
/// is also held in a register of that CPU (on x86_64 the `gs` base while it runs kernel
/// code, see `crate::arch`), which is how a vCPU is matched to a CPU. Every possible CPU counts, not only online ones: a CPU stopped
/// by `panic()`'s `smp_send_stop()` (or taken down by hotplug) is cleared from
/// `cpu_online_mask`, yet its per-CPU area, run queue and stacks are all still there, and a
/// vCPU halted in it still has that CPU's `gs` base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerCpu {
    cpus: Vec<CpuSlot>,
}

/// One possible CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CpuSlot {
    cpu: u32,
    offset: u64,
    online: bool,
}

/// Bit `cpu` of a cpumask read as bytes; `None` when the mask is absent (every CPU counts).
fn mask_has(mask: Option<&[u8]>, cpu: u32) -> bool {
    mask.is_none_or(|m| {
        m.get((cpu / 8) as usize)
            .is_some_and(|b| b & (1 << (cpu % 8)) != 0)
    })
}

impl PerCpu {
    /// Reads `nr_cpu_ids`, `__cpu_possible_mask`, `__cpu_online_mask` and
    /// `__per_cpu_offset` from the guest.
    pub fn read(program: &mut Program) -> Result<PerCpu, Error> {
        let sym = |program: &mut Program, name: &str| {
            program
                .symbols()
                .lookup_name(name)
                .ok_or_else(|| Error::Corrupt(format!("no symbol {name} in the kernel")))
        };
        let nr_addr = sym(program, "nr_cpu_ids")?;
        let nr = program.read_bytes(nr_addr, 4, Some("nr_cpu_ids"))?;
        let nr = nr
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_le_bytes);
        if nr == 0 || nr > MAX_CPUS {
            return Err(Error::Corrupt(format!(
                "nr_cpu_ids at {nr_addr} is {nr}: not a CPU count"
            )));
        }
        let words = nr.div_ceil(64) as usize;
        let mask = |program: &mut Program, name: &'static str| match sym(program, name) {
            Ok(a) => program.read_bytes(a, words * 8, Some(name)).map(Some),
            Err(_) => Ok(None),
        };
        let possible = mask(program, "__cpu_possible_mask")?;
        let online = mask(program, "__cpu_online_mask")?;
        let offsets_addr = sym(program, "__per_cpu_offset")?;
        let raw = program.read_bytes(offsets_addr, nr as usize * 8, Some("__per_cpu_offset"))?;
        Ok(PerCpu::from_raw(
            &raw,
            possible.as_deref(),
            online.as_deref(),
        ))
    }

    /// From the raw `__per_cpu_offset` array and the possible and online masks (`None`:
    /// unknown, every CPU counts).
    pub fn from_raw(offsets: &[u8], possible: Option<&[u8]>, online: Option<&[u8]>) -> PerCpu {
        let cpus = offsets
            .chunks_exact(8)
            .enumerate()
            .filter_map(|(cpu, w)| {
                let cpu = u32::try_from(cpu).ok()?;
                let offset = u64::from_le_bytes(w.try_into().ok()?);
                mask_has(possible, cpu).then_some(CpuSlot {
                    cpu,
                    offset,
                    online: mask_has(online, cpu),
                })
            })
            .collect();
        PerCpu { cpus }
    }

    /// A table given directly, every CPU online (tests).
    pub fn from_offsets(cpus: Vec<(u32, u64)>) -> PerCpu {
        let cpus = cpus
            .into_iter()
            .map(|(cpu, offset)| CpuSlot {
                cpu,
                offset,
                online: true,
            })
            .collect();
        PerCpu { cpus }
    }

    /// The possible CPUs, in order, online or not.
    pub fn cpus(&self) -> impl Iterator<Item = u32> + '_ {
        self.cpus.iter().map(|s| s.cpu)
    }

    /// Whether `cpu` is in `cpu_online_mask`; `None` if it is not a possible CPU.
    pub fn is_online(&self, cpu: u32) -> Option<bool> {
        self.slot(cpu).map(|s| s.online)
    }

    fn slot(&self, cpu: u32) -> Option<&CpuSlot> {
        self.cpus.iter().find(|s| s.cpu == cpu)
    }

    /// `cpu`'s copy of the per-CPU variable whose symbol value is `var`.
    pub fn ptr(&self, cpu: u32, var: VirtAddr) -> Option<VirtAddr> {
        self.slot(cpu)
            .map(|s| VirtAddr(var.0.wrapping_add(s.offset)))
    }

    /// The CPU whose per-CPU offset is `base` (a vCPU's kernel `gs` base), online or not.
    /// Early in boot (before `setup_per_cpu_areas()`) every possible CPU still has the boot
    /// offset, which is also CPU 0's gs base: a base shared by several CPUs is the one online
    /// CPU among them, or none.
    pub fn cpu_of_base(&self, base: u64) -> Option<u32> {
        if base == 0 {
            return None;
        }
        let only = |online_only: bool| {
            let mut hits = self
                .cpus
                .iter()
                .filter(|s| s.offset == base && (s.online || !online_only));
            match (hits.next(), hits.next()) {
                (Some(s), None) => Some(s),
                _ => None,
            }
        };
        only(false).or_else(|| only(true)).map(|s| s.cpu)
    }

    /// The CPU of the first of `bases` (per-CPU bases a vCPU's registers may hold, the
    /// likely one first) that is one CPU's; `None` bases are skipped. The architecture says
    /// which registers (`crate::arch::percpu_bases`; on x86_64 also
    /// [`PerCpu::cpu_of_vcpu`]).
    pub fn cpu_of_bases(&self, bases: &[Option<u64>]) -> Option<u32> {
        bases.iter().flatten().find_map(|&b| self.cpu_of_base(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(offs: &[u64]) -> Vec<u8> {
        offs.iter().flat_map(|o| o.to_le_bytes()).collect()
    }

    #[test]
    fn an_offline_cpu_is_still_a_cpu() {
        // Two possible CPUs, CPU 1 offline (as after panic's smp_send_stop), CPU 2 not
        // possible (its offset is the boot-time default).
        let raw = offsets(&[0x1000, 0x2000, 0x3000]);
        let p = PerCpu::from_raw(&raw, Some(&[0b011]), Some(&[0b001]));
        assert_eq!(p.cpus().collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(p.cpu_of_base(0x2000), Some(1));
        assert_eq!(p.is_online(1), Some(false));
        assert_eq!(p.is_online(0), Some(true));
        assert_eq!(p.is_online(2), None);
        assert_eq!(p.cpu_of_base(0x3000), None);
        assert_eq!(p.ptr(1, VirtAddr(0x10)), Some(VirtAddr(0x2010)));
    }

    #[test]
    fn masks_may_be_missing_and_bases_must_be_unique() {
        let raw = offsets(&[0x1000, 0x1000, 0]);
        let p = PerCpu::from_raw(&raw, None, None);
        assert_eq!(p.cpus().count(), 3);
        assert_eq!(p.cpu_of_base(0x1000), None, "ambiguous");
        // Early boot: every CPU has the boot offset, and only CPU 0 is online.
        let p = PerCpu::from_raw(&raw, Some(&[0b11]), Some(&[0b01]));
        assert_eq!(p.cpu_of_base(0x1000), Some(0));
        assert_eq!(p.cpu_of_base(0), None);
        let p = PerCpu::from_offsets(vec![(0, 0x1000), (1, 0x2000)]);
        // In user mode the kernel's base is in k_gs_base; at entry, before swapgs, the
        // other one holds it.
        assert_eq!(p.cpu_of_vcpu(true, Some(0x7f00), Some(0x2000)), Some(1));
        assert_eq!(p.cpu_of_vcpu(false, Some(0x1000), Some(0x7f00)), Some(0));
        assert_eq!(p.cpu_of_vcpu(false, Some(0x7f00), Some(0x2000)), Some(1));
        assert_eq!(p.cpu_of_vcpu(false, None, None), None);
        // A short or ragged array is cut, not a panic.
        assert_eq!(
            PerCpu::from_raw(&[1, 2, 3], Some(&[]), None).cpus().count(),
            0
        );
    }
}
