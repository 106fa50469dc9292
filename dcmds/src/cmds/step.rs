//! `:s` / `::step [over|out]`, `:e` (step over), `:u` (step out).

use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::events::{run, Resume, StepKind};
use crate::session::Session;
use crate::sink::Sink;

pub const STEP: DcmdDef = DcmdDef {
    name: "step",
    aliases: &[":s", ":e", ":u"],
    usage: "[over|out] [-i] [-T seconds]",
    description: "step the selected vCPU",
    help: "  ::step, :s        one instruction on the selected vCPU alone (the
                    others stay stopped)
  ::step over, :e   the same, but a call is run to its return: the guest
                    runs (all vCPUs) until the same task gets back to the
                    next instruction with its stack pointer where it was
  ::step out, :u    runs until the current function returns to the
                    caller the unwinder finds (as $c shows it), reached by
                    the same task with its stack pointer above the frame's

The stop is reported as ::cont reports one ('step', 'step over', 'step
out'); an event hit before the step ends (a breakpoint in the called
function) is reported instead, and the step is abandoned. QEMU steps
without interrupts and timers (NOIRQ|NOTIMER), so a step does not land in
an interrupt handler; -i lets them in for this one instruction (a pending
interrupt is then taken, and the step lands in its handler; not with over
or out, not in callbacks). A single instruction that does not
end within 5 s (hlt) is halted. over and out wait like ::cont: -T halts
the guest after that many seconds, Ctrl-C at once. The internal
breakpoint of over and out is always removed. out needs the kernel (ORC)
and a kernel-mode vCPU.",
    run,
};

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    let (word, args) = match inv.args.split_first() {
        Some((w, rest)) if w.text == "over" || w.text == "out" => (Some(w.text.as_str()), rest),
        _ => (None, inv.args),
    };
    let opts = crate::args::getopts(&cmd, args, "iT:")?;
    if let Some(extra) = opts.rest.first() {
        return Err(inv.usage_error(format!("unexpected argument {extra:?}")));
    }
    let timeout = super::cont::timeout(&cmd, opts.value('T'))?;
    let kind = match (word, inv.name) {
        (Some("over"), "step") => StepKind::Over,
        (Some("out"), "step") => StepKind::Out,
        (None, ":e") => StepKind::Over,
        (None, ":u") => StepKind::Out,
        (None, _) => StepKind::Into,
        (Some(w), _) => return Err(inv.usage_error(format!("unexpected argument {w:?}"))),
    };
    if opts.flag('i') && kind != StepKind::Into {
        return Err(inv.usage_error("-i is for a single-instruction step"));
    }
    if session.events().in_callback() {
        if opts.flag('i') {
            return Err(inv.usage_error("-i is not taken in an event callback"));
        }
        session.events_mut().request(Resume::Step(kind));
        return Ok(());
    }
    session.require_run_control(&cmd)?;
    session.events_mut().step_interrupts = opts.flag('i');
    let r = run::run(session, sink, Resume::Step(kind), timeout, inv.exec);
    session.events_mut().step_interrupts = false;
    r
}
