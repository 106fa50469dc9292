//! The update logic driven by keys and events, without a terminal.

use super::fixtures::{self, attached_app, run_command};
use super::history::History;
use super::output::LineStyle;
use super::panes::Side;
use super::{App, Focus, Link, Overlay};
use crate::protocol::{CommandId, Event, LineKind, Pane, Request, Status};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
use std::sync::atomic::Ordering;
use std::time::Duration;

pub(crate) fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn type_str(app: &mut App, s: &str) -> Vec<Request> {
    s.chars()
        .flat_map(|c| app.handle_key(key(KeyCode::Char(c))))
        .collect()
}

fn line(app: &App) -> &str {
    app.input.value()
}

#[test]
fn attaching_refreshes_every_pane_once() {
    let mut app = App::new(History::in_memory());
    let reqs = app.handle_event(Event::Connected(fixtures::status()));
    assert_eq!(
        reqs,
        [
            Request::Refresh(Pane::Threads),
            Request::Refresh(Pane::Stack { thread: None }),
            Request::Refresh(Pane::Registers),
            Request::Refresh(Pane::Disassembly { addr: None }),
        ]
    );
    assert_eq!(app.link, Link::Connected);
    let note = &app.output.line(0).unwrap().text;
    assert!(note.contains("Linux 6.1.0-56-cloud-amd64"), "{note}");
}

#[test]
fn commands_run_echo_and_enter_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history");
    let (h, _) = History::load(Some(path.clone()));
    let mut app = App::new(h);
    app.handle_event(Event::Connected(fixtures::status()));
    let reqs = run_command(&mut app, "::walk thread | ::findstack -v", "x", 10);
    assert_eq!(
        reqs,
        [Request::Execute {
            id: 1,
            line: "::walk thread | ::findstack -v".into()
        }]
    );
    assert!(app.running.is_none());
    assert_eq!(app.last_elapsed, Some(Duration::from_millis(10)));
    run_command(&mut app, "::status", "", 1);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "::walk thread | ::findstack -v\n::status\n"
    );
    app.handle_key(key(KeyCode::Up));
    assert_eq!(line(&app), "::status");
    app.handle_key(key(KeyCode::Up));
    assert_eq!(line(&app), "::walk thread | ::findstack -v");
    app.handle_key(key(KeyCode::Down));
    app.handle_key(key(KeyCode::Down));
    assert_eq!(line(&app), "");
}

#[test]
fn a_second_command_waits_for_the_first() {
    let (mut app, _) = attached_app(80, 24);
    type_str(&mut app, "::ps -t");
    assert_eq!(app.handle_key(key(KeyCode::Enter)).len(), 1);
    type_str(&mut app, "::regs");
    assert!(app.handle_key(key(KeyCode::Enter)).is_empty());
    assert_eq!(line(&app), "::regs", "kept for later");
    assert!(app.message.as_ref().unwrap().text.contains("Ctrl-C"));
}

#[test]
fn tab_completes_lists_and_cycles() {
    let (mut app, _) = attached_app(80, 24);
    type_str(&mut app, "::walk thread | ::finds");
    app.handle_key(key(KeyCode::Tab));
    assert_eq!(line(&app), "::walk thread | ::findstack ");
    app.input.reset();
    type_str(&mut app, "::walk ");
    app.handle_key(key(KeyCode::Tab));
    let menu = app.menu.as_ref().expect("the walkers are listed");
    assert!(menu.completion.candidates.len() >= 3);
    app.handle_key(key(KeyCode::Tab));
    let first = menu_choice(&app);
    assert_eq!(line(&app), format!("::walk {first}"));
    app.handle_key(key(KeyCode::Tab));
    assert_ne!(menu_choice(&app), first);
    app.handle_key(key(KeyCode::Char('x')));
    assert!(app.menu.is_none(), "any other key closes the list");
    app.handle_event(Event::Names {
        symbols: vec!["do_nanosleep".into(), "do_idle".into()],
        types: vec![],
    });
    app.input.reset();
    type_str(&mut app, "do_n");
    app.handle_key(key(KeyCode::Tab));
    assert_eq!(line(&app), "do_nanosleep");
}

fn menu_choice(app: &App) -> String {
    let m = app.menu.as_ref().unwrap();
    m.completion.candidates[m.chosen.unwrap()].clone()
}

