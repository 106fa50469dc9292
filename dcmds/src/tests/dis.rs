//! `::dis` and `/i` against the mock target.

use super::*;

/// do_work: push %rbp; mov %rsp,%rbp; call helper; pop %rbp; ret — then helper: ret; int3...
fn code() -> MockTarget {
    let mut bytes = vec![0x55, 0x48, 0x89, 0xe5, 0xe8];
    // call rel32 from 0x...109 to 0x...110: +7
    bytes.extend_from_slice(&7i32.to_le_bytes());
    bytes.extend_from_slice(&[0x5d, 0xc3, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc]);
    bytes.extend_from_slice(&[0xc3, 0xcc, 0xcc, 0xcc]);
    MockTarget::new().with_bytes(0xffffffff81000100, &bytes)
}

fn session() -> Session {
    let (mut s, _) = session_on(code());
    s.set_symbols(Box::new(TEST_SYMBOLS));
    s
}

#[test]
fn a_function_is_disassembled_to_its_end_with_symbolised_calls() {
    let mut s = session();
    let out = text(&mut s, "do_work::dis");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 10, "{out}");
    assert!(
        lines[0].starts_with("do_work:") && lines[0].ends_with("pushq %rbp"),
        "{out}"
    );
    assert!(
        lines[2].contains("callq 0xffffffff81000110 <helper>"),
        "{out}"
    );
    assert!(
        lines[4].starts_with("do_work+0xa:") && lines[4].ends_with("retq"),
        "{out}"
    );
    assert!(
        lines[9].starts_with("do_work+0xf:"),
        "stops at the next symbol: {out}"
    );
}

#[test]
fn a_count_and_slash_i_step_through_instructions() {
    let mut s = session();
    let out = text(&mut s, "do_work+1::dis -n 2");
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(
        out.lines().next().unwrap().ends_with("movq %rsp,%rbp"),
        "{out}"
    );
    // As in mdb, a display at a symbol's start is headed by the symbol.
    let out = text(&mut s, "do_work,3/i");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(lines[0], "do_work:");
    assert!(lines[2].starts_with("do_work+0x1:"), "{out}");
    assert!(
        lines[3].starts_with("do_work+0x4:"),
        "dot moves by instruction length: {out}"
    );
}

#[test]
fn unreadable_code_is_one_error() {
    let mut s = session();
    let (outcome, out) = run(&mut s, "dead0000::dis; 1=X");
    assert!(!outcome.all_ok);
    assert!(
        out.text()
            .starts_with("qmdb: failed to read instruction bytes at dead0000"),
        "{}",
        out.text()
    );
    assert!(out.text().ends_with("                1\n"));
}

/// A breakpoint callback's commands run with the stopping task as the address of every dcmd
/// that needs one and was given none; others (and explicit addresses) run as written.
#[test]
fn callbacks_give_a_default_address_to_dcmds_that_need_one() {
    let mut s = session();
    let mut out = CaptureOutput::new();
    let helper = VirtAddr(0xffffffff81000110);
    crate::exec::execute_with(
        &mut s,
        "::dis -n 1; do_work::dis -n 1",
        &mut out,
        Some(helper),
    );
    let text = out.text();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("helper:") && lines[0].ends_with("retq"),
        "{text}"
    );
    assert!(lines[1].starts_with("do_work:"), "{text}");
    let (_, out) = run(&mut s, "::dis -n 1");
    assert!(out.text().contains("needs an address"), "{}", out.text());
}

/// The call API returns `::dis`'s instructions as records, with no text formatted.
#[test]
fn the_call_api_returns_typed_records() {
    let mut s = session();
    let mut call = s
        .call("::dis", Some(VirtAddr(0xffffffff81000100)), &["-n", "2"])
        .unwrap();
    let insns = call.take::<crate::records::Instruction>();
    assert_eq!(insns.len(), 2);
    assert_eq!(insns[0].addr, 0xffffffff81000100);
    assert_eq!(insns[0].text, "pushq %rbp");
    assert_eq!(insns[1].bytes, "4889e5");
    assert!(call.records.is_empty() && call.lines.is_empty());
    let err = s.call("dis", None, &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "::dis: needs an address (usage: addr::dis [-b] [-n count])"
    );
    assert!(matches!(
        s.call("::nosuch", None, &[]),
        Err(DcmdError::UnknownDcmd(_))
    ));
}
