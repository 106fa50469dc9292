//! The built-in dcmds against the mock target.

use super::*;

const REGS: &str = "\
%rax = 0x0000000000000000                 %r9  = 0x0000000000000000
%rbx = 0x0000000000000000                 %r10 = 0x0000000000000000
%rcx = 0x0000000000000000                 %r11 = 0x0000000000000000
%rdx = 0x0000000000000000                 %r12 = 0x0000000000000000
%rsi = 0x0000000000000000                 %r13 = 0x0000000000000000
%rdi = 0x0000000000000000                 %r14 = 0x0000000000000000
%r8  = 0x0000000000000000                 %r15 = 0x0000000000000000

%rip = 0xffffffff81000010
%rbp = 0x0000000000000000
%rsp = 0xffffc90000433f00

%rflags = 0x00000246
  id=0 vip=0 vif=0 ac=0 vm=0 rf=0 nt=0 iopl=0x0
  status=<of,df,IF,tf,sf,ZF,af,PF,cf>

%cs = 0x0010    %ds = 0x0000    %es = 0x0000
%fs = 0x0000    %gs = 0x0000    %ss = 0x0018

%fs_base   = 0x0000000000000000
%gs_base   = 0xffff888007a00000
%k_gs_base = 0x0000000000000000

%cr0  = 0x0000000080050033    %cr2  = 0x0000000000000000
%cr3  = 0x000000000010a000    %cr4  = 0x00000000003506f0
%cr8  = 0x0000000000000000    %efer = 0x0000000000000d01
";

#[test]
fn dollar_r_prints_registers_like_mdb() {
    let (mut s, _) = session_on(MockTarget::new());
    assert_eq!(text(&mut s, "$r"), REGS);
    assert_eq!(text(&mut s, "::regs"), REGS);
    let all = text(&mut s, "::regs -a");
    assert!(all.starts_with(REGS));
    assert!(all.ends_with("\n%st0 = 0x0\n%xmm0 = 0x0\n%mxcsr = 0x0\n"));
    s.set_symbols(Box::new(TEST_SYMBOLS));
    assert!(text(&mut s, "$r").contains("\n%rip = 0xffffffff81000010 _text+0x10\n"));
}

#[test]
fn registers_are_expression_values() {
    let mut t = MockTarget::new();
    t.drop_reg(0, "cr8");
    let (mut s, _) = session_on(t);
    assert_eq!(text(&mut s, "<rip=K"), "                ffffffff81000010\n");
    assert_eq!(
        text(&mut s, "<rsp+8=K"),
        "                ffffc90000433f08\n"
    );
    assert_eq!(text(&mut s, "<cr3=K"), "                10a000\n");
    assert_eq!(
        text(&mut s, "<cr8=K"),
        "qmdb: <cr8: the stub did not supply this register\n"
    );
    assert!(text(&mut s, "$r").contains("\n%efer = 0x0000000000000d01\n"));
    assert_eq!(
        text(&mut s, "<xmm0=K"),
        "qmdb: <xmm0: the register is wider than 64 bits\n"
    );
    assert_eq!(
        text(&mut s, "rip=K"),
        "qmdb: unknown symbol 'rip' (registers are read with <rip)\n"
    );
    assert_eq!(
        text(&mut s, "::regs -z"),
        "qmdb: ::regs: unknown option -z\n"
    );
    assert_eq!(
        text(&mut s, "1000::regs"),
        "qmdb: ::regs: does not take an address (usage: ::regs [-a])\n"
    );
}

