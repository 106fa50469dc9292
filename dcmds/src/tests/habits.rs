//! mdb's habits: the shell pipe `!`, `::eval`, `::grep`, `::printf`, `$[ expr ]` and the
//! `==`/`!=` operators.

use super::*;
use crate::output::JsonOutput;
use qmdb_kernel::btf::fixture::fixture;
use qmdb_kernel::{Kernel, SymbolTable};
use std::sync::Arc;

fn target() -> MockTarget {
    MockTarget::new().with_u64s(0x1000, &[0x1122334455667788, 0xffffffff81000010, 0x1000])
}

fn session() -> Session {
    let (mut s, _) = session_on(target());
    s.set_symbols(Box::new(TEST_SYMBOLS));
    s
}

#[test]
fn the_shell_gets_the_text_and_its_output_comes_back() {
    let mut s = session();
    let plain = text(&mut s, "1000,3/K");
    assert_eq!(text(&mut s, "1000,3/K ! cat"), plain);
    assert_eq!(
        text(&mut s, "1000,3/K ! grep -c ffffffff81000010"),
        "1\n",
        "the shell's output"
    );
    assert_eq!(
        text(&mut s, "1000,3/K!tr a-f A-F | grep FFFF"),
        "1000:           1122334455667788 FFFFFFFF81000010\n",
        "'|' after '!' is the shell's"
    );
    // Quotes go to the shell as typed, and ';' inside them stays there.
    assert_eq!(text(&mut s, "1=X ! echo 'a;b' \"$0\""), "a;b sh\n");
    // Standard error comes back too; a status other than 126/127 is the shell's business.
    // ';' ends the command (qmdb's), unless quoted.
    let (_, out) = run(&mut s, "1=X ! echo oops >&2 && exit 3; 2=X");
    assert_eq!(out.records().len(), 2);
    let (o, out) = run(&mut s, "1=X ! echo oops >&2 && exit 3");
    assert_eq!(out.text(), "oops\n");
    assert!(o.all_ok);
    let (o, out) = run(&mut s, "1=X ! no-such-command-qmdb");
    assert!(!o.all_ok);
    assert!(
        out.text().contains("no-such-command-qmdb"),
        "{}",
        out.text()
    );
    assert!(
        out.text().contains("qmdb: !: sh could not run"),
        "{}",
        out.text()
    );
    // A shell that reads nothing is fine.
    assert_eq!(text(&mut s, "1000,3/K ! true"), "");
}

#[test]
fn errors_of_the_command_are_not_piped() {
    let mut s = session();
    let (o, out) = run(&mut s, "::nosuch ! cat");
    assert!(!o.all_ok);
    assert_eq!(out.text(), "qmdb: unknown dcmd 'nosuch' (see ::dcmds)\n");
    // Per-item errors show, and what was printed still goes to the shell.
    let (o, out) = run(&mut s, "1000,3/K | ::grep *. ! cat");
    assert!(!o.all_ok);
    let t = out.text();
    assert!(
        t.starts_with("qmdb: failed to read 8 bytes at 1122334455667788"),
        "{t}"
    );
    assert!(t.ends_with("1000\n"), "{t}");
}

#[test]
fn the_shell_pipe_is_for_text_and_can_be_refused() {
    let mut s = session();
    let mut json = JsonOutput::new(Vec::new());
    let o = s.execute("1=X ! cat", &mut json);
    assert!(!o.all_ok);
    let rec: serde_json::Value = serde_json::from_slice(&json.into_inner()).expect("one JSON line");
    assert_eq!(
        rec["error"],
        "!: the shell pipe works on text output, not with --json"
    );
    s.set_shell_allowed(false);
    assert_eq!(
        text(&mut s, "1=X ! cat"),
        "qmdb: refused: '!' runs a shell command, which this session does not allow\n"
    );
}

#[test]
fn bang_equals_and_quoted_bangs_are_not_the_pipe() {
    let mut s = session();
    assert_eq!(text(&mut s, "1!=2=X"), "                1\n");
    assert_eq!(text(&mut s, "(2==2)+(2!=2)=X"), "                1\n");
    assert_eq!(text(&mut s, "!(1==2)=X"), "                1\n");
    assert_eq!(text(&mut s, "1000::grep .!=0"), "1000\n");
    assert_eq!(text(&mut s, "1000::grep '.!=0'"), "1000\n");
    assert_eq!(text(&mut s, "1000::grep '!(.==0)'"), "1000\n");
    assert_eq!(text(&mut s, "1000::grep \".==0\""), "");
    let t = text(&mut s, "1000/K !");
    assert!(t.contains("expected a shell command after '!'"), "{t}");
    let t = text(&mut s, "1000 ! cat");
    assert!(t.contains("'!' pipes a dcmd's output to the shell"), "{t}");
}

