//! What a dcmd and a walker are: their definitions, how one is invoked, and a walk in
//! progress. Every file under `cmds/` and `walkers/` builds on these; the tables that list
//! them are [`crate::registry`]'s.

use crate::args::Arg;
use crate::error::DcmdError;
use crate::session::{ExecOutcome, Session};
use crate::sink::Sink;
use qmdb_bridge::VirtAddr;

/// How a dcmd was invoked, as mdb's `DCMD_*` flags say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DcmdFlags {
    /// An address was given, explicitly or by a pipe (`DCMD_ADDRSPEC`).
    pub addrspec: bool,
    /// The dcmd runs repeatedly: a count, or once per address of a pipe (`DCMD_LOOP`).
    pub looping: bool,
    /// This is the first of those runs (`DCMD_LOOPFIRST`).
    pub loop_first: bool,
    /// The address comes from a pipe (`DCMD_PIPE`).
    pub pipe: bool,
    /// The output goes to a pipe: emit addresses with [`Sink::addr`] (`DCMD_PIPE_OUT`).
    pub pipe_out: bool,
}

impl DcmdFlags {
    /// Whether to print a table header: not looping, or the first run (`DCMD_HDRSPEC`).
    pub fn header(&self) -> bool {
        !self.looping || self.loop_first
    }
}

/// The executor, handed to dcmds that run commands of their own (breakpoint callbacks):
/// runs `line` into `out`, with `default_addr` as the address of each dcmd that needs one and
/// was given none.
pub type Executor =
    fn(&mut Session, &str, &mut dyn crate::output::Output, Option<VirtAddr>) -> ExecOutcome;

/// One run of a dcmd.
#[derive(Debug)]
pub struct Invocation<'a> {
    pub def: &'static DcmdDef,
    /// The name as typed (`regs`, or an alias such as `$r`).
    pub name: &'a str,
    /// The address given, or dot.
    pub addr: VirtAddr,
    pub flags: DcmdFlags,
    pub args: &'a [Arg],
    /// The executor that runs this dcmd, for commands it runs itself.
    pub exec: Executor,
}

impl Invocation<'_> {
    /// `::name` or `$r`, as the user would type it.
    pub fn display_name(&self) -> String {
        display_name(self.name)
    }

    /// The arguments as one text, joined with spaces (`::eval`, `::grep` and `::monitor`
    /// take a command or an expression that may have been typed as several words).
    pub fn joined_args(&self) -> String {
        self.args
            .iter()
            .map(|a| a.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A usage error naming this dcmd and its synopsis.
    pub fn usage_error(&self, msg: impl std::fmt::Display) -> DcmdError {
        DcmdError::usage(
            self.display_name(),
            format!("{msg} (usage: {})", self.def.synopsis()),
        )
    }
}

/// `::name`, or the name itself for `$x` and `:x` aliases.
pub fn display_name(name: &str) -> String {
    if name.starts_with('$') || name.starts_with(':') {
        name.to_string()
    } else {
        format!("::{name}")
    }
}

/// The function behind a dcmd.
pub type DcmdFn = fn(&mut Session, &Invocation<'_>, &mut Sink<'_>) -> Result<(), DcmdError>;

/// Whether a dcmd takes an address, from the first character of its usage string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressRule {
    /// `:`: `addr::name` only.
    Required,
    /// `?`: with or without.
    Optional,
    /// Anything else: never.
    None,
}

/// A dcmd: one entry of [`crate::registry::DCMDS`].
#[derive(Debug)]
pub struct DcmdDef {
    pub name: &'static str,
    /// Other names, such as mdb's `$r` for `::regs`.
    pub aliases: &'static [&'static str],
    /// mdb's usage string: `:` address required, `?` optional, nothing for none; then the
    /// arguments (`":[-v]"`, `"?[cpu]"`, `"[-a]"`).
    pub usage: &'static str,
    /// One line for `::dcmds`.
    pub description: &'static str,
    /// The DESCRIPTION section of `::help name`; lines of at most 77 columns.
    pub help: &'static str,
    pub run: DcmdFn,
}

impl DcmdDef {
    pub fn address_rule(&self) -> AddressRule {
        match self.usage.as_bytes().first() {
            Some(b':') => AddressRule::Required,
            Some(b'?') => AddressRule::Optional,
            _ => AddressRule::None,
        }
    }

    /// The usage string without its address character.
    pub fn usage_args(&self) -> &'static str {
        self.usage.trim_start_matches([':', '?'])
    }

    /// `addr::name args`, `[addr]::name args` or `::name args`.
    pub fn synopsis(&self) -> String {
        let addr = match self.address_rule() {
            AddressRule::Required => "addr",
            AddressRule::Optional => "[addr]",
            AddressRule::None => "",
        };
        let args = self.usage_args();
        let sep = if args.is_empty() { "" } else { " " };
        format!("{addr}::{}{sep}{args}", self.name)
    }

    /// An error when this dcmd, called as `name`, is given an address it does not take or
    /// none when it needs one (`addressed`: whether one was given).
    pub fn check_address(&self, name: &str, addressed: bool) -> Result<(), DcmdError> {
        match (self.address_rule(), addressed) {
            (AddressRule::Required, false) => Err(self.usage_error_named(name, "needs an address")),
            (AddressRule::None, true) => {
                Err(self.usage_error_named(name, "does not take an address"))
            }
            _ => Ok(()),
        }
    }

    /// A usage error of this dcmd called as `name`, with its synopsis.
    pub fn usage_error_named(&self, name: &str, msg: impl std::fmt::Display) -> DcmdError {
        DcmdError::usage(
            display_name(name),
            format!("{msg} (usage: {})", self.synopsis()),
        )
    }

    /// Whether `name` names this dcmd.
    pub fn is_named(&self, name: &str) -> bool {
        self.name == name || self.aliases.contains(&name)
    }
}

/// A walk in progress: mdb's walker step. Dropping it is mdb's fini.
pub trait Walk {
    /// The next address, `None` at the end. An error ends the walk; the driver reports it and
    /// keeps what was emitted before.
    fn step(&mut self, session: &mut Session) -> Result<Option<VirtAddr>, DcmdError>;

    /// What the walk skipped (unreadable or corrupt elements), said once it has ended.
    fn warnings(&mut self) -> Vec<String> {
        Vec::new()
    }
}

/// Starts a walk: mdb's walker init. `start` is the address given (`addr::walk name`).
pub type WalkInit = fn(&mut Session, Option<VirtAddr>, &[Arg]) -> Result<Box<dyn Walk>, DcmdError>;

/// A walker: one entry of [`crate::registry::WALKERS`].
#[derive(Debug)]
pub struct WalkerDef {
    pub name: &'static str,
    /// Like a dcmd's usage string: `:` needs a start address, `?` may take one.
    pub usage: &'static str,
    pub description: &'static str,
    pub help: &'static str,
    pub init: WalkInit,
}

impl WalkerDef {
    /// `addr::walk name args` or `[addr]::walk name args`.
    pub fn synopsis(&self) -> String {
        let addr = match self.usage.as_bytes().first() {
            Some(b':') => "addr",
            Some(b'?') => "[addr]",
            _ => "",
        };
        let args = self.usage.trim_start_matches([':', '?']);
        let sep = if args.is_empty() { "" } else { " " };
        format!("{addr}::walk {}{sep}{args}", self.name)
    }
}