#[test]
fn ctrl_r_finds_and_runs_an_older_command() {
    let (mut app, _) = attached_app(80, 24);
    for l in ["::walk thread", "::regs", "::walk proc", "::status"] {
        run_command(&mut app, l, "", 1);
    }
    app.handle_key(ctrl('r'));
    type_str(&mut app, "walk");
    assert_eq!(
        app.history.entries()[app.hsearch.as_ref().unwrap().hit.unwrap()],
        "::walk proc"
    );
    app.handle_key(ctrl('r'));
    let reqs = app.handle_key(key(KeyCode::Enter));
    assert!(
        matches!(&reqs[..], [Request::Execute { line, .. }] if line == "::walk thread"),
        "{reqs:?}"
    );
    // Esc gives back the line as it was.
    type_str(&mut app, "::cpu");
    app.handle_key(ctrl('r'));
    type_str(&mut app, "regs");
    app.handle_key(key(KeyCode::Esc));
    assert_eq!(line(&app), "::cpu");
    assert!(app.hsearch.is_none());
    // An editing key keeps the match in the line.
    app.input.reset();
    app.handle_key(ctrl('r'));
    type_str(&mut app, "stat");
    app.handle_key(key(KeyCode::Left));
    assert_eq!(line(&app), "::status");
    assert_eq!(app.input.cursor(), 7);
}

#[test]
fn output_scrolls_and_searches() {
    let (mut app, _) = attached_app(80, 24);
    for i in 0..500 {
        app.note(LineStyle::Text, format!("line {i}"));
    }
    app.note(LineStyle::Text, "  ffffb3f2c0267de8 do_nanosleep+0x7b()");
    let h = app.regions.output_height();
    app.handle_key(key(KeyCode::PageUp));
    assert_eq!(app.output.scroll(), h - 1);
    app.handle_key(key(KeyCode::PageDown));
    assert_eq!(app.output.scroll(), 0);
    app.handle_key(KeyEvent::new(KeyCode::Home, KeyModifiers::CONTROL));
    assert_eq!(app.output.window(h).start, 0);
    app.handle_key(KeyEvent::new(KeyCode::End, KeyModifiers::CONTROL));
    assert_eq!(app.output.scroll(), 0);
    let wheel = |kind| MouseEvent {
        kind,
        column: 2,
        row: 3,
        modifiers: KeyModifiers::NONE,
    };
    app.handle_mouse(wheel(MouseEventKind::ScrollUp));
    assert_eq!(app.output.scroll(), 3);
    app.handle_mouse(wheel(MouseEventKind::ScrollDown));
    assert_eq!(app.output.scroll(), 0);

    app.handle_key(key(KeyCode::Tab));
    assert_eq!(app.focus, Focus::Output);
    let current = |app: &App| {
        app.output
            .line(app.output.current_index().unwrap())
            .unwrap()
            .text
            .clone()
    };
    // `/` searches forward from the top of the view, wrapping to the oldest lines (vim).
    app.handle_key(key(KeyCode::Char('/')));
    type_str(&mut app, "line 12");
    assert_eq!(current(&app), "line 12");
    app.handle_key(key(KeyCode::Enter));
    assert!(app.search.is_none());
    // `n` goes on forward, as in less and vim; `N` goes back.
    app.handle_key(key(KeyCode::Char('n')));
    assert_eq!(current(&app), "line 120");
    app.handle_key(key(KeyCode::Char('n')));
    assert_eq!(current(&app), "line 121");
    app.handle_key(key(KeyCode::Char('N')));
    app.handle_key(key(KeyCode::Char('N')));
    assert_eq!(current(&app), "line 12");
    app.handle_key(key(KeyCode::Char('N')));
    assert_eq!(current(&app), "line 129", "wrapped to the newest match");
    assert!(app.message.as_ref().unwrap().text.contains("hit TOP"));
    app.handle_key(key(KeyCode::Char('n')));
    assert_eq!(current(&app), "line 12", "and forward again to the oldest");
    assert!(app.message.as_ref().unwrap().text.contains("hit BOTTOM"));
    // `?` searches backward from the bottom of the view; then `n` goes on backward.
    app.handle_key(key(KeyCode::Esc));
    app.handle_key(KeyEvent::new(KeyCode::End, KeyModifiers::CONTROL));
    app.handle_key(key(KeyCode::Char('?')));
    assert_eq!(app.overlay, Overlay::None, "? searches in the output pane");
    type_str(&mut app, "line 4");
    app.handle_key(key(KeyCode::Enter));
    assert_eq!(current(&app), "line 499");
    app.handle_key(key(KeyCode::Char('n')));
    assert_eq!(current(&app), "line 498");
    app.handle_key(key(KeyCode::Char('N')));
    assert_eq!(current(&app), "line 499");
    app.handle_key(key(KeyCode::Esc));
    assert!(app.output.pattern.is_none(), "Esc clears the search first");
    app.handle_key(key(KeyCode::Char('/')));
    type_str(&mut app, "nosuch");
    app.handle_key(key(KeyCode::Enter));
    assert!(app.message.as_ref().unwrap().error);
}