#[test]
fn grep_passes_on_the_addresses_whose_expression_is_non_zero() {
    let mut s = session();
    assert_eq!(
        text(&mut s, "1000,3/K | ::grep .>>0t63"),
        "ffffffff81000010\n"
    );
    assert_eq!(
        text(&mut s, "1000,3/K | ::grep '.!=1000' | =K"),
        "                1122334455667788\n                ffffffff81000010\n"
    );
    // Dereferences read memory at dot; '/' divides.
    assert_eq!(
        text(
            &mut s,
            "1000,3/K | ::grep .==1000 | ::grep *.==1122334455667788"
        ),
        "1000\n"
    );
    assert_eq!(
        text(&mut s, "1000,3/K | ::grep (.&ff)/10==1"),
        "ffffffff81000010\n"
    );
    assert_eq!(text(&mut s, "1000,3/K | ::grep . / 1000 == 1"), "1000\n");
    let t = text(&mut s, "1000::grep");
    assert!(t.contains("missing expression"), "{t}");
    let t = text(&mut s, "::grep 1");
    assert!(t.contains("needs an address"), "{t}");
    let t = text(&mut s, "1000::grep 1 2");
    assert!(
        t.contains("unexpected number 2 after the expression"),
        "{t}"
    );
}

#[test]
fn eval_runs_a_command_at_the_address() {
    let mut s = session();
    assert_eq!(
        text(&mut s, "1008::eval \"./K\""),
        "1008:           ffffffff81000010\n"
    );
    assert_eq!(text(&mut s, "1000::eval ::grep 1"), "1000\n", "words join");
    // A dcmd that needs an address gets the piped one.
    assert_eq!(text(&mut s, "1000,3/K | ::eval '::grep .==1000'"), "1000\n");
    // Addresses it prints go down the pipe.
    assert_eq!(
        text(&mut s, "::eval '1000,3/K | ::grep .!=1000' | =K"),
        "                1122334455667788\n                ffffffff81000010\n"
    );
    let (o, out) = run(&mut s, "::eval '::nosuch'; 1=X");
    assert!(!o.all_ok);
    assert_eq!(
        out.text(),
        "qmdb: unknown dcmd 'nosuch' (see ::dcmds)\n                1\n"
    );
    assert_eq!(out.records()[0].command, "::eval '::nosuch'");
    assert!(!out.records()[0].ok);
    let (o, _) = run(&mut s, "::eval '$q'; 1=X");
    assert!(o.quit);
}

#[test]
fn dollar_brackets_pass_a_value() {
    let mut s = session();
    assert_eq!(text(&mut s, "1000::grep $[ .==1000 ]"), "1000\n");
    assert_eq!(text(&mut s, "1000::grep $[.==1001]"), "");
    // The value is passed as 0x… text, evaluated with dot at the piped address.
    assert_eq!(
        text(&mut s, "1000,3/K | ::eval $[ .+1 ]=K"),
        "                1122334455667789\n                ffffffff81000011\n                1001\n"
    );
    let t = text(&mut s, "1000::grep $[ 1 +");
    assert!(t.contains("unmatched '$['"), "{t}");
    let t = text(&mut s, "1000::grep $[ ]");
    assert!(t.contains("expected an expression inside '$[ ]'"), "{t}");
    let t = text(&mut s, "1000::grep '$[ 1 ]'");
    assert!(t.contains("syntax error"), "a quoted $[ is text: {t}");
}

const TASK: u64 = 0xffff_8880_0001_0000;
const STR: u64 = 0xffff_8880_0002_0000;

