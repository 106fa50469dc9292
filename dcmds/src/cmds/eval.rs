//! `::eval`: runs a command string, as mdb's `::eval`.

use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::output::Output;
use crate::record::AnyRecord;
use crate::records::Address;
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::VirtAddr;
use serde_json::Value;

pub const EVAL: DcmdDef = DcmdDef {
    name: "eval",
    aliases: &[],
    usage: "?command",
    description: "run a command string with dot at the address",
    help: "Runs COMMAND (one argument: quote it) as if typed, with dot at the
address given or piped in; a dcmd in it given no address runs at that
address, as if typed addr::dcmd, so

  ::walk thread | ::eval \"::findstack\"
  init_task::eval \"::print task_struct comm; .,2/K\"

work as in mdb. Several words are joined with spaces. The command's
errors are ::eval's; in a pipeline, the addresses it prints (a walk's)
are passed on to the next stage. Without an address, dot stays as it
is and dcmds get no address.",
    run,
};

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let text = inv.joined_args();
    if text.trim().is_empty() {
        return Err(inv.usage_error("missing command"));
    }
    let outcome = {
        let mut out = EvalOutput { sink: &mut *sink };
        if inv.flags.addrspec {
            crate::exec::execute_at(session, &text, &mut out, inv.addr)
        } else {
            (inv.exec)(session, &text, &mut out, None)
        }
    };
    if outcome.quit {
        session.request_quit();
    }
    if outcome.interrupted {
        return Err(DcmdError::Interrupted);
    }
    sink.check_open()
}

/// The nested command's output, into `::eval`'s sink: errors fail `::eval`, addresses go
/// down the pipe when there is one.
struct EvalOutput<'s, 'a> {
    sink: &'s mut Sink<'a>,
}

impl Output for EvalOutput<'_, '_> {
    fn begin(&mut self, _command: &str) {}

    fn line(&mut self, text: &str) {
        self.sink.line(text);
    }

    fn warning(&mut self, message: &str) {
        self.sink.warn(message);
    }

    fn error(&mut self, message: &str) {
        self.sink.fail_message(message);
    }

    fn data(&mut self, value: Value) {
        self.sink.data(value);
    }

    fn record(&mut self, rec: Box<dyn AnyRecord>) {
        if self.sink.pipe_out() {
            if let Some(a) = rec.as_any().downcast_ref::<Address>() {
                self.sink.addr(VirtAddr(a.0));
                return;
            }
        }
        self.sink.boxed_record(rec);
    }

    fn end(&mut self) {}

    fn is_closed(&self) -> bool {
        self.sink.check_open().is_err()
    }

    fn guest_resumed(&mut self) {
        self.sink.guest_resumed();
    }
}
