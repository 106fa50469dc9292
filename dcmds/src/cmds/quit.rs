//! `::quit` / `$q`.

use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::session::Session;
use crate::sink::Sink;

pub const QUIT: DcmdDef = DcmdDef {
    name: "quit",
    aliases: &["$q"],
    usage: "",
    description: "end the session, leaving the VM as qmdb found it",
    help: "Ends the session after this command; the rest of the input is not run.
On detaching, qmdb resumes the VM only if it was running when qmdb
attached (see ::status).",
    run,
};

fn run(session: &mut Session, inv: &Invocation<'_>, _sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    if !inv.args.is_empty() {
        return Err(inv.usage_error("takes no arguments"));
    }
    session.request_quit();
    Ok(())
}
