//! `qmdb proxy`: serves stock gdb on a TCP port, in front of QEMU's gdbstub, with the
//! kernel's tasks as gdb threads and dcmds as `monitor` commands.
//!
//! The gdb-facing server is `qmdb_bridge::proxy`; this module attaches (as script mode
//! does), wraps the session in a [`SessionBackend`], binds the listening socket and runs
//! the server until SIGINT, SIGTERM or SIGHUP, then detaches, leaving the VM running as it
//! was found.

use crate::cli::{Args, ProxyArgs, Threads};
use anyhow::{bail, Context, Result};
use qmdb_bridge::proxy::{ServeOptions, ThreadsMode};
use qmdb_dcmds::proxy::{SessionBackend, ThreadView};
use std::net::TcpListener;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Refuses the debugger's own options: they mean nothing to the proxy.
fn check_args(args: &Args) -> Result<()> {
    let mut extra = Vec::new();
    if !args.execute.is_empty() {
        extra.push("-e");
    }
    if args.file.is_some() {
        extra.push("-f");
    }
    if args.json {
        extra.push("--json");
    }
    if args.no_tui {
        extra.push("--no-tui");
    }
    if !extra.is_empty() {
        bail!(
            "{} cannot be used with `qmdb proxy` (run commands from gdb with `monitor`)",
            extra.join(", ")
        );
    }
    Ok(())
}

/// Binds `--listen`; an error names the address.
fn bind(listen: &str) -> Result<TcpListener> {
    TcpListener::bind(listen).with_context(|| format!("cannot listen on {listen}"))
}

/// Runs the proxy until a signal ends it. Returns whether it ended cleanly.
pub fn run(args: &Args, proxy: &ProxyArgs) -> Result<bool> {
    check_args(args)?;
    let attach = crate::script::attach_options(args)?;
    // Bound before attaching: a port in use fails before the VM is stopped.
    let listener = bind(&proxy.listen)?;
    let addr = listener
        .local_addr()
        .with_context(|| format!("cannot listen on {}", proxy.listen))?;
    qmdb_bridge::proxy::warn_if_exposed(addr);
    let (session, _) = qmdb_dcmds::attach::attach(&attach)?;
    crate::script::report_attach(&session);
    let (view, mode) = match proxy.threads {
        Threads::Tasks => (ThreadView::Tasks, ThreadsMode::Tasks),
        Threads::Vcpus => (ThreadView::Vcpus, ThreadsMode::Vcpus),
    };
    let mut backend = SessionBackend::with_view(session, view);
    if let Some(why) = backend.tasks_unavailable() {
        eprintln!("qmdb proxy: gdb's threads are the vCPUs, not the kernel's tasks: {why}");
    }
    for line in slide_lines(
        backend.session().kernel().map(|k| k.slide),
        backend.placement().is_some(),
    ) {
        println!("{line}");
    }

    let stop = Arc::new(AtomicBool::new(false));
    install_signals(&stop, &backend)?;
    println!("qmdb proxy: listening on {addr} for gdb (target remote {addr})");

    let opts = ServeOptions {
        threads: mode,
        stop: Some(Arc::clone(&stop)),
    };
    let result = qmdb_bridge::proxy::serve(listener, &mut backend, opts);
    let signalled = stop.load(std::sync::atomic::Ordering::Relaxed);
    // Dropping the session detaches, leaving the VM running if it was at attach.
    drop(backend);
    match result {
        Ok(()) if signalled => {
            eprintln!("qmdb proxy: stopped; detached from {}", args.target);
            Ok(true)
        }
        Ok(()) => Ok(true),
        Err(e) => Err(anyhow::Error::new(e).context("qmdb proxy")),
    }
}

/// What the proxy says at start about the KASLR slide: its value, whether gdb is told it
/// (`qOffsets`), and the `add-symbol-file` line for a gdb that does not ask. KASLR moves
/// the whole image but not the per-CPU section (its symbols are offsets from each CPU's
/// base): `qOffsets` cannot say so (gdb moves every section of the file), the line does.
fn slide_lines(slide: Option<u64>, told: bool) -> Vec<String> {
    let Some(slide) = slide else {
        return vec![
            "qmdb proxy: no kernel known: gdb is not told a KASLR slide (qOffsets)".to_string(),
        ];
    };
    let how = match (told, slide) {
        (false, _) => "gdb is not told it with --threads vcpus",
        (true, 0) => "gdb is told it (qOffsets)",
        (true, _) => {
            "gdb is told it (qOffsets): `file vmlinux` before `target remote` places the \
             symbols (and moves the per-CPU variables too, which KASLR does not)"
        }
    };
    vec![
        format!("qmdb proxy: KASLR slide {slide:#x}: {how}"),
        format!(
            "qmdb proxy: for a gdb that ignores qOffsets, a vmlinux loaded after `target \
             remote`, or per-CPU variables at their place: \
             add-symbol-file vmlinux -o {slide:#x} -s .data..percpu 0"
        ),
    ]
}

/// SIGINT, SIGTERM and SIGHUP set `stop` (the server returns) and interrupt a running
/// `monitor` command.
fn install_signals(stop: &Arc<AtomicBool>, backend: &SessionBackend) -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let interrupt = backend.session().interrupt_flag();
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        signal_hook::flag::register(sig, Arc::clone(stop))?;
        signal_hook::flag::register(sig, Arc::clone(&interrupt))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slide_and_the_add_symbol_file_line() {
        let l = slide_lines(Some(0x3860_0000), true);
        assert!(
            l[0].starts_with(
                "qmdb proxy: KASLR slide 0x38600000: gdb is told it (qOffsets): \
                 `file vmlinux` before `target remote` places the symbols"
            ),
            "{l:?}"
        );
        assert!(
            l[1].ends_with(": add-symbol-file vmlinux -o 0x38600000 -s .data..percpu 0"),
            "{l:?}"
        );
        let l = slide_lines(Some(0), false);
        assert!(l[0].contains("slide 0x0: gdb is not told it"), "{l:?}");
        assert!(l[1].ends_with("-o 0x0 -s .data..percpu 0"), "{l:?}");
        let l = slide_lines(Some(0), true);
        assert!(
            l[0].ends_with("slide 0x0: gdb is told it (qOffsets)"),
            "{l:?}"
        );
        let l = slide_lines(None, false);
        assert_eq!(l.len(), 1);
        assert!(l[0].contains("no kernel known"), "{l:?}");
    }

    #[test]
    fn port_zero_binds_a_free_port() {
        let l = bind("127.0.0.1:0").unwrap();
        assert_ne!(l.local_addr().unwrap().port(), 0);
        let e = bind("127.0.0.1:99999").unwrap_err();
        assert!(format!("{e:#}").contains("127.0.0.1:99999"), "{e:#}");
    }
}
