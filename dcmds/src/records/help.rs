//! `::help`, `::dcmds`, `::walkers` and `::formats`: what the registry and the format table
//! say about each command and format character.

use crate::dcmd::{DcmdDef, WalkerDef};
use crate::fmt::FormatDef;
use crate::record::Record;
use serde::Serialize;

/// Appends a manual-page section: the title, then the body indented by two.
fn section(lines: &mut Vec<String>, title: &str, body: &str) {
    lines.push(title.to_string());
    for l in body.lines() {
        if l.is_empty() {
            lines.push(String::new());
        } else {
            lines.push(format!("  {l}"));
        }
    }
    lines.push(String::new());
}

/// The help of one dcmd (`::help NAME`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DcmdHelp {
    pub name: &'static str,
    /// The usage string (`?[-n] [-m module] [name]`).
    pub usage: &'static str,
    /// The usage as a command line (`[addr]::nm [-n] ...`).
    pub synopsis: String,
    pub aliases: &'static [&'static str],
    /// The one-line description.
    pub description: &'static str,
    /// The full help text.
    pub help: &'static str,
}

impl DcmdHelp {
    /// The help of `d`.
    pub fn new(d: &DcmdDef) -> DcmdHelp {
        DcmdHelp {
            name: d.name,
            usage: d.usage,
            synopsis: d.synopsis(),
            aliases: d.aliases,
            description: d.description,
            help: d.help,
        }
    }
}

impl Record for DcmdHelp {
    fn render(&self, lines: &mut Vec<String>) {
        section(
            lines,
            "NAME",
            &format!("{} - {}", self.name, self.description),
        );
        section(lines, "SYNOPSIS", &self.synopsis);
        if !self.aliases.is_empty() {
            section(lines, "ALIASES", &self.aliases.join(", "));
        }
        section(lines, "DESCRIPTION", self.help);
    }
}

/// The help of one walker (`::help NAME`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WalkerHelp {
    /// The walker's name.
    pub walker: &'static str,
    pub usage: &'static str,
    /// The usage as a command line (`addr::walk list`).
    pub synopsis: String,
    pub description: &'static str,
    pub help: &'static str,
}

impl WalkerHelp {
    /// The help of `w`.
    pub fn new(w: &WalkerDef) -> WalkerHelp {
        WalkerHelp {
            walker: w.name,
            usage: w.usage,
            synopsis: w.synopsis(),
            description: w.description,
            help: w.help,
        }
    }
}

impl Record for WalkerHelp {
    fn render(&self, lines: &mut Vec<String>) {
        section(
            lines,
            "NAME",
            &format!("{} - walker: {}", self.walker, self.description),
        );
        section(lines, "SYNOPSIS", &self.synopsis);
        section(lines, "DESCRIPTION", self.help);
    }
}

/// One dcmd of `::dcmds`. Its aliases are listed after every dcmd, as text only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DcmdEntry {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub usage: &'static str,
    pub description: &'static str,
    /// The arguments part of the usage, as the listing shows it.
    #[serde(skip)]
    pub args: &'static str,
}

impl DcmdEntry {
    /// The entry of `d`.
    pub fn new(d: &DcmdDef) -> DcmdEntry {
        DcmdEntry {
            name: d.name,
            aliases: d.aliases,
            usage: d.usage,
            description: d.description,
            args: d.usage_args(),
        }
    }

    /// The lines of `d`'s aliases (`$b  - same as ::events`).
    pub fn alias_lines(d: &DcmdDef) -> impl Iterator<Item = String> + '_ {
        d.aliases
            .iter()
            .map(move |a| format!("{a:<24} - same as ::{}", d.name))
    }
}

impl Record for DcmdEntry {
    fn render(&self, lines: &mut Vec<String>) {
        let sep = if self.args.is_empty() { "" } else { " " };
        let left = format!("{}{sep}{}", self.name, self.args);
        lines.push(format!("{left:<24} - {}", self.description));
    }
}

/// One walker of `::walkers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WalkerEntry {
    pub name: &'static str,
    pub usage: &'static str,
    pub description: &'static str,
}

impl WalkerEntry {
    /// The entry of `w`.
    pub fn new(w: &WalkerDef) -> WalkerEntry {
        WalkerEntry {
            name: w.name,
            usage: w.usage,
            description: w.description,
        }
    }
}

impl Record for WalkerEntry {
    fn render(&self, lines: &mut Vec<String>) {
        lines.push(format!("{:<24} - {}", self.name, self.description));
    }
}

/// One format character of `::formats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FormatEntry {
    /// The character, as a one-character string.
    #[serde(rename = "char")]
    pub ch: char,
    /// Bytes one item reads; 0 for variable-size items and items that read nothing.
    pub size: usize,
    pub description: &'static str,
    /// False for characters mdb has and qmdb does not support yet.
    pub supported: bool,
    /// What the listing adds after the description (` (4 bytes)`).
    #[serde(skip)]
    pub note: &'static str,
}

impl FormatEntry {
    /// The entry of `f`.
    pub fn new(f: &FormatDef) -> FormatEntry {
        let supported = f.unsupported().is_none();
        FormatEntry {
            ch: f.ch,
            size: f.size,
            description: f.desc,
            supported,
            note: if supported {
                f.size_note()
            } else {
                " (not supported yet)"
            },
        }
    }
}

impl Record for FormatEntry {
    fn render(&self, lines: &mut Vec<String>) {
        lines.push(format!("{} - {}{}", self.ch, self.description, self.note));
    }
}