#[test]
fn focus_cycles_through_shown_panes_and_esc_comes_back() {
    let (mut app, _) = attached_app(160, 48);
    let mut seen = vec![app.focus];
    for _ in 0..6 {
        app.handle_key(key(KeyCode::Tab));
        seen.push(app.focus);
    }
    assert_eq!(
        seen,
        [
            Focus::CommandLine,
            Focus::Output,
            Focus::Side(Side::Threads),
            Focus::Side(Side::Stack),
            Focus::Side(Side::Registers),
            Focus::Side(Side::Disassembly),
            Focus::CommandLine,
        ]
    );
    app.handle_key(key(KeyCode::BackTab));
    assert_eq!(app.focus, Focus::Side(Side::Disassembly));
    app.handle_key(key(KeyCode::F(6)));
    assert_eq!(app.focus, Focus::CommandLine, "hiding the focused pane");
    app.handle_key(key(KeyCode::BackTab));
    assert_eq!(
        app.focus,
        Focus::Side(Side::Registers),
        "hidden panes are skipped"
    );
    app.handle_key(key(KeyCode::Esc));
    assert_eq!(app.focus, Focus::CommandLine);
    let reqs = app.handle_key(key(KeyCode::F(6)));
    assert_eq!(reqs, [Request::Refresh(Pane::Disassembly { addr: None })]);
    // Too narrow for side panes: focus falls back to the command line.
    app.focus = Focus::Side(Side::Stack);
    app.resize(50, 20);
    assert_eq!(app.focus, Focus::CommandLine);
    // Typing in a pane goes to the command line.
    app.resize(160, 48);
    app.focus = Focus::Output;
    type_str(&mut app, "::ps");
    assert_eq!((app.focus, line(&app)), (Focus::CommandLine, "::ps"));
}

#[test]
fn threads_filter_and_enter_shows_the_stack() {
    let (mut app, _) = attached_app(160, 48);
    app.focus = Focus::Side(Side::Threads);
    type_str(&mut app, "sleeper");
    assert_eq!(app.threads.len(), 2);
    let reqs = app.handle_key(key(KeyCode::Enter));
    assert_eq!(
        reqs,
        [
            Request::Execute {
                id: 1,
                line: "ffff8ead41bf4800::findstack -v".into()
            },
            Request::Refresh(Pane::Stack {
                thread: Some(0xffff8ead41bf4800)
            }),
        ]
    );
    assert_eq!(
        app.output.line(app.output.len() - 1).unwrap().text,
        "> ffff8ead41bf4800::findstack -v"
    );
    app.handle_key(key(KeyCode::Backspace));
    assert_eq!(app.threads.filter(), "sleepe");
    app.handle_key(key(KeyCode::Esc));
    assert_eq!(app.threads.filter(), "");
    assert_eq!(
        app.focus,
        Focus::Side(Side::Threads),
        "first Esc clears the filter"
    );
    assert!(type_str(&mut app, "q").is_empty(), "q filters here");
    assert_eq!(app.threads.filter(), "q");
    app.handle_key(key(KeyCode::Esc));
    app.handle_key(key(KeyCode::Esc));
    assert_eq!(app.focus, Focus::CommandLine);
}

#[test]
fn a_frame_is_disassembled_on_enter() {
    let (mut app, _) = attached_app(160, 48);
    app.handle_event(Event::Stack(fixtures::sleeper_stack()));
    app.focus = Focus::Side(Side::Stack);
    app.handle_key(key(KeyCode::Down));
    app.handle_key(key(KeyCode::Char('j')));
    let reqs = app.handle_key(key(KeyCode::Enter));
    assert_eq!(
        reqs,
        [Request::Refresh(Pane::Disassembly {
            addr: Some(0xffffffff9f9a8e5b)
        })]
    );
}

