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
