//! End-to-end: `qmdb mcp` on the real 6.1 guest, driven by a scripted MCP client over its
//! stdin and stdout, as an agent's client would: initialize, the initialized notification,
//! tools/list, tools/call `findstack` on the fifo reader (compared with `::findstack` in
//! script mode) and `command`, read-only and shell refusals, then end of input (qmdb detaches and the
//! guest runs on).

use crate::support::{shared_guest_with, Guest, GuestOpts, KernelVersion};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long any one reply may take (attach, then a debug build over TCG).
const REPLY_WAIT: Duration = Duration::from_secs(120);

/// A running `qmdb mcp` and the lines of its stdout.
struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    next_id: u64,
}

impl Server {
    fn start(guest: &Guest, extra: &[&str]) -> Server {
        let mut child = guest
            .qmdb()
            .arg("mcp")
            .args(extra)
            .env("QMDB_RC", "")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start qmdb mcp");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Server {
            child,
            stdin,
            lines,
            next_id: 1,
        }
    }

    fn send(&mut self, msg: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{msg}").expect("write to qmdb mcp");
        stdin.flush().unwrap();
    }

    /// The client's `initialize` request; returns the server's response.
    fn initialize(&mut self) -> Value {
        self.request(
            "initialize",
            json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "qmdb-test", "version": "0"},
            }),
        )
    }

    /// Sends a request and returns its response (every stdout line must be JSON-RPC).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let line = self
                .lines
                .recv_timeout(REPLY_WAIT)
                .unwrap_or_else(|e| panic!("no reply to {method} ({e})"));
            let msg: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
            assert_eq!(msg["jsonrpc"], "2.0", "{msg}");
            if msg["id"] == json!(id) {
                return msg;
            }
        }
    }

    fn call(&mut self, tool: &str, args: Value) -> Value {
        let r = self.request("tools/call", json!({"name": tool, "arguments": args}));
        r.get("result")
            .cloned()
            .unwrap_or_else(|| panic!("tools/call {tool} {args}: {r}"))
    }

    /// Closes stdin and waits for qmdb to exit; returns whether it exited 0.
    fn finish(mut self) -> bool {
        drop(self.stdin.take());
        for _ in 0..300 {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.success();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!("qmdb mcp did not exit at the end of its input");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `commands` of a tool result (its structured content), checking that the text
/// content says the same, one JSON object a line.
fn commands(result: &Value) -> Vec<Value> {
    let cmds = result["structuredContent"]["commands"]
        .as_array()
        .unwrap_or_else(|| panic!("no commands: {result}"))
        .clone();
    let text = result["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text: {result}"));
    let from_text: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(from_text, cmds);
    cmds
}

/// Each frame's function (`symbol`), innermost first.
fn functions(stack: &Value) -> Vec<String> {
    stack["frames"]
        .as_array()
        .unwrap_or_else(|| panic!("no frames: {stack}"))
        .iter()
        .map(|f| f["symbol"].as_str().unwrap_or("?").to_string())
        .collect()
}

#[test]
fn mcp_session_on_6_1() {
    let guest = shared_guest_with(GuestOpts::new(KernelVersion::V6_1));
    let fifo = guest.truth().tasks_named("qmdb-fifo").next().unwrap().tid;
    // The fifo reader's task address and its stack, as script mode has them.
    let recs = guest.json_records(&[
        "::pgrep -x qmdb-fifo",
        "::pgrep -x qmdb-fifo | ::findstack -v",
    ]);
    let task = recs[0]["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["pid"] == json!(fifo))
        .unwrap_or_else(|| panic!("no task {fifo}: {}", recs[0]))["thread"]
        .as_str()
        .unwrap()
        .to_string();
    let script_stack = recs[1]["data"][0].clone();

    let _attached = guest.attach_lock();
    let mut s = Server::start(guest, &[]);
    let init = s.initialize();
    let result = &init["result"];
    assert_eq!(result["serverInfo"]["name"], "qmdb", "{init}");
    assert!(result["capabilities"]["tools"].is_object(), "{init}");
    assert!(
        result["instructions"]
            .as_str()
            .unwrap()
            .contains("read-only"),
        "{init}"
    );
    s.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));

    // Every dcmd but ::quit, with its ::help; and `command`.
    let list = s.request("tools/list", json!({}));
    let tools = list["result"]["tools"].as_array().unwrap();
    let find = |name: &str| tools.iter().find(|t| t["name"] == name).cloned();
    let fs = find("findstack").unwrap_or_else(|| panic!("no findstack: {list}"));
    let def = qmdb_dcmds::registry::find_dcmd("findstack").unwrap();
    let desc = fs["description"].as_str().unwrap();
    assert!(desc.contains(def.help.trim()), "{desc}");
    assert!(desc.contains(def.description), "{desc}");
    assert_eq!(fs["inputSchema"]["required"], json!(["address"]));
    assert!(find("command").is_some() && find("ps").is_some() && find("walk").is_some());
    assert!(find("quit").is_none());
    assert_eq!(tools.len(), qmdb_dcmds::registry::DCMDS.len());

    // findstack on the fifo reader: the frames of `::findstack -v` in script mode.
    let r = s.call("findstack", json!({"address": task, "args": "-v"}));
    assert_eq!(r["isError"], false, "{r}");
    let cmds = commands(&r);
    assert_eq!(cmds.len(), 1);
    assert_eq!(cmds[0]["command"], format!("{task}::findstack -v"));
    assert_eq!(cmds[0]["ok"], true);
    let mcp_stack = &cmds[0]["data"][0];
    assert_eq!(
        functions(mcp_stack),
        functions(&script_stack),
        "{mcp_stack}"
    );
    assert!(
        functions(mcp_stack).iter().any(|f| f == "pipe_read"),
        "{mcp_stack}"
    );
    assert_eq!(mcp_stack["frames"], script_stack["frames"]);
    // Its text lines too, as `::findstack` prints them.
    let text: Vec<&str> = cmds[0]["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        text.first()
            .is_some_and(|l| l.contains(&format!("({fifo} qmdb-fifo): "))),
        "{text:?}"
    );

    // `command`: a pipeline, one JSON object per command.
    let r = s.call(
        "command",
        json!({"line": "::pgrep -x qmdb-fifo | ::findstack; ::status"}),
    );
    let cmds = commands(&r);
    assert_eq!(cmds.len(), 2, "{r}");
    assert_eq!(functions(&cmds[0]["data"][0]), functions(&script_stack));

    // Read-only: a write fails as a tool error the agent can read.
    let r = s.call("monitor", json!({"args": "system_reset"}));
    assert_eq!(r["isError"], true, "{r}");
    assert!(
        r["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("read-only"),
        "{r}"
    );
    // No shell for an agent.
    let r = s.call("command", json!({"line": "::status ! id"}));
    assert_eq!(r["isError"], true, "{r}");
    // Bad arguments: a tool error too; an unknown tool is a protocol error.
    let r = s.call("findstack", json!({}));
    assert_eq!(r["isError"], true, "{r}");
    let r = s.request("tools/call", json!({"name": "nosuch", "arguments": {}}));
    assert!(r["error"].is_object(), "{r}");

    // End of input: qmdb detaches and exits 0; the guest runs on.
    assert!(s.finish(), "qmdb mcp failed at the end of its input");
    assert!(guest.napper_progresses(2, Duration::from_secs(30)));

    // SIGTERM while the client is still connected: qmdb detaches and exits 1.
    let mut s = Server::start(guest, &[]);
    let init = s.initialize();
    assert!(init["result"].is_object(), "{init}");
    crate::support::guest::signal_ok(s.child.id(), "-TERM");
    let mut status = None;
    for _ in 0..300 {
        status = s.child.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = status.expect("qmdb mcp exits on SIGTERM");
    assert_eq!(status.code(), Some(1));
    assert!(guest.napper_progresses(2, Duration::from_secs(30)));
}