#[test]
fn quitting_asks_only_when_it_would_leave_the_guest_halted() {
    let (mut app, _) = attached_app(80, 24);
    app.focus = Focus::Output;
    assert!(app.handle_key(key(KeyCode::Char('q'))).is_empty());
    assert_eq!(app.overlay, Overlay::QuitDialog);
    assert!(app.handle_key(key(KeyCode::Esc)).is_empty());
    assert_eq!(app.overlay, Overlay::None);
    app.handle_key(key(KeyCode::Char('q')));
    assert_eq!(
        app.handle_key(key(KeyCode::Char('h'))),
        [Request::Quit { resume: false }]
    );
    assert!(app.is_quitting() && !app.should_exit());
    app.handle_event(Event::Exited);
    assert!(app.should_exit());

    // Running guest: `$q` quits at once, resuming (leaving it as found).
    let (mut app, _) = attached_app(80, 24);
    app.handle_event(Event::Status(Status {
        running: true,
        stop_reason: None,
        ..fixtures::status()
    }));
    let reqs = type_str(&mut app, "$q");
    assert!(reqs.is_empty());
    assert_eq!(
        app.handle_key(key(KeyCode::Enter)),
        [Request::Quit { resume: true }]
    );
    // The worker never answers: the UI gives up after a while.
    app.tick(app.now + super::QUIT_WAIT);
    assert!(app.should_exit());

    // Stopped at attach: nothing to ask.
    let (mut app, _) = attached_app(80, 24);
    app.status.was_running_at_attach = false;
    assert_eq!(app.handle_key(ctrl('d')), [Request::Quit { resume: true }]);
}

#[test]
fn ctrl_c_cancels_a_command_else_halts_else_clears() {
    let (mut app, flag) = attached_app(80, 24);
    type_str(&mut app, "::walk thread | ::findstack -v");
    app.handle_key(key(KeyCode::Enter));
    assert!(app.handle_key(ctrl('c')).is_empty());
    assert!(flag.load(Ordering::SeqCst), "the interrupt flag is set");
    assert!(app.running.as_ref().unwrap().interrupting);
    let id = app.running.as_ref().unwrap().id;
    app.handle_event(Event::Done {
        id,
        ok: false,
        elapsed: Duration::from_millis(900),
        quit: false,
        fatal: false,
        interrupted: true,
    });
    // The next command starts with the flag clear.
    run_command(&mut app, "::status", "", 1);
    assert!(!flag.load(Ordering::SeqCst));

    app.handle_event(Event::Status(Status {
        running: true,
        ..fixtures::status()
    }));
    assert_eq!(app.handle_key(ctrl('c')), [Request::Halt]);

    app.status.running = false;
    type_str(&mut app, "::regs");
    assert!(app.handle_key(ctrl('c')).is_empty());
    assert_eq!(line(&app), "");
}

/// F5 is `:c`, the `::cont` dcmd, as if typed.
fn continue_command(app: &mut App, reqs: &[Request]) -> CommandId {
    let [Request::Execute { id, line }] = reqs else {
        panic!("not ::cont: {reqs:?}");
    };
    assert_eq!(line, ":c");
    assert!(app.running.is_some());
    *id
}

