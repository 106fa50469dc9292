//! Script mode (commands from `-e`, `-f` or a non-terminal stdin) and the plain interactive
//! loop (`--no-tui`, or a terminal on only one of stdin and stdout).
//!
//! Both run `~/.qmdbrc` first ([`crate::rc`]). At the interactive prompt
//! ([`crate::line_prompt`]) an empty line repeats the last command, as in mdb; in a script
//! an empty line does nothing.
//!
//! Signals: Ctrl-C interrupts the running command (in script mode it also ends the script);
//! SIGTERM and SIGHUP end the session. Either way qmdb detaches properly, leaving the VM as
//! it found it, rather than dying with the VM stopped.

use crate::cli::Args;
use anyhow::{Context, Result};
use qmdb_bridge::blocking::ConnectOptions;
use qmdb_bridge::client::ClientOptions;
use qmdb_dcmds::attach::AttachOptions;
use qmdb_dcmds::{JsonOutput, Output, TextOutput};
use std::io::{BufRead, IsTerminal};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

/// How often the input loop looks at the signal flags while waiting for a line.
const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// Where commands come from.
enum Source {
    Lines(Vec<String>),
    Stdin { interactive: bool },
}

fn source(args: &Args) -> Result<Source> {
    let mut lines: Vec<String> = args.execute.clone();
    if let Some(path) = &args.file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        lines.extend(text.lines().map(str::to_string));
    }
    if !lines.is_empty() {
        return Ok(Source::Lines(lines));
    }
    Ok(Source::Stdin {
        interactive: std::io::stdin().is_terminal(),
    })
}

/// Signal flags: `interrupt` is the session's own (it stops the running command); `term`
/// asks the session to end.
struct Signals {
    interrupt: Arc<AtomicBool>,
    term: Arc<AtomicBool>,
}

impl Signals {
    fn install(interrupt: Arc<AtomicBool>) -> Result<Signals> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let term = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(SIGINT, Arc::clone(&interrupt))?;
        for sig in [SIGTERM, SIGHUP] {
            signal_hook::flag::register(sig, Arc::clone(&term))?;
            signal_hook::flag::register(sig, Arc::clone(&interrupt))?;
        }
        Ok(Signals { interrupt, term })
    }

    /// Takes a pending Ctrl-C.
    fn take_interrupt(&self) -> bool {
        self.interrupt.swap(false, Ordering::Relaxed)
    }

    fn terminated(&self) -> bool {
        self.term.load(Ordering::Relaxed)
    }
}

/// Why the command loop ended early.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    Quit,
    Signal,
}

/// What to attach to, from `--target`, `--kernel`, `--timeout`, `--no-cache` and `-w`: the
/// same for script mode and the terminal UI.
pub fn attach_options(args: &Args) -> Result<AttachOptions> {
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        anyhow::bail!("--timeout must be a positive number of seconds");
    }
    let opts = ConnectOptions {
        client: ClientOptions {
            timeout: Duration::from_secs_f64(args.timeout),
        },
        cache: !args.no_cache,
        writable: args.writable,
    };
    Ok(AttachOptions {
        target: args.target.clone(),
        connect: opts,
        kernel: args.kernel.clone(),
        cache_root: qmdb_kernel::cache::default_cache_root(),
        progress: Some(progress_on_tty),
        interrupt: None,
    })
}

/// Shows a slow attach step on stderr's last line, when stderr is a terminal.
fn progress_on_tty(msg: &str) {
    use std::io::{IsTerminal, Write};
    let mut err = std::io::stderr();
    if err.is_terminal() {
        let _ = write!(err, "\r\x1b[Kqmdb: {msg}");
        let _ = err.flush();
    }
}

/// Clears the progress line, and says why there is no kernel if there is none.
pub fn report_attach(session: &qmdb_dcmds::Session) {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[K");
    }
    if session.kernel().is_none() {
        eprintln!(
            "qmdb: no kernel: {}; {}",
            session.kernel_missing(),
            qmdb_dcmds::attach::WITHOUT_KERNEL
        );
    }
}

