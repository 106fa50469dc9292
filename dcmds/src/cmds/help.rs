//! `::help`, `::dcmds`, `::walkers`, `::formats`: generated from the registry and the format
//! table.

use crate::error::DcmdError;
use crate::fmt::FORMATS;
use crate::registry::{find_dcmd, find_walker, DcmdDef, Invocation, DCMDS, WALKERS};
use crate::session::Session;
use crate::sink::Sink;
use serde_json::json;

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
  arguments  words, quoted with '' or \"\" when they hold spaces

Commands are separated by ';' or newlines. In 'cmd | cmd', the right-hand
command runs once for every address the left-hand one emits, with that
address as dot.

Numbers are hexadecimal unless prefixed: 0t decimal, 0o octal, 0i binary,
0x hexadecimal. Expressions take C's operators and precedence, but '/'
divides only inside parentheses (outside, it starts a format), and '%' is
C's remainder (in mdb, '%' divides). <rip reads a register of the selected
vCPU, *addr the 8-byte value at addr, '.' is dot.

::help NAME shows the help of one dcmd or walker.";

fn no_address_no_args(inv: &Invocation<'_>) -> Result<(), DcmdError> {
    if inv.args.is_empty() {
        Ok(())
    } else {
        Err(inv.usage_error("takes no arguments"))
    }
}

fn section(sink: &mut Sink<'_>, title: &str, body: &str) {
    sink.line(title);
    for l in body.lines() {
        if l.is_empty() {
            sink.line("");
        } else {
            sink.line(&format!("  {l}"));
        }
    }
    sink.line("");
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
        section(sink, "NAME", &format!("{} - {}", d.name, d.description));
        section(sink, "SYNOPSIS", &d.synopsis());
        if !d.aliases.is_empty() {
            section(sink, "ALIASES", &d.aliases.join(", "));
        }
        section(sink, "DESCRIPTION", d.help);
        sink.data(
            json!({"name": d.name, "usage": d.usage, "synopsis": d.synopsis(),
                         "aliases": d.aliases, "description": d.description, "help": d.help}),
        );
        return Ok(());
    }
    if let Some(w) = find_walker(name) {
        section(
            sink,
            "NAME",
            &format!("{} - walker: {}", w.name, w.description),
        );
        section(sink, "SYNOPSIS", &w.synopsis());
        section(sink, "DESCRIPTION", w.help);
        sink.data(
            json!({"walker": w.name, "usage": w.usage, "synopsis": w.synopsis(),
                         "description": w.description, "help": w.help}),
        );
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
        let args = d.usage_args();
        let sep = if args.is_empty() { "" } else { " " };
        let left = format!("{}{sep}{args}", d.name);
        lines.push(format!("{left:<24} - {}", d.description));
    }
    for d in DCMDS {
        for a in d.aliases {
            lines.push(format!("{a:<24} - same as ::{}", d.name));
        }
    }
    lines
}

fn dcmds(
    _session: &mut Session,
    inv: &Invocation<'_>,
    sink: &mut Sink<'_>,
) -> Result<(), DcmdError> {
    no_address_no_args(inv)?;
    for l in dcmd_lines() {
        sink.line(&l);
    }
    for d in DCMDS {
        sink.data(
            json!({"name": d.name, "aliases": d.aliases, "usage": d.usage,
                         "description": d.description}),
        );
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
        sink.line(&format!("{:<24} - {}", w.name, w.description));
        sink.data(json!({"name": w.name, "usage": w.usage, "description": w.description}));
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
        let note = if f.unsupported().is_some() {
            " (not supported yet)"
        } else {
            f.size_note()
        };
        sink.line(&format!("{} - {}{note}", f.ch, f.desc));
        sink.data(
            json!({"char": f.ch.to_string(), "size": f.size, "description": f.desc,
                         "supported": f.unsupported().is_none()}),
        );
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