#[test]
fn continue_and_the_stop_after_it() {
    let (mut app, flag) = attached_app(80, 24);
    let reqs = app.handle_key(key(KeyCode::F(5)));
    let id = continue_command(&mut app, &reqs);
    app.handle_event(Event::Resumed);
    assert!(app.status.running, "the status bar says running");
    assert!(
        app.handle_key(key(KeyCode::F(5))).is_empty(),
        "already running"
    );
    // Ctrl-C interrupts ::cont, which halts the guest and reports the stop.
    assert!(app.handle_key(ctrl('c')).is_empty());
    assert!(flag.load(Ordering::SeqCst));
    let stops = app.stops();
    app.handle_event(Event::Output {
        id,
        kind: LineKind::Text,
        text: "stopped on vCPU 1 by Ctrl-C".into(),
    });
    app.handle_event(Event::Done {
        id,
        ok: false,
        elapsed: Duration::from_secs(2),
        quit: false,
        fatal: false,
        interrupted: true,
    });
    let reqs = app.handle_event(Event::Status(Status {
        stop_reason: Some("SIGINT on vCPU 1".into()),
        ..fixtures::status()
    }));
    assert!(app.running.is_none());
    assert_eq!(app.stops(), stops + 1);
    assert_eq!(
        reqs.len(),
        4,
        "every pane is refreshed after a stop: {reqs:?}"
    );
    app.handle_event(Event::Registers(fixtures::registers(0xffffffff9f9a2b3d, 0)));
    assert!(
        app.registers.changed.is_empty(),
        "nothing changed since attaching"
    );
    type_str(&mut app, ":c");
    let reqs = app.handle_key(key(KeyCode::Enter));
    let id = continue_command(&mut app, &reqs);
    app.handle_event(Event::Resumed);
    app.handle_event(Event::Done {
        id,
        ok: true,
        elapsed: Duration::from_secs(1),
        quit: false,
        fatal: false,
        interrupted: false,
    });
    app.handle_event(Event::Status(fixtures::status()));
    app.handle_event(Event::Registers(fixtures::registers(0xffffffff9f0d1e2a, 0)));
    let mut changed: Vec<_> = app.registers.changed.iter().cloned().collect();
    changed.sort();
    assert_eq!(changed, ["rip"]);
    // Read again at the same stop: still compared with the stop before.
    app.handle_event(Event::Registers(fixtures::registers(0xffffffff9f0d1e2a, 0)));
    assert_eq!(app.registers.changed.len(), 1);
    // Another vCPU: nothing to compare with.
    app.handle_event(Event::Status(Status {
        selected_vcpu: 1,
        ..fixtures::status()
    }));
    app.handle_event(Event::Registers(fixtures::registers(0xffffffff9f9a2b3d, 5)));
    assert!(app.registers.changed.is_empty());
}

#[test]
fn a_lost_connection_stays_up_and_reconnects() {
    let (mut app, _) = attached_app(80, 24);
    app.handle_event(Event::Disconnected {
        reason: "connection reset by peer".into(),
    });
    assert!(matches!(app.link, Link::Disconnected(_)));
    type_str(&mut app, "::regs");
    assert!(app.handle_key(key(KeyCode::Enter)).is_empty());
    app.input.reset();
    app.focus = Focus::Output;
    assert_eq!(
        app.handle_key(key(KeyCode::Char('r'))),
        [Request::Reconnect]
    );
    assert_eq!(app.link, Link::Connecting);
    app.focus = Focus::CommandLine;
    type_str(&mut app, "::reconnect");
    assert_eq!(app.handle_key(key(KeyCode::Enter)), [Request::Reconnect]);
    let reqs = app.handle_event(Event::Connected(fixtures::status()));
    assert_eq!(reqs.len(), 4);
    // Quitting while disconnected does not ask.
    app.handle_event(Event::Disconnected {
        reason: "gone".into(),
    });
    app.focus = Focus::Output;
    assert_eq!(
        app.handle_key(key(KeyCode::Char('q'))),
        [Request::Quit { resume: true }]
    );
}

#[test]
fn progress_shows_after_200ms() {
    let (mut app, _) = attached_app(80, 24);
    type_str(&mut app, "::walk thread");
    app.handle_key(key(KeyCode::Enter));
    let t0 = app.running.as_ref().unwrap().started;
    app.tick(t0 + Duration::from_millis(150));
    assert!(app.progress().is_none());
    app.tick(t0 + Duration::from_millis(1500));
    let (what, e) = app.progress().unwrap();
    assert_eq!(
        (what.as_str(), e),
        ("::walk thread", Duration::from_millis(1500))
    );
}

#[test]
fn help_opens_on_an_empty_line_or_in_a_pane() {
    let (mut app, _) = attached_app(80, 24);
    app.handle_key(key(KeyCode::Char('?')));
    assert_eq!(app.overlay, Overlay::Help(0));
    app.handle_key(key(KeyCode::Down));
    assert_eq!(app.overlay, Overlay::Help(1));
    app.handle_key(key(KeyCode::Esc));
    assert_eq!(app.overlay, Overlay::None);
    type_str(&mut app, "::help");
    app.handle_key(key(KeyCode::Char('?')));
    assert_eq!(line(&app), "::help?");
    app.handle_key(key(KeyCode::F(1)));
    assert_eq!(app.overlay, Overlay::Help(0));
}

