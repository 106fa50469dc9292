//! `::percpu`: where each possible CPU's copy of a per-CPU variable is.

use crate::args::{getopts, number};
use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::PerCpuAddr;
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::VirtAddr;
use qmdb_linux::PerCpu;

pub const PERCPU: DcmdDef = DcmdDef {
    name: "percpu",
    aliases: &[],
    usage: "?[-c cpu] [symbol]",
    description: "each CPU's address of a per-CPU variable",
    help: "Prints, for each possible CPU (online or not), the address of its copy
of the per-CPU variable SYMBOL, or of the one at ADDR (a per-CPU
variable's own address, such as a symbol's value or a __percpu pointer):
its value plus __per_cpu_offset[cpu].
  ::percpu runqueues
  CPU             ADDR
    0 ffff88803ec2c340
  ::percpu runqueues | ::print struct rq cpu nr_running

  -c CPU   only that CPU (hex like every number: CPU 10 is 0t10 or a)

In a pipeline, emits the addresses; --json gives one {cpu, addr} per CPU.
Expressions have no per-CPU operator: use this dcmd.",
    run,
};

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    let opts = getopts(&cmd, inv.args, "c:")?;
    let var = match (inv.flags.addrspec, opts.rest.as_slice()) {
        (true, []) => inv.addr,
        (false, [sym]) => {
            session
                .symbols()
                .lookup_name(sym)
                .ok_or_else(|| DcmdError::UnknownSymbol {
                    name: (*sym).to_string(),
                    hint: String::new(),
                })?
        }
        (true, [_, ..]) => return Err(inv.usage_error("give an address or a symbol, not both")),
        _ => return Err(inv.usage_error("needs a symbol or an address")),
    };
    let only = opts.value('c').map(|t| cpu_number(&cmd, t)).transpose()?;
    let percpu = PerCpu::read(session)?;
    let rows: Vec<PerCpuAddr> = percpu
        .cpus()
        .filter(|c| only.is_none_or(|o| o == *c))
        .filter_map(|cpu| {
            let addr = percpu.ptr(cpu, var)?;
            Some(PerCpuAddr { cpu, addr: addr.0 })
        })
        .collect();
    if let (Some(c), true) = (only, rows.is_empty()) {
        return Err(DcmdError::usage(
            cmd,
            format!("CPU {c} is not a possible CPU"),
        ));
    }
    if sink.pipe_out() {
        for r in &rows {
            sink.addr(VirtAddr(r.addr));
        }
        return Ok(());
    }
    if inv.flags.header() {
        sink.line(&PerCpuAddr::header());
    }
    for r in rows {
        sink.record(r);
    }
    Ok(())
}

/// A CPU number, read as every number is (hex unless `0t` says decimal).
fn cpu_number(cmd: &str, text: &str) -> Result<u32, DcmdError> {
    u32::try_from(number(cmd, text)?)
        .map_err(|_| DcmdError::usage(cmd, format!("bad CPU number '{text}'")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_numbers_are_hex_unless_prefixed() {
        assert_eq!(cpu_number("c", "10").unwrap(), 16);
        assert_eq!(cpu_number("c", "0t12").unwrap(), 12);
        assert!(cpu_number("c", "x!").is_err());
        assert!(cpu_number("c", "99999999999").is_err());
    }
}