/// A session with the fixture's BTF, and a task_struct at [`TASK`] (`init_task`).
fn btf_session() -> Session {
    let mut t = vec![0u8; 128];
    let mut put = |at: usize, b: &[u8]| t[at..at + b.len()].copy_from_slice(b);
    put(0, &1u32.to_le_bytes());
    put(4, &[0x01]);
    put(8, &(-120i32).to_le_bytes());
    put(40, &7i32.to_le_bytes());
    put(48, b"swapper/0");
    put(88, &TASK.to_le_bytes());
    put(96, &STR.to_le_bytes());
    put(108, &[0x06]);
    let target = MockTarget::new()
        .with_bytes(TASK, &t)
        .with_bytes(STR, b"hello\0");
    let mut s = Session::new(Box::new(target));
    qmdb_linux::load::install(
        &mut s,
        Kernel {
            release: None,
            banner: None,
            slide: 0,
            symbols: Arc::new(SymbolTable::new(vec![])),
            types: Some(Arc::new(fixture().btf)),
            orc: None,
            notes: Vec::new(),
        },
    );
    s.set_symbols(Box::new(qmdb_linux::mock::TableSymbols(&[(
        "init_task",
        TASK,
        128,
    )])));
    s
}

#[test]
fn printf_formats_members_found_in_btf() {
    let mut s = btf_session();
    assert_eq!(
        text(
            &mut s,
            r#"init_task::printf "%s %d\n" task_struct comm pid"#
        ),
        "swapper/0 7\n"
    );
    assert_eq!(
        text(
            &mut s,
            r#"init_task::printf '[%-10s|%5d|%05u|%#x|%X|%o]\n' struct task_struct comm prio pid pid prio pid"#
        ),
        "[swapper/0 |- 120|00007|0x7|FFFFFF88|7]\n"
            .replace("- 120", " -120")
            .as_str()
    );
    assert_eq!(
        text(
            &mut s,
            "init_task::printf \"%s %a %p %d %u %.3s %c %%\" task_struct name parent . neg in_execve comm comm[1]"
        ),
        "hello init_task ffff888000010000 -2 1 swa w %\n"
    );
    assert_eq!(
        text(
            &mut s,
            "init_task::printf \"%hhx %lx\\n\" task_struct prio prio"
        ),
        "88 ffffff88\n"
    );
    assert_eq!(text(&mut s, "::printf 'plain %%\\n'"), "plain %\n");
    // ::eval gives its address to a dcmd that may take one.
    assert_eq!(
        text(
            &mut s,
            "init_task::eval \"::printf '%d\\n' task_struct pid\""
        ),
        "7\n"
    );
    // JSON: the address and the text.
    let (_, out) = run(&mut s, r#"init_task::printf "%d\n" task_struct pid"#);
    assert_eq!(
        out.records()[0].data[0],
        serde_json::json!({"addr": "0xffff888000010000", "text": "7\n"})
    );
}

#[test]
fn printf_errors_name_the_member() {
    let mut s = btf_session();
    let t = text(&mut s, "init_task::printf '%d' task_struct comm");
    assert_eq!(t, "qmdb: ::printf: %d: comm is 16 bytes, not a number\n");
    let t = text(&mut s, "init_task::printf '%s' task_struct pid");
    assert_eq!(
        t,
        "qmdb: ::printf: %s: pid is not a char array or pointer\n"
    );
    let t = text(&mut s, "init_task::printf '%d %d' task_struct pid");
    assert!(
        t.contains("the format has 2 conversion(s) and 1 member(s)"),
        "{t}"
    );
    let t = text(&mut s, "init_task::printf '%d' task_struct nosuch");
    assert!(t.contains("nosuch"), "{t}");
    assert!(t.contains("task_struct"), "{t}");
    let t = text(&mut s, "init_task::printf '%d' nosuch_struct pid");
    assert!(t.contains("nosuch_struct"), "{t}");
    let t = text(&mut s, "init_task::printf '%w' task_struct pid");
    assert!(t.contains("unknown conversion '%w'"), "{t}");
    let t = text(&mut s, "1000::printf '%d' task_struct pid");
    assert!(
        t.starts_with("qmdb: failed to read task_struct.pid at 1028"),
        "{t}"
    );
}

#[test]
fn an_interrupt_kills_the_shell() {
    let mut s = session();
    let flag = s.interrupt_flag();
    let raise = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let start = std::time::Instant::now();
    let (o, out) = run(&mut s, "1=X ! echo started && sleep 30; 2=X");
    raise.join().unwrap();
    assert!(o.interrupted);
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(out.text(), "started\nqmdb: interrupted\n");
}