/// Connects, runs every command, and detaches. Returns whether every command succeeded.
pub fn run(args: &Args) -> Result<bool> {
    let source = source(args)?;
    let mut attach = attach_options(args)?;
    // Installed before attaching: finding the kernel in guest memory takes a moment, and a
    // signal then must still detach properly.
    let interrupt = Arc::new(AtomicBool::new(false));
    attach.interrupt = Some(Arc::clone(&interrupt));
    let signals = Signals::install(interrupt)?;
    let (mut session, _) = qmdb_dcmds::attach::attach(&attach)?;
    report_attach(&session);
    if signals.terminated() || signals.take_interrupt() {
        drop(session);
        eprintln!("qmdb: interrupted; detached from {}", args.target);
        return Ok(false);
    }
    let stdout = std::io::stdout();
    let mut out: Box<dyn Output> = if args.json {
        Box::new(JsonOutput::new(stdout.lock()))
    } else {
        Box::new(TextOutput::with_diagnostics(
            stdout.lock(),
            Box::new(std::io::stderr()),
        ))
    };

    let interactive = matches!(source, Source::Stdin { interactive: true });
    if let Some(rc) = crate::rc::path(args.no_rc) {
        // With --json, stdout is for the script's own commands: the rc file's output goes
        // to stderr as text.
        let rc_outcome = if args.json {
            let mut text =
                TextOutput::with_diagnostics(std::io::stderr(), Box::new(std::io::stderr()));
            crate::rc::run(&mut session, &rc, &mut text)
        } else {
            crate::rc::run(&mut session, &rc, out.as_mut())
        };
        if rc_outcome.stop {
            drop(out);
            drop(session);
            if signals.terminated() || signals.take_interrupt() {
                eprintln!("qmdb: interrupted; detached from {}", args.target);
                return Ok(false);
            }
            return Ok(true);
        }
    }
    // Completion names, taken before the session is borrowed by the loop.
    let prompt = interactive.then(|| {
        let mut names = qmdb_tui::app::completion::Completer::new();
        if let Some(k) = session.kernel() {
            let (symbols, types) = qmdb_tui::worker::completion_names(k);
            names.set_names(symbols, types);
        }
        crate::line_prompt::LinePrompt::start(crate::tui_mode::history_path(), names)
    });

    let mut all_ok = true;
    // `None`: an empty line at the prompt, which repeats the last command.
    let mut run_line = |line: Option<&str>, out: &mut dyn Output| -> Option<Stop> {
        let outcome = match line {
            Some(line) => session.execute(line, out),
            None => session.repeat_last(out),
        };
        all_ok &= outcome.all_ok;
        if outcome.quit || outcome.fatal || out.is_closed() {
            return Some(Stop::Quit);
        }
        if signals.terminated() || (outcome.interrupted && !interactive) {
            return Some(Stop::Signal);
        }
        None
    };
    let stop = match (source, &prompt) {
        (Source::Lines(lines), _) => lines
            .iter()
            .find_map(|line| run_line(Some(line), out.as_mut())),
        (Source::Stdin { .. }, Some(prompt)) => {
            let mut stop = None;
            'prompt: while stop.is_none() {
                // A Ctrl-C that interrupted the last command is spent.
                signals.take_interrupt();
                prompt.ask();
                let read = loop {
                    if signals.terminated() {
                        // The editor may hold the terminal in raw mode, after a prompt.
                        prompt.restore();
                        eprintln!();
                        stop = Some(Stop::Signal);
                        break 'prompt;
                    }
                    match prompt.wait(SIGNAL_POLL) {
                        Ok(read) => break read,
                        Err(RecvTimeoutError::Timeout) => continue,
                        Err(RecvTimeoutError::Disconnected) => break 'prompt,
                    }
                };
                stop = match read {
                    crate::line_prompt::Read::Line(line) if line.trim().is_empty() => {
                        run_line(None, out.as_mut())
                    }
                    crate::line_prompt::Read::Line(line) => run_line(Some(&line), out.as_mut()),
                    // As in mdb, Ctrl-C at the prompt gives a fresh prompt.
                    crate::line_prompt::Read::Interrupted => None,
                    crate::line_prompt::Read::Eof => break 'prompt,
                    crate::line_prompt::Read::Failed(e) => {
                        eprintln!("qmdb: reading commands: {e}");
                        break 'prompt;
                    }
                };
            }
            stop
        }
        (Source::Stdin { .. }, None) => {
            let lines = spawn_reader();
            let mut stop = None;
            'input: while stop.is_none() {
                let line = loop {
                    if signals.terminated() || signals.take_interrupt() {
                        stop = Some(Stop::Signal);
                        break 'input;
                    }
                    match lines.recv_timeout(SIGNAL_POLL) {
                        Ok(line) => break line?,
                        Err(RecvTimeoutError::Timeout) => continue,
                        Err(RecvTimeoutError::Disconnected) => {
                            // A signal that raced with the end of input still counts.
                            if signals.terminated() || signals.take_interrupt() {
                                stop = Some(Stop::Signal);
                            }
                            break 'input;
                        }
                    }
                };
                stop = run_line(Some(&line), out.as_mut());
            }
            stop
        }
    };
    drop(out);
    // Dropping the session detaches, leaving the VM as it was found.
    drop(session);
    if stop == Some(Stop::Signal) {
        eprintln!("qmdb: interrupted; detached from {}", args.target);
        return Ok(false);
    }
    Ok(all_ok)
}

/// Reads stdin on its own thread, so that the command loop can notice signals while waiting.
fn spawn_reader() -> mpsc::Receiver<Result<String>> {
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        loop {
            let mut line = String::new();
            let item = match input.read_line(&mut line) {
                Ok(0) => return,
                Ok(_) => Ok(line.trim_end_matches(['\n', '\r']).to_string()),
                Err(e) => Err(anyhow::Error::new(e).context("reading commands")),
            };
            let failed = item.is_err();
            if tx.send(item).is_err() || failed {
                return;
            }
        }
    });
    rx
}
