//! `qmdb mcp`: a Model Context Protocol server on stdio for AI agents, whose tools are
//! qmdb's dcmds ([`crate::mcp_tools`]).
//!
//! qmdb attaches once, before serving; the session lives on its own thread, which runs one
//! command line at a time for the (async) server. The server ends when the client closes
//! stdin or on SIGINT/SIGTERM/SIGHUP; then the session is dropped, which detaches and
//! leaves the VM as it was found. Read-only unless `-w`, as everywhere in qmdb.

use crate::cli::Args;
use crate::mcp_tools;
use anyhow::{Context, Result};
use qmdb_dcmds::attach::AttachOptions;
use qmdb_dcmds::{CaptureOutput, CommandRecord};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// One command line for the session thread, and where its records go.
struct Job {
    line: String,
    reply: oneshot::Sender<Vec<CommandRecord>>,
}

/// The MCP handler: hands tool calls to the session thread.
struct QmdbServer {
    jobs: Mutex<mpsc::Sender<Job>>,
    target: String,
    writable: bool,
}

impl QmdbServer {
    async fn run(&self, line: String) -> Result<Vec<CommandRecord>, ErrorData> {
        let (reply, answer) = oneshot::channel();
        let sent = self
            .jobs
            .lock()
            .map_err(|_| ErrorData::internal_error("the session is gone", None))?
            .send(Job { line, reply });
        if sent.is_err() {
            return Err(ErrorData::internal_error("the session is gone", None));
        }
        answer
            .await
            .map_err(|_| ErrorData::internal_error("the session is gone", None))
    }
}

impl ServerHandler for QmdbServer {
    fn get_info(&self) -> ServerConfig {
        let mode = if self.writable {
            "writable (-w): commands may change guest memory and registers"
        } else {
            "read-only"
        };
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("qmdb", env!("CARGO_PKG_VERSION")))
            .with_instructions(format!(
                "qmdb: an mdb-style debugger attached to the Linux kernel of the QEMU \
                 guest at {}, {mode}. Each dcmd is a tool; `command` runs any mdb \
                 command line (e.g. `::walk thread | ::findstack -v`). Start with \
                 `status` or `ps`; `help` explains any dcmd.",
                self.target
            ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(mcp_tools::tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let line = match mcp_tools::command_line(&request.name, request.arguments.as_ref()) {
            Ok(line) => line,
            // An unknown tool is the client's protocol error; bad arguments are the
            // caller's to read and fix.
            Err(why) if !mcp_tools::is_tool(&request.name) => {
                return Err(ErrorData::invalid_params(why, None));
            }
            Err(why) => {
                return Ok(CallToolResult::error(vec![ContentBlock::text(why)]).into());
            }
        };
        tracing::debug!(%line, "tool call");
        let records = self.run(line).await?;
        Ok(mcp_tools::result(&records).into())
    }
}

/// Attaches (a session stays on the thread that made it), says how that went on
/// `attached`, then runs command lines until the server hangs up; then detaches (by
/// dropping the session).
fn session_thread(
    attach: AttachOptions,
    attached: mpsc::Sender<Result<(), String>>,
    jobs: mpsc::Receiver<Job>,
    stop: Arc<AtomicBool>,
) {
    let mut session = match qmdb_dcmds::attach::attach(&attach) {
        Ok((session, _)) => session,
        Err(e) => {
            let _ = attached.send(Err(format!("{:#}", anyhow::Error::new(e))));
            return;
        }
    };
    crate::script::report_attach(&session);
    // An agent gets the debugger, not a shell on this machine (`cmd ! sh`).
    session.set_shell_allowed(false);
    if attached.send(Ok(())).is_err() {
        return;
    }
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let job = match jobs.recv_timeout(SIGNAL_POLL) {
            Ok(job) => job,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut out = CaptureOutput::new();
        let outcome = session.execute(&job.line, &mut out);
        let (records, _) = out.take();
        let _ = job.reply.send(records);
        if outcome.fatal {
            tracing::warn!("the connection to the target is gone");
        }
    }
    drop(session);
}

/// How often the server and the session thread look at the signal flag.
const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// Waits until `stop` is set (by SIGINT, SIGTERM or SIGHUP).
async fn terminated(stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(SIGNAL_POLL).await;
    }
}

/// Attaches, serves MCP on stdio until the client goes or a signal comes, and detaches.
pub fn run(args: &Args) -> Result<bool> {
    let mut attach = crate::script::attach_options(args)?;
    attach.progress = None;
    // Set on a signal: stops a running command, so that qmdb detaches at once.
    let interrupt = Arc::new(AtomicBool::new(false));
    attach.interrupt = Some(Arc::clone(&interrupt));
    // A signal stops the running command (or the attach), and the server: qmdb then
    // detaches properly.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(sig, Arc::clone(&interrupt))?;
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    let session_stop = Arc::clone(&stop);
    let (tx, rx) = mpsc::channel::<Job>();
    let (attached_tx, attached) = mpsc::channel();
    let worker = std::thread::Builder::new()
        .name("qmdb-session".into())
        .spawn(move || session_thread(attach, attached_tx, rx, session_stop))
        .context("starting the session thread")?;
    match attached.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => anyhow::bail!("{e}"),
        Err(_) => anyhow::bail!("the session thread ended while attaching"),
    }
    let server = QmdbServer {
        jobs: Mutex::new(tx),
        target: args.target.clone(),
        writable: args.writable,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let outcome: Result<bool> = runtime.block_on(async {
        let running = server
            .serve(rmcp::transport::stdio())
            .await
            .context("MCP initialization")?;
        let token = running.cancellation_token();
        tokio::select! {
            quit = running.waiting() => {
                quit.context("MCP server")?;
                Ok(true)
            }
            () = terminated(&stop) => {
                token.cancel();
                eprintln!("qmdb: interrupted; detaching from {}", args.target);
                Ok(false)
            }
        }
    });
    // A read of stdin may still be pending: do not wait for it.
    runtime.shutdown_background();
    // The handler (and so the job sender) is gone, or a signal came: the session thread
    // detaches and ends.
    if worker.join().is_err() {
        tracing::warn!("the session thread panicked");
    }
    outcome
}