#[test]
fn side_panes_resize_and_paste_goes_to_the_line() {
    let (mut app, _) = attached_app(160, 48);
    let w = app.regions.output.width;
    app.handle_key(KeyEvent::new(KeyCode::Left, KeyModifiers::ALT));
    assert!(app.regions.output.width < w);
    app.handle_key(KeyEvent::new(KeyCode::Right, KeyModifiers::ALT));
    app.handle_key(KeyEvent::new(KeyCode::Right, KeyModifiers::ALT));
    assert!(app.regions.output.width > w);
    app.handle_paste("::walk thread\n| ::findstack");
    assert_eq!(line(&app), "::walk thread | ::findstack");
}

#[test]
fn clicks_focus_and_select_the_wheel_scrolls_lists() {
    let (mut app, _) = attached_app(160, 48);
    let threads = app.regions.pane(Side::Threads).unwrap().rect;
    let click = |x, y| MouseEvent {
        kind: MouseEventKind::Down(crossterm::event::MouseButton::Left),
        column: x,
        row: y,
        modifiers: KeyModifiers::NONE,
    };
    // Border, header, then the rows: the fourth thread is on the fifth content row.
    app.handle_mouse(click(threads.x + 3, threads.y + 5));
    assert_eq!(app.focus, Focus::Side(Side::Threads));
    assert_eq!(app.threads.selected().unwrap().pid, 15);
    app.handle_mouse(MouseEvent {
        kind: MouseEventKind::ScrollDown,
        ..click(threads.x + 3, threads.y + 5)
    });
    assert_eq!(app.threads.selected().unwrap().pid, 88, "three rows down");
    app.handle_mouse(click(app.regions.command.x + 5, app.regions.command.y));
    assert_eq!(app.focus, Focus::CommandLine);
    app.handle_mouse(click(1, 1));
    assert_eq!(app.focus, Focus::Output);
}

#[test]
fn a_blank_line_repeats_the_last_command() {
    let (mut app, _) = attached_app(80, 24);
    run_command(&mut app, "init_task/X", "init_task:      0", 5);
    let reqs = app.handle_key(key(KeyCode::Enter));
    let [Request::Repeat { id }] = reqs.as_slice() else {
        panic!("not a repeat: {reqs:?}");
    };
    let id = *id;
    assert!(app.running.is_some());
    // Another blank Enter while it runs is refused, not queued.
    assert!(app.handle_key(key(KeyCode::Enter)).is_empty());
    app.handle_event(Event::Repeating {
        id,
        line: Some("0xffffffff9fe13c44,0x1/X".into()),
    });
    assert_eq!(
        app.running.as_ref().unwrap().line,
        "0xffffffff9fe13c44,0x1/X"
    );
    app.handle_event(Event::Output {
        id,
        kind: LineKind::Text,
        text: "init_task+4:    4000".into(),
    });
    app.handle_event(Event::Done {
        id,
        ok: true,
        elapsed: Duration::from_millis(3),
        quit: false,
        fatal: false,
        interrupted: false,
    });
    assert!(app.running.is_none());
    let texts: Vec<&str> = (0..app.output.len())
        .map(|i| app.output.line(i).unwrap().text.as_str())
        .collect();
    assert!(
        texts.ends_with(&["> 0xffffffff9fe13c44,0x1/X", "init_task+4:    4000"]),
        "{texts:?}"
    );
    assert_eq!(
        app.history.entries().last().map(String::as_str),
        Some("init_task/X"),
        "blank lines do not enter the history"
    );
    // Nothing to repeat: said, and the command ends.
    let reqs = app.handle_key(key(KeyCode::Enter));
    let [Request::Repeat { id }] = reqs.as_slice() else {
        panic!("{reqs:?}");
    };
    app.handle_event(Event::Repeating {
        id: *id,
        line: None,
    });
    assert!(app
        .message
        .as_ref()
        .unwrap()
        .text
        .contains("nothing to repeat"));
}

