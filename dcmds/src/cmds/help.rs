//! `::help`, `::dcmds`, `::walkers`, `::formats`: generated from the registry and the format
//! table.

use crate::error::DcmdError;
use crate::fmt::FORMATS;
use crate::record::Record;
use crate::records::{DcmdEntry, DcmdHelp, FormatEntry, WalkerEntry, WalkerHelp};
use crate::registry::{find_dcmd, find_walker, DcmdDef, Invocation, DCMDS, WALKERS};
use crate::session::Session;
use crate::sink::Sink;

pub const HELP: DcmdDef = DcmdDef {
    name: "help",
    aliases: &[],
    usage: "[command]",
    description: "explain commands, or one dcmd or walker",
    help: "Without an argument, explains the form of commands. With a name (regs,
::regs, $r, or a walker's name), shows that command's help.",
    run: help,
};

pub const LIST_DCMDS: DcmdDef = DcmdDef {
    name: "dcmds",
    aliases: &[],
    usage: "",
    description: "list the dcmds",
    help: "Lists every dcmd with its arguments and what it does, then the aliases.",
    run: dcmds,
};

pub const LIST_WALKERS: DcmdDef = DcmdDef {
    name: "walkers",
    aliases: &[],
    usage: "",
    description: "list the walkers",
    help: "Lists every walker that ::walk can run.",
    run: walkers,
};

pub const LIST_FORMATS: DcmdDef = DcmdDef {
    name: "formats",
    aliases: &[],
    usage: "",
    description: "list the format characters of / and =",
    help: "Lists the format characters for addr/fmt and expr=fmt, with the size of
data each one reads. A format character may follow a decimal repeat count
(addr/4X); quoted text in a format is printed as it is.",
    run: formats,
};

const INTRO: &str = "\
qmdb debugs a QEMU guest through its gdbstub with mdb's command language.
Each command has the form

    [address] [,count] verb [arguments ...]

  address    an expression; it sets dot ('.'), the address commands use
  count      an expression: run the command that many times
  verb       ::name    a dcmd, such as ::regs (see ::dcmds)
             $c        an mdb alias: $r (registers), $q (quit)
             /format   display memory at the address (see ::formats)
             =format   format the value of the address expression itself
             >name     save the value in a variable, read back with <name
  arguments  words, quoted with '' or \"\" when they hold spaces; $[ expr ]
             passes the value of expr (dot is the command's address)

Commands are separated by ';' or newlines. In 'cmd | cmd', the right-hand
command runs once for every address the left-hand one emits, with that
address as dot. 'cmd ! shell-command' pipes the text cmd prints to sh
(::ps ! grep sleep), up to the ';' or newline; quote a '!' meant as an
argument. At the prompt, an empty line repeats the last command; after a
display (addr/X) it shows what follows.

Numbers are hexadecimal unless prefixed: 0t decimal, 0o octal, 0i binary,
0x hexadecimal. Expressions take C's operators and precedence (with ==
and != giving 1 or 0), but '/' divides only inside parentheses (outside,
it starts a format), and '%' is C's remainder (in mdb, '%' divides). <rip
reads a register of the selected vCPU, *addr the 8-byte value at addr,
'.' is dot.

::help NAME shows the help of one dcmd or walker.";

fn no_address_no_args(inv: &Invocation<'_>) -> Result<(), DcmdError> {
    if inv.args.is_empty() {
        Ok(())
    } else {
        Err(inv.usage_error("takes no arguments"))
    }
}

fn help(
    _session: &mut Session,
    inv: &Invocation<'_>,
    sink: &mut Sink<'_>,
) -> Result<(), DcmdError> {
    let name = match inv.args {
        [] => {
            for l in INTRO.lines() {
                sink.line(l);
            }
            return Ok(());
        }
        [one] => one.text.trim_start_matches("::"),
        _ => return Err(inv.usage_error("takes at most one name")),
    };
    if let Some(d) = find_dcmd(name) {
        sink.record(DcmdHelp::new(d));
        return Ok(());
    }
    if let Some(w) = find_walker(name) {
        sink.record(WalkerHelp::new(w));
        return Ok(());
    }
    Err(DcmdError::usage(
        "::help",
        format!("no dcmd or walker named '{name}' (see ::dcmds, ::walkers)"),
    ))
}

/// The `::dcmds` lines, also used by tests and front ends.
pub fn dcmd_lines() -> Vec<String> {
    let mut lines = Vec::new();
    for d in DCMDS {
        DcmdEntry::new(d).render(&mut lines);
    }
    for d in DCMDS {
        lines.extend(DcmdEntry::alias_lines(d));
    }
    lines
}

fn dcmds(
    _session: &mut Session,
    inv: &Invocation<'_>,
    sink: &mut Sink<'_>,
) -> Result<(), DcmdError> {
    no_address_no_args(inv)?;
    for d in DCMDS {
        sink.record(DcmdEntry::new(d));
    }
    for d in DCMDS {
        for l in DcmdEntry::alias_lines(d) {
            sink.line(&l);
        }
    }
    Ok(())
}

fn walkers(
    _session: &mut Session,
    inv: &Invocation<'_>,
    sink: &mut Sink<'_>,
) -> Result<(), DcmdError> {
    no_address_no_args(inv)?;
    for w in WALKERS {
        sink.record(WalkerEntry::new(w));
    }
    Ok(())
}

fn formats(
    _session: &mut Session,
    inv: &Invocation<'_>,
    sink: &mut Sink<'_>,
) -> Result<(), DcmdError> {
    no_address_no_args(inv)?;
    for f in FORMATS {
        sink.record(FormatEntry::new(f));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_listings_fit_79_columns() {
        for l in dcmd_lines()
            .iter()
            .chain(INTRO.lines().map(str::to_string).collect::<Vec<_>>().iter())
        {
            assert!(l.len() <= 79, "too long: {l}");
        }
        for w in WALKERS {
            assert!(format!("{:<24} - {}", w.name, w.description).len() <= 79);
            assert!(w.synopsis().len() + 2 <= 79);
        }
    }
}
