//! `::grep`: passes on the addresses for which an expression is non-zero, as mdb's.

use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::lang::{eval, parse_expr};
use crate::session::Session;
use crate::sink::Sink;

pub const GREP: DcmdDef = DcmdDef {
    name: "grep",
    aliases: &[],
    usage: ":expr",
    description: "pass on addresses where an expression is non-zero",
    help: "Evaluates EXPR with dot at the address given or piped in, and passes
the address on (prints it, at the end of a pipeline) when the value is
not zero. Expressions are mdb's, with C's == and != and / dividing:

  ::walk thread | ::grep '*(.+10)!=0' | ::task
  ::walk thread | ::grep \".==init_task\"

Quote an expression with spaces, or with '!' not followed by '=' (an
unquoted '!' pipes to the shell). Several words are joined with spaces.",
    run,
};

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let text = inv.joined_args();
    if text.trim().is_empty() {
        return Err(inv.usage_error("missing expression"));
    }
    let expr = parse_expr(&text)?;
    session.set_dot(inv.addr);
    if eval(&expr, session)? != 0 {
        sink.addr(inv.addr);
    }
    Ok(())
}
