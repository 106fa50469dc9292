//! `::status`: the connection, the VM's state, and what detaching will do.

use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::Status;
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::{RunState, StopReason};

pub const STATUS: DcmdDef = DcmdDef {
    name: "status",
    aliases: &[],
    usage: "",
    description: "show the target, its state, what detaching does",
    help: "Shows the stub qmdb is connected to and QEMU's version, whether the VM is
stopped and why, whether it was running when qmdb attached (so whether
detaching resumes it), the vCPUs and the selected one, the stub's packet
size, and whether qmdb may write to the guest (never without -w).",
    run,
};

fn signal_name(sig: u8) -> String {
    match sig {
        2 => "SIGINT".to_string(),
        5 => "SIGTRAP".to_string(),
        9 => "SIGKILL".to_string(),
        n => format!("signal {n}"),
    }
}

/// A one-line description of the run state.
pub fn describe_state(state: &RunState) -> String {
    match state {
        RunState::Running => "running".to_string(),
        RunState::Stopped(StopReason::Signal { signal, thread, .. }) => match thread {
            Some(t) => format!(
                "stopped ({}) on vCPU {}",
                signal_name(*signal),
                t.cpu_index()
            ),
            None => format!("stopped ({})", signal_name(*signal)),
        },
        RunState::Stopped(StopReason::Exited(code)) => format!("exited with status {code}"),
        RunState::Stopped(StopReason::Terminated(sig)) => {
            format!("terminated by {}", signal_name(*sig))
        }
    }
}

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    if !inv.args.is_empty() {
        return Err(inv.usage_error("takes no arguments"));
    }
    let st = session.target_mut().status()?;
    let writable = st.writable && session.writable();
    let kernel = session.kernel();
    let release = kernel.and_then(|k| k.release.clone());
    let kernel_text = release
        .clone()
        .unwrap_or_else(|| format!("unknown: {}", session.kernel_missing()));
    sink.record(Status {
        target: st.target.clone(),
        state: describe_state(&st.state),
        was_running_at_attach: st.was_running_at_attach,
        detach: if st.was_running_at_attach {
            "resume"
        } else {
            "leave stopped"
        },
        vcpus: st.vcpus,
        selected: st.selected.cpu_index(),
        packet_size: st.packet_size,
        qemu_version: st.qemu_version.as_deref().map(|v| v.trim().to_string()),
        writable,
        kernel_release: release,
        kaslr_slide: kernel.map(|k| k.slide),
        kernel_notes: kernel.map(|k| k.notes.clone()).unwrap_or_default(),
        kernel_missing: kernel
            .is_none()
            .then(|| session.kernel_missing().to_string()),
        kernel_text,
        symbols: kernel.map_or(0, |k| k.symbols.len()),
        btf_types: kernel.and_then(|k| k.types.as_ref().map(|t| t.type_count())),
    });
    Ok(())
}

#[cfg(test)]
mod golden_tmp {
    use crate::output::CaptureOutput;
    use crate::session::Session;
    use qmdb_linux::mock::{MockStop, MockTarget, TableSymbols};

    const SYMS: TableSymbols = TableSymbols(&[
        ("do_work", 0xffffffff81000100, 0x10),
        ("helper", 0xffffffff81000110, 0x10),
        ("counter", 0xffffffff82000000, 0x8),
        ("banner", 0xffffffff82000100, 0x40),
    ]);

    #[test]
    fn golden_dump() {
        let mut code = vec![0x55u8, 0xe8];
        let rel = (0xffffffff81000110u64 as i64 - (0xffffffff81000100u64 as i64 + 6)) as i32;
        code.extend(rel.to_le_bytes());
        code.extend([0x5d, 0xc3]);
        let target = MockTarget::new()
            .with_bytes(0xffffffff81000100, &code)
            .with_bytes(0xffffffff81000110, &[0xc3])
            .with_u64s(0xffffffff82000000, &[0])
            .with_bytes(0xffffffff82000100, b"Linux version\n\t\"x\"\0more")
            .with_u64s(0x1000, &[0x1122334455667788, 0xffffffff81000110, 3, 4])
            .with_u64s(0x5000, &[0x5100])
            .with_u64s(0x5100, &[0x5000]);
        let shared = target.shared();
        let mut s = Session::new(Box::new(target));
        s.set_symbols(Box::new(SYMS));
        let mut dump = String::new();
        let cmds: &[&str] = &[
            "::help",
            "::help bp",
            "::help list",
            "::help nosuch",
            "::dcmds",
            "::walkers",
            "::formats",
            "::cpus",
            "::cpu",
            "1::cpu",
            "::cpu",
            "::cpu 0",
            "::cpu 7",
            "::status",
            "::nm",
            "::nm do_work",
            "::lsmod",
            "::modinfo x",
            "::msgbuf",
            "do_work::vtop",
            "::monitor info version",
            "::monitor quit",
            "::monitor info status",
            "do_work::bp",
            "counter::wp -w -L 8",
            "helper::bp -n 3 -c '::regs; 1000/K' -t -T",
            "::bp -p 5 do_work",
            "::events",
            "::disable 1",
            "$b",
            "::enable all",
            "::delete 9",
            "1000,2/K",
            "1000/X",
            "0t10=X",
            "do_work/i",
            "do_work,3/i",
            "1000=Kn\"txt\"",
            "banner/s",
            "banner/S",
            "1000/KKKK KKKK",
            "10=ppp",
            "1000,20/B",
            "0t300=DDDD",
            "do_work=p",
            "1000/K2X",
            "1000,3/Kn",
            "0=cC",
            "1000/tK",
            "1000/aK",
            "5000::walk list",
            "1000,2/K | =X",
            "1000,2/K | ::nm",
            "0x1010/p",
            "1000/+K",
            "1ff0,4/K",
            "12=x+x-x",
        ];
        for c in cmds {
            let mut out = CaptureOutput::new();
            s.execute(c, &mut out);
            dump.push_str(&format!("=== {c}\n{}\n", out.text()));
            dump.push_str(&serde_json::to_string_pretty(&out.records()).unwrap_or_default());
            dump.push('\n');
        }
        shared.borrow_mut().stops.push_back(MockStop {
            vcpu: 1,
            rip: 0xffffffff81000110,
            ..MockStop::default()
        });
        shared.borrow_mut().stops.push_back(MockStop {
            vcpu: 0,
            rip: 0xffffffff81000101,
            info: vec![("watch".into(), "ffffffff82000004".into())],
            ..MockStop::default()
        });
        shared.borrow_mut().stops.push_back(MockStop {
            vcpu: 1,
            rip: 0xffffffff81000100,
            ..MockStop::default()
        });
        for c in [
            "::cont -T 5",
            ":c",
            ":c",
            "::events",
            ":c -T 1",
            "::delete all",
            "::events",
            ":s",
            "::stop",
        ] {
            let mut out = CaptureOutput::new();
            s.execute(c, &mut out);
            dump.push_str(&format!("=== {c}\n{}\n", out.text()));
            dump.push_str(&serde_json::to_string_pretty(&out.records()).unwrap_or_default());
            dump.push('\n');
        }
        std::fs::write(
            std::env::var("GOLDEN_OUT").unwrap_or("/tmp/golden.txt".into()),
            dump,
        )
        .unwrap();
    }
}
