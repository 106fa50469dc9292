//! What each vCPU is running: its CPU number, mode, registers and current task.

use super::arch;
use super::layout::LinuxLayout;
use super::percpu::PerCpu;
use super::task::TaskRef;
use super::tasks::current_and_idle;
use crate::Error;
use crate::Program;
use qmdb_bridge::regs::RegValues;
use qmdb_bridge::VcpuId;

/// One vCPU as the kernel sees it.
#[derive(Debug, Clone)]
pub struct VcpuState {
    /// The vCPU, as the stub numbers it.
    pub vcpu: VcpuId,
    /// The kernel's CPU number, from the vCPU's per-CPU base (x86_64: `gs`).
    pub cpu: Option<u32>,
    /// Whether that CPU is in `cpu_online_mask` (false for a CPU stopped by `panic()` or
    /// taken down by hotplug); `None` without a CPU.
    pub online: Option<bool>,
    /// Stopped in user mode (x86_64: `cs` has RPL 3).
    pub user_mode: bool,
    /// Its registers when it stopped.
    pub regs: RegValues,
    /// `per_cpu(runqueues, cpu).curr`.
    pub current: Option<TaskRef>,
}

impl VcpuState {
    /// Its program counter (0 when the stub does not give it).
    pub fn pc(&self) -> u64 {
        arch::pc(&self.regs).unwrap_or(0)
    }

    /// Its stack pointer (0 when the stub does not give it).
    pub fn sp(&self) -> u64 {
        arch::sp(&self.regs).unwrap_or(0)
    }
}

/// Reads every vCPU's registers (selecting each in turn, then the one selected before) and
/// finds the task current on it.
pub fn vcpu_states(
    program: &mut Program,
    layout: &LinuxLayout,
    percpu: &PerCpu,
) -> Result<Vec<VcpuState>, Error> {
    let before = program.target().selected_vcpu();
    let vcpus = program.target_mut().vcpus()?;
    let mut states = Vec::with_capacity(vcpus.len());
    let mut result = Ok(());
    for v in &vcpus {
        let regs = match program
            .target_mut()
            .select_vcpu(v.id)
            .and_then(|()| program.target_mut().read_registers())
        {
            Ok(r) => r,
            Err(e) => {
                result = Err(Error::from(e));
                break;
            }
        };
        let user_mode = arch::user_mode(&regs);
        let bases = arch::percpu_bases(&regs, user_mode);
        let cpu = percpu
            .cpu_of_bases(&bases)
            // Without per-CPU bases (an old stub), vCPU N is CPU N.
            .or_else(|| bases.iter().all(Option::is_none).then(|| v.id.cpu_index()));
        states.push(VcpuState {
            vcpu: v.id,
            cpu,
            online: cpu.and_then(|c| percpu.is_online(c)),
            user_mode,
            regs,
            current: None,
        });
    }
    if program.target().selected_vcpu() != before {
        program.target_mut().select_vcpu(before)?;
    }
    result?;
    for s in &mut states {
        if let Some(cpu) = s.cpu {
            match current_and_idle(program, layout, percpu, cpu) {
                Ok((curr, _)) => s.current = Some(curr),
                Err(e) if e.ends_command() => return Err(e),
                Err(_) => {}
            }
        }
    }
    Ok(states)
}