#[test]
fn cpus_lists_and_cpu_selects() {
    let (mut s, _) = session_on(MockTarget::new());
    assert_eq!(
        text(&mut s, "::cpus"),
        " CPU THREAD   INFO\n*  0 p1.1     CPU#0 [halted ]\n   1 p1.2     CPU#1 [running]\n"
    );
    assert_eq!(text(&mut s, "::cpu"), "vCPU 0 (thread p1.1) is selected\n");
    assert_eq!(
        text(&mut s, "::cpu 1; <rip=K"),
        "                ffffffff81000200\n"
    );
    assert!(text(&mut s, "::cpus").contains("\n*  1 p1.2"));
    assert_eq!(
        text(&mut s, "0::cpu; <rip=K"),
        "                ffffffff81000010\n"
    );
    assert_eq!(
        text(&mut s, "::cpu 5"),
        "qmdb: ::cpu: no vCPU 5 (0t5); the guest has 2 (see ::cpus)\n"
    );
    assert_eq!(
        text(&mut s, "1::cpu 1"),
        "qmdb: ::cpu: give the vCPU once, as address or argument (usage: [addr]::cpu [index])\n"
    );
}

#[test]
fn status_says_what_detach_will_do() {
    let (mut s, _) = session_on(MockTarget::new());
    assert_eq!(
        text(&mut s, "::status"),
        "target:      127.0.0.1:1234\n\
         qemu:        7.2.0\n\
         state:       stopped (SIGTRAP) on vCPU 0\n\
         attach:      the VM was running when qmdb attached: detaching resumes it\n\
         vcpus:       2, vCPU 0 selected\n\
         packet size: 4096 bytes\n\
         access:      read-only\n\
         kernel:      unknown: no kernel was given (--kernel) or looked for\n"
    );
}

#[test]
fn help_is_generated_from_the_registry() {
    let (mut s, _) = session_on(MockTarget::new());
    let help = text(&mut s, "::help regs");
    assert!(help.starts_with("NAME\n  regs - print the selected vCPU's registers\n\nSYNOPSIS\n  ::regs [-a]\n\nALIASES\n  $r\n\nDESCRIPTION\n"));
    assert_eq!(text(&mut s, "::help $r"), help);
    assert_eq!(text(&mut s, "::help ::regs"), help);
    assert!(text(&mut s, "::help list").contains("addr::walk list [-o offset]"));
    assert!(text(&mut s, "::help").contains("[address] [,count] verb [arguments ...]"));
    assert_eq!(
        text(&mut s, "::help nosuch"),
        "qmdb: ::help: no dcmd or walker named 'nosuch' (see ::dcmds, ::walkers)\n"
    );
    let dcmds = text(&mut s, "::dcmds");
    for d in crate::registry::DCMDS {
        assert!(dcmds.contains(&format!("\n{} ", d.name)) || dcmds.starts_with(d.name));
    }
    for all in [
        dcmds,
        text(&mut s, "::walkers"),
        text(&mut s, "::formats"),
        text(&mut s, "::help"),
    ] {
        for l in all.lines() {
            assert!(l.len() <= 79, "{l}");
        }
    }
    assert!(text(&mut s, "::formats").contains("\nK - hexadecimal uintptr_t (8 bytes)\n"));
}

#[test]
fn monitor_passes_only_read_only_commands() {
    let (mut s, shared) = session_on(MockTarget::new());
    assert_eq!(text(&mut s, "::monitor info version"), "7.2.0\n");
    assert_eq!(
        text(&mut s, "::qemu quit"),
        "qmdb: refused: monitor command 'quit' may change the VM, and qmdb is read-only \
         (see ::help monitor)\n"
    );
    assert_eq!(
        shared.borrow().monitor_log,
        vec!["info version".to_string()]
    );
    assert_eq!(
        text(&mut s, "::monitor"),
        "qmdb: ::monitor: missing monitor command (usage: ::monitor command ...)\n"
    );
}

#[test]
fn quit_stops_the_line() {
    let (mut s, _) = session_on(MockTarget::new());
    let (outcome, out) = run(&mut s, "1=X; $q; 2=X");
    assert!(outcome.quit);
    assert!(outcome.all_ok);
    assert_eq!(out.text(), "                1\n");
    let (outcome, _) = run(&mut s, "::quit");
    assert!(outcome.quit);
    let (outcome, _) = run(&mut s, "1=X");
    assert!(!outcome.quit, "the request is consumed");
}
