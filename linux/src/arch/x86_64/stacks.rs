//! Each x86_64 CPU's stacks besides the tasks' own: the hard IRQ stack
//! (`hardirq_stack_ptr`, per-CPU or in `pcpu_hot` on 6.2+), the exception (IST) stacks of
//! `struct cea_exception_stacks`, and the entry stack in the `cpu_entry_area`.

use crate::layout::LinuxLayout;
use crate::percpu::PerCpu;
use crate::Error;
use crate::Program;
use qmdb_kernel::btf::Btf;
use qmdb_unwind::{StackKind, StackRegion};
use std::ops::Range;

/// Where x86_64 maps each CPU's `cpu_entry_area` (entry stack, exception stacks, TSS).
const CPU_ENTRY_AREA: Range<u64> = 0xffff_fe00_0000_0000..0xffff_ff00_0000_0000;

/// The size of a hard IRQ stack on x86_64 (`IRQ_STACK_SIZE`, 16 KiB without KASAN).
pub const IRQ_STACK_SIZE: u64 = 0x4000;

/// CPU `cpu`'s IRQ and exception stacks, and what could not be read of them (one line
/// each). `Err` only for what ends the command (connection lost, interrupted).
pub fn cpu_stacks(
    program: &mut Program,
    layout: &LinuxLayout,
    btf: &Btf,
    percpu: &PerCpu,
    cpu: u32,
) -> Result<(Vec<StackRegion>, Vec<String>), Error> {
    let mut regions = Vec::new();
    let mut problems = Vec::new();
    match irq_stack(program, layout, percpu, cpu) {
        Ok(Some(r)) => regions.push(r),
        Ok(None) => {}
        Err(e) if e.ends_command() => return Err(e),
        Err(e) => problems.push(format!("IRQ stack of CPU {cpu}: {e}")),
    }
    match exception_stacks(program, btf, percpu, cpu) {
        Ok(mut r) => regions.append(&mut r),
        Err(e) if e.ends_command() => return Err(e),
        Err(e) => problems.push(format!("exception stacks of CPU {cpu}: {e}")),
    }
    Ok((regions, problems))
}

/// The entry stack holding `sp` of a vCPU stopped in kernel mode, when `sp` lies in the
/// `cpu_entry_area`: in the first instructions of an entry from user mode a CPU runs on
/// its entry stack, one page there.
pub fn entry_stack(sp: u64) -> Option<StackRegion> {
    if !CPU_ENTRY_AREA.contains(&sp) {
        return None;
    }
    let page = sp & !0xfff;
    Some(StackRegion {
        range: page..page + 0x1000,
        kind: StackKind::Exception("entry".into()),
    })
}

/// CPU `cpu`'s hard IRQ stack: `hardirq_stack_ptr` (per-CPU, or in `pcpu_hot` on 6.2+)
/// points 8 bytes below its top.
fn irq_stack(
    program: &mut Program,
    layout: &LinuxLayout,
    percpu: &PerCpu,
    cpu: u32,
) -> Result<Option<StackRegion>, Error> {
    let var = match (
        program.symbols().lookup_name("hardirq_stack_ptr"),
        program.symbols().lookup_name("pcpu_hot"),
        layout.pcpu_hot_hardirq_stack,
    ) {
        (Some(a), _, _) => a,
        (None, Some(hot), Some(off)) => hot.add(off),
        _ => return Ok(None),
    };
    let Some(ptr) = percpu.ptr(cpu, var) else {
        return Ok(None);
    };
    let top = program.read_u64(ptr, Some("hardirq_stack_ptr"))?;
    if top == 0 {
        return Ok(None);
    }
    let end = top.wrapping_add(8);
    Ok(Some(StackRegion {
        range: end.wrapping_sub(IRQ_STACK_SIZE)..end,
        kind: StackKind::Irq,
    }))
}

/// CPU `cpu`'s exception (IST) stacks, from `struct cea_exception_stacks` at the per-CPU
/// `cea_exception_stacks` pointer: each `NAME_stack` member is one stack.
fn exception_stacks(
    program: &mut Program,
    btf: &Btf,
    percpu: &PerCpu,
    cpu: u32,
) -> Result<Vec<StackRegion>, Error> {
    let Some(var) = program.symbols().lookup_name("cea_exception_stacks") else {
        return Ok(Vec::new());
    };
    let Some(id) = btf
        .find("struct cea_exception_stacks")
        .ok()
        .and_then(|c| c.plain())
    else {
        return Ok(Vec::new());
    };
    let Some(ptr) = percpu.ptr(cpu, var) else {
        return Ok(Vec::new());
    };
    let base = program.read_u64(ptr, Some("cea_exception_stacks"))?;
    if base == 0 {
        return Ok(Vec::new());
    }
    let Some(t) = btf.type_by_id(id) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for m in btf.members(t) {
        let Some(name) = m.name.strip_suffix("_stack") else {
            continue;
        };
        let Ok(info) = btf.member_info(&m) else {
            continue;
        };
        let Ok(size) = btf.size_of(info.ty) else {
            continue;
        };
        let start = base.wrapping_add(info.byte_offset());
        out.push(StackRegion {
            range: start..start.wrapping_add(size),
            kind: StackKind::Exception(name.to_string()),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_stack_is_one_page_of_the_cpu_entry_area() {
        let r = entry_stack(0xffff_fe00_0000_1f28).unwrap();
        assert_eq!(r.range, 0xffff_fe00_0000_1000..0xffff_fe00_0000_2000);
        assert_eq!(entry_stack(0xffff_c900_0000_1f28), None);
    }
}
