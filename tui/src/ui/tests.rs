//! Snapshots of whole screens drawn on ratatui's test backend, at 80x24 and 160x48, with
//! what a real guest shows; and checks of the styles the snapshots do not show.

use super::{draw, Theme};
use crate::app::fixtures::{self, attached_app, run_command, FINDSTACK_OUTPUT};
use crate::app::panes::Side;
use crate::app::tests::key;
use crate::app::{App, Focus};
use crate::protocol::{Event, Status};
use crossterm::event::KeyCode;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use ratatui::Terminal;
use std::time::Duration;

fn render(app: &App, theme: Theme) -> Terminal<TestBackend> {
    let (w, h) = (app.screen.width, app.screen.height);
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| draw(f, app, &theme)).unwrap();
    t
}

fn screen(app: &App) -> String {
    render(app, Theme::colored()).backend().to_string()
}

fn buffer(app: &App, theme: Theme) -> Buffer {
    render(app, theme).backend().buffer().clone()
}

/// An attached app that ran `::walk thread | ::findstack -v` and selected the sleeper.
fn session(w: u16, h: u16) -> App {
    let (mut app, _) = attached_app(w, h);
    run_command(
        &mut app,
        "::walk thread | ::findstack -v",
        FINDSTACK_OUTPUT,
        420,
    );
    app.handle_event(Event::Stack(fixtures::sleeper_stack()));
    app.threads.move_by(7, 20);
    app
}

#[test]
fn attached_80x24() {
    insta::assert_snapshot!(screen(&session(80, 24)));
}