#[test]
fn mem_sets_the_memory_pane_which_follows_stops_and_commands() {
    use crate::protocol::MemoryView;
    let (mut app, _) = attached_app(160, 48);
    assert!(
        !app.is_shown(Side::Memory),
        "hidden until an expression is set"
    );
    let reqs = app.handle_key(key(KeyCode::F(7)));
    assert!(reqs.is_empty());
    assert!(app.message.as_ref().unwrap().text.contains(":mem EXPR"));
    app.handle_key(key(KeyCode::F(7)));
    type_str(&mut app, ":mem <rsp");
    let reqs = app.handle_key(key(KeyCode::Enter));
    let mem = Pane::Memory {
        expr: "<rsp".into(),
    };
    assert_eq!(reqs, [Request::Refresh(mem.clone())]);
    assert!(app.is_shown(Side::Memory));
    assert_eq!(line(&app), "");
    // A stale answer for another expression is dropped.
    app.handle_event(Event::Memory(MemoryView {
        expr: "init_task".into(),
        addr: 1,
        bytes: vec![1],
        note: None,
    }));
    assert!(app.memory.view.is_none());
    app.handle_event(Event::Memory(MemoryView {
        expr: "<rsp".into(),
        addr: 0xffffffffa0a03e70,
        bytes: vec![0; 512],
        note: None,
    }));
    assert_eq!(app.memory.view.as_ref().unwrap().addr, 0xffffffffa0a03e70);
    app.focus = Focus::Side(Side::Memory);
    app.handle_key(key(KeyCode::Down));
    assert_eq!(app.memory.offset, 1);
    app.handle_key(key(KeyCode::End));
    let per_line = app.memory_bytes_per_line();
    let h = app.height(Side::Memory);
    assert_eq!(app.memory.offset, 512 / per_line - h);
    // After a command, the pane is read again.
    app.focus = Focus::CommandLine;
    let reqs = run_command(&mut app, "::status", "", 1);
    assert_eq!(reqs.len(), 1);
    assert!(app.memory.load.since.is_some(), "refreshed after Done");
    // An expression error shows in the pane.
    app.handle_event(Event::PaneError {
        pane: mem,
        message: "unknown symbol nosuch".into(),
    });
    assert_eq!(
        app.memory.load.error.as_deref(),
        Some("unknown symbol nosuch")
    );
    type_str(&mut app, ":mem");
    app.handle_key(key(KeyCode::Enter));
    assert!(app.message.as_ref().unwrap().text.contains("follows <rsp"));
}

#[test]
fn the_events_pane_shows_itself_with_the_first_event() {
    use crate::protocol::EventRow;
    let (mut app, _) = attached_app(160, 48);
    assert!(!app.is_shown(Side::Events));
    app.handle_event(Event::Events(Vec::new()));
    assert!(!app.is_shown(Side::Events));
    let bp = EventRow {
        id: 1,
        kind: "bp".into(),
        addr: 0xffffffff9f1c2d30,
        symbol: "hrtimer_nanosleep".into(),
        enabled: true,
        planted: false,
        hits: 0,
        options: String::new(),
    };
    app.handle_event(Event::Events(vec![bp.clone()]));
    assert!(app.is_shown(Side::Events));
    assert_eq!(app.events.rows, std::slice::from_ref(&bp));
    // Hidden by the user: it stays hidden; F8 brings it back, asking for the table.
    app.handle_key(key(KeyCode::F(8)));
    assert!(!app.is_shown(Side::Events));
    app.handle_event(Event::Events(vec![bp]));
    assert!(!app.is_shown(Side::Events));
    let reqs = app.handle_key(key(KeyCode::F(8)));
    assert_eq!(reqs, [Request::Refresh(Pane::Events)]);
    assert!(app.is_shown(Side::Events));
}

#[test]
fn y_copies_the_output_block_with_osc52() {
    let (mut app, _) = attached_app(80, 24);
    run_command(&mut app, "::ps", "PID COMM\n1 systemd", 1);
    run_command(&mut app, "::status", "status: stopped", 1);
    app.focus = Focus::Output;
    app.handle_key(key(KeyCode::Char('y')));
    assert_eq!(app.take_clipboard().as_deref(), Some("status: stopped\n"));
    assert!(app.message.as_ref().unwrap().text.contains("copied 1 line"));
    // At a search match: that match's block.
    app.handle_key(key(KeyCode::Char('?')));
    type_str(&mut app, "systemd");
    app.handle_key(key(KeyCode::Enter));
    app.handle_key(key(KeyCode::Char('y')));
    assert_eq!(
        app.take_clipboard().as_deref(),
        Some("PID COMM\n1 systemd\n")
    );
    assert!(app.take_clipboard().is_none(), "sent once");
    assert_eq!(
        crate::clipboard::osc52("PID COMM\n1 systemd\n"),
        "\x1b]52;c;UElEIENPTU0KMSBzeXN0ZW1kCg==\x07"
    );
}