#[test]
fn attached_160x48() {
    let mut app = session(160, 48);
    // A stop after a continue: rip and rax changed.
    app.handle_event(Event::Status(Status {
        running: true,
        ..fixtures::status()
    }));
    app.handle_event(Event::Status(fixtures::status()));
    app.handle_event(Event::Registers(fixtures::registers(
        0xffffffff9f9a2b3d,
        0x1f,
    )));
    app.focus = Focus::Side(Side::Stack);
    app.relayout();
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn threads_filtered_80x24() {
    let mut app = session(80, 24);
    app.handle_key(key(KeyCode::Tab));
    app.handle_key(key(KeyCode::Tab));
    for c in "sleep".chars() {
        app.handle_key(key(KeyCode::Char(c)));
    }
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn registers_focused_80x24() {
    let mut app = session(80, 24);
    app.focus = Focus::Side(Side::Registers);
    app.relayout();
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn key_help_80x24() {
    let mut app = session(80, 24);
    app.handle_key(key(KeyCode::F(1)));
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn the_help_line_count_is_known_to_the_app() {
    let lines = super::overlay::help_lines(&Theme::plain());
    assert_eq!(lines.len(), crate::app::keys::help_line_count());
}

#[test]
fn key_help_160x48() {
    let mut app = session(160, 48);
    app.handle_key(key(KeyCode::F(1)));
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn quit_dialog_80x24() {
    let mut app = session(80, 24);
    for c in "$q".chars() {
        app.handle_key(key(KeyCode::Char(c)));
    }
    app.handle_key(key(KeyCode::Enter));
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn long_command_in_progress_80x24() {
    let (mut app, _) = attached_app(80, 24);
    for c in "::walk thread | ::findstack -v".chars() {
        app.handle_key(key(KeyCode::Char(c)));
    }
    app.handle_key(key(KeyCode::Enter));
    let id = app.running.as_ref().unwrap().id;
    for l in FINDSTACK_OUTPUT.lines().take(6) {
        app.handle_event(Event::Output {
            id,
            kind: crate::protocol::LineKind::Text,
            text: l.into(),
        });
    }
    let t0 = app.running.as_ref().unwrap().started;
    app.tick(t0 + Duration::from_millis(2340));
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn disconnected_80x24() {
    let mut app = session(80, 24);
    app.handle_event(Event::Disconnected {
        reason: "connection reset by peer".into(),
    });
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn output_search_and_completion_80x24() {
    let mut app = session(80, 24);
    app.focus = Focus::Output;
    app.handle_key(key(KeyCode::Char('/')));
    for c in "nanosleep".chars() {
        app.handle_key(key(KeyCode::Char(c)));
    }
    insta::assert_snapshot!("output_search_80x24", screen(&app));
    app.handle_key(key(KeyCode::Enter));
    app.handle_key(key(KeyCode::Esc));
    app.handle_key(key(KeyCode::Esc));
    for c in "::s".chars() {
        app.handle_key(key(KeyCode::Char(c)));
    }
    app.handle_key(key(KeyCode::Tab));
    insta::assert_snapshot!("completion_80x24", screen(&app));
}

#[test]
fn before_attaching_and_narrow_60x20() {
    let mut app = App::new(crate::app::history::History::in_memory());
    app.resize(60, 20);
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn resize_adapts_the_layout() {
    let mut app = session(160, 48);
    let wide = screen(&app);
    app.resize(80, 24);
    assert_eq!(screen(&app), screen(&session(80, 24)));
    app.resize(160, 48);
    assert_eq!(screen(&app), wide);
}

#[test]
fn no_color_draws_without_colours() {
    let mut app = session(160, 48);
    app.handle_event(Event::Status(Status {
        running: true,
        ..fixtures::status()
    }));
    app.handle_event(Event::Status(fixtures::status()));
    app.handle_event(Event::Registers(fixtures::registers(
        0xffffffff9f9a2b3d,
        0x1f,
    )));
    let plain = buffer(&app, Theme::plain());
    for cell in plain.content() {
        assert_eq!(cell.fg, Color::Reset, "{cell:?}");
        assert_eq!(cell.bg, Color::Reset, "{cell:?}");
    }
    let colored = buffer(&app, Theme::colored());
    assert!(colored.content().iter().any(|c| c.fg == Color::Red));
    // The changed rax is bold (and underlined without colour) in both.
    let rax = find(&plain, "000000000000001f").expect("rax is shown");
    assert!(plain[rax]
        .modifier
        .contains(Modifier::BOLD | Modifier::UNDERLINED));
    assert_eq!(buffer(&app, Theme::colored())[rax].fg, Color::Red);
}

#[test]
fn the_selection_and_matches_are_reversed() {
    let mut app = session(80, 24);
    app.focus = Focus::Side(Side::Threads);
    app.relayout();
    let b = buffer(&app, Theme::plain());
    let sel = find(&b, "qmdb-sleeper").unwrap();
    assert!(b[sel].modifier.contains(Modifier::REVERSED));
    app.focus = Focus::Output;
    app.handle_key(key(KeyCode::Char('/')));
    for c in "do_nano".chars() {
        app.handle_key(key(KeyCode::Char(c)));
    }
    app.handle_key(key(KeyCode::Enter));
    let b = buffer(&app, Theme::plain());
    let m = find(&b, "do_nano").unwrap();
    assert!(b[m].modifier.contains(Modifier::REVERSED));
}

/// The position of the first cell of `text` on the screen.
fn find(b: &Buffer, text: &str) -> Option<(u16, u16)> {
    let w = b.area.width;
    for y in 0..b.area.height {
        let row: String = (0..w).map(|x| b[(x, y)].symbol().to_string()).collect();
        if let Some(i) = row.find(text) {
            let x = row[..i].chars().count() as u16;
            return Some((x, y));
        }
    }
    None
}

/// The panes of issue 16: registers with symbols and dereferences, the memory pane at
/// init_task's comm, the events pane with a breakpoint and a watchpoint.
#[test]
fn memory_events_and_register_pointers_160x48() {
    use crate::protocol::{EventRow, MemoryView};
    let mut app = session(160, 48);
    app.handle_event(Event::Registers(fixtures::annotated_registers(
        0xffffffff9f9a2b3d,
        0,
    )));
    let mut reqs = Vec::new();
    app.memory_command_for_tests("init_task+0xb78", &mut reqs);
    let mut bytes = b"swapper/0\0\0\0\0\0\0\0".to_vec();
    bytes.extend((0u8..48).map(|i| i.wrapping_mul(37)));
    app.handle_event(Event::Memory(MemoryView {
        expr: "init_task+0xb78".into(),
        addr: 0xffffffffa0a13c40 + 0xb78,
        bytes,
        note: Some("unreadable from ffffffffa0a147f8: no mapping".into()),
    }));
    app.handle_event(Event::Events(vec![
        EventRow {
            id: 1,
            kind: "bp".into(),
            addr: 0xffffffff9f1c2d30,
            symbol: "hrtimer_nanosleep".into(),
            enabled: true,
            planted: false,
            hits: 3,
            options: "-p qmdb-napper".into(),
        },
        EventRow {
            id: 2,
            kind: "wp/w8".into(),
            addr: 0xffffffffa0a05000,
            symbol: "jiffies".into(),
            enabled: false,
            planted: false,
            hits: 0,
            options: String::new(),
        },
    ]));
    let s = screen(&app);
    assert!(s.contains("default_idle+0xe"), "{s}");
    assert!(s.contains("→ ffffffff9f0a1b2c do_idle"), "{s}");
    // 8 bytes a line in a 55-column pane: the full address, hex, ASCII.
    assert!(
        s.contains("ffffffffa0a147b8 73 77 61 70 70 65 72 2f  swapper/"),
        "{s}"
    );
    assert!(s.contains("30 00 00 00 00 00 00 00  0......."), "{s}");
    assert!(s.contains("hrtimer_nanosleep -p qmdb-napper"), "{s}");
    insta::assert_snapshot!(s);
}
