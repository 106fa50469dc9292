//! The key table: every key the terminal UI handles, in one place. The key help overlay (F1)
//! and the README are generated from [`BINDINGS`], and the keys are dispatched through it, so
//! help and behaviour cannot drift apart. A test checks that this list is complete.
//!
//! Focus moves with Tab and Shift-Tab: command line → output → threads → stack → registers →
//! memory → events → disassembly (hidden panes are skipped); Esc comes back to the command
//! line.
//!
//! | Where | Keys | What |
//! |---|---|---|
//! | anywhere | F1 | key help |
//! | anywhere | Tab | focus the next pane |
//! | anywhere | Shift-Tab | focus the previous pane |
//! | anywhere | Esc | clear filter or search, else to the command line |
//! | anywhere | F2 | show or hide the threads pane |
//! | anywhere | F3 | show or hide the stack pane |
//! | anywhere | F4 | show or hide the registers pane |
//! | anywhere | F6 | show or hide the disassembly pane |
//! | anywhere | F7 | show or hide the memory pane (:mem EXPR) |
//! | anywhere | F8 | show or hide the events pane |
//! | anywhere | Alt-← | widen the side panes |
//! | anywhere | Alt-→ | narrow the side panes |
//! | anywhere | F5 | continue the guest (also :c) |
//! | anywhere | Ctrl-C | cancel the command, else halt the guest |
//! | anywhere | PgUp | scroll the output up a page |
//! | anywhere | PgDn | scroll the output down a page |
//! | anywhere | Ctrl-Home | top of the output |
//! | anywhere | Ctrl-End | end of the output (follow it) |
//! | anywhere | Ctrl-L | clear the output |
//! | anywhere | mouse wheel | scroll what is under the pointer; a click focuses |
//! | empty command line | ? | key help |
//! | empty command line | Tab | focus the next pane |
//! | empty command line | Ctrl-D | quit (also $q, ::quit) |
//! | command line | Enter | run the line; a blank line repeats the last |
//! | command line | Tab | complete a dcmd, walker, symbol, type |
//! | command line | ↑ | previous command |
//! | command line | ↓ | next command |
//! | command line | Ctrl-R | search the history |
//! | command line | Ctrl-A/E/B/F/W/U/K/Y | edit the line as in a shell |
//! | command line | :c  ::reconnect | continue; attach again |
//! | command line | :mem EXPR | memory pane at EXPR (<rsp, init_task+0x10) |
//! | history search | Ctrl-R | older match |
//! | history search | Enter | run the match |
//! | history search | Esc Ctrl-G | give up the search |
//! | history search | Backspace | delete a character |
//! | history search | ←  →  Tab | edit the match |
//! | output pane | / | search forward (newer lines), wrapping |
//! | output pane | ? | search backward (older lines), wrapping |
//! | output pane | n | next match, in the search's direction |
//! | output pane | N | next match, the other way |
//! | output pane | y | copy the match's output block (OSC 52) |
//! | output pane | ← h | scroll left |
//! | output pane | → l | scroll right |
//! | output search | Enter | keep the match |
//! | output search | Esc | give up the search |
//! | threads pane | ↑ | previous thread |
//! | threads pane | ↓ | next thread |
//! | threads pane | PgUp | a page up |
//! | threads pane | PgDn | a page down |
//! | threads pane | Home | first thread |
//! | threads pane | End | last thread |
//! | threads pane | Enter | ::findstack -v of the thread |
//! | threads pane | Backspace | shorten the filter |
//! | threads pane | ? | key help |
//! | threads pane | letters, digits | filter by name, pid or address |
//! | stack pane | Enter | disassemble around the frame |
//! | panes (not threads) | ↑ k | up a line |
//! | panes (not threads) | ↓ j | down a line |
//! | panes (not threads) | Home g | to the top |
//! | panes (not threads) | End G | to the bottom |
//! | panes (not threads) | ? | key help |
//! | panes (not threads) | r | reconnect (also ::reconnect) |
//! | panes (not threads) | q | quit |
//! | key help | Esc q ? F1 | close |
//! | key help | ↑ k | scroll up |
//! | key help | ↓ j | scroll down |
//! | key help | PgUp | a page up |
//! | key help | PgDn | a page down |
//! | quit dialog | r Enter | resume the guest and quit |
//! | quit dialog | h | quit, leaving the guest halted |
//! | quit dialog | Esc c | do not quit |

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Where a binding applies. A key is looked up in the scopes of the current focus and mode,
/// most specific first (see [`scopes_for`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Whatever has focus (unless a dialog or prompt is open).
    Global,
    /// The command line while it is empty.
    EmptyLine,
    /// The command line.
    CommandLine,
    /// Ctrl-R's reverse search through the history.
    HistorySearch,
    /// The output pane.
    Output,
    /// The output pane's `/` search prompt.
    OutputSearch,
    /// The threads pane.
    Threads,
    /// The stack pane.
    Stack,
    /// Any pane but the command line and the threads pane (which takes typed characters).
    Pane,
    /// The key help overlay.
    Help,
    /// The dialog asking whether to leave the guest halted on quit.
    QuitDialog,
}

impl Scope {
    /// How the help overlay names the scope.
    pub fn title(self) -> &'static str {
        match self {
            Scope::Global => "anywhere",
            Scope::EmptyLine => "empty command line",
            Scope::CommandLine => "command line",
            Scope::HistorySearch => "history search",
            Scope::Output => "output pane",
            Scope::OutputSearch => "output search",
            Scope::Threads => "threads pane",
            Scope::Stack => "stack pane",
            Scope::Pane => "panes (not threads)",
            Scope::Help => "key help",
            Scope::QuitDialog => "quit dialog",
        }
    }
}

/// What a key does. The app interprets each action in the light of its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ShowHelp,
    CloseHelp,
    FocusNext,
    FocusPrev,
    /// Clear the threads filter or the output search, else focus the command line.
    Escape,
    ToggleThreads,
    ToggleStack,
    ToggleRegisters,
    ToggleDisassembly,
    ToggleMemory,
    ToggleEvents,
    NarrowSide,
    WidenSide,
    Continue,
    /// Cancel the running command or refresh, else halt a running guest, else clear the line.
    Interrupt,
    OutputPageUp,
    OutputPageDown,
    OutputTop,
    OutputBottom,
    ClearOutput,
    Quit,
    Reconnect,
    RunLine,
    HistoryPrev,
    HistoryNext,
    HistorySearch,
    Complete,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Left,
    Right,
    /// Enter in a pane: a thread's stack, a frame's disassembly.
    Select,
    FilterBackspace,
    SearchStart,
    SearchBackward,
    /// `n`: the next match in the direction of the last search.
    SearchNext,
    /// `N`: the next match the other way.
    SearchPrev,
    /// Copy the output block at the match (or the view's bottom) to the clipboard.
    Copy,
    Accept,
    Cancel,
    QuitResume,
    QuitLeaveHalted,
    /// Documentation only: keys handled by the line editor or typed into a filter.
    Text,
}

/// A key with its modifiers (Shift is ignored for characters and Shift-Tab).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

const fn key(code: KeyCode) -> Key {
    Key {
        code,
        mods: KeyModifiers::NONE,
    }
}

const fn ch(c: char) -> Key {
    key(KeyCode::Char(c))
}

const fn ctrl(code: KeyCode) -> Key {
    Key {
        code,
        mods: KeyModifiers::CONTROL,
    }
}

const fn alt(code: KeyCode) -> Key {
    Key {
        code,
        mods: KeyModifiers::ALT,
    }
}

/// One line of the key table.
#[derive(Debug)]
pub struct Binding {
    pub scope: Scope,
    pub keys: &'static [Key],
    /// How the keys are shown, when not generated from `keys` (documentation-only rows).
    pub label: Option<&'static str>,
    pub action: Action,
    pub help: &'static str,
}

const fn b(scope: Scope, keys: &'static [Key], action: Action, help: &'static str) -> Binding {
    Binding {
        scope,
        keys,
        label: None,
        action,
        help,
    }
}

const fn doc(scope: Scope, label: &'static str, help: &'static str) -> Binding {
    Binding {
        scope,
        keys: &[],
        label: Some(label),
        action: Action::Text,
        help,
    }
}

use Action as A;
use KeyCode as K;
use Scope as S;

/// Every key binding, in the order the help shows them.
#[rustfmt::skip]
pub static BINDINGS: &[Binding] = &[
    b(S::Global, &[key(K::F(1))], A::ShowHelp, "key help"),
    b(S::Global, &[key(K::Tab)], A::FocusNext, "focus the next pane"),
    b(S::Global, &[key(K::BackTab)], A::FocusPrev, "focus the previous pane"),
    b(S::Global, &[key(K::Esc)], A::Escape, "clear filter or search, else to the command line"),
    b(S::Global, &[key(K::F(2))], A::ToggleThreads, "show or hide the threads pane"),
    b(S::Global, &[key(K::F(3))], A::ToggleStack, "show or hide the stack pane"),
    b(S::Global, &[key(K::F(4))], A::ToggleRegisters, "show or hide the registers pane"),
    b(S::Global, &[key(K::F(6))], A::ToggleDisassembly, "show or hide the disassembly pane"),
    b(S::Global, &[key(K::F(7))], A::ToggleMemory, "show or hide the memory pane (:mem EXPR)"),
    b(S::Global, &[key(K::F(8))], A::ToggleEvents, "show or hide the events pane"),
    b(S::Global, &[alt(K::Left)], A::WidenSide, "widen the side panes"),
    b(S::Global, &[alt(K::Right)], A::NarrowSide, "narrow the side panes"),
    b(S::Global, &[key(K::F(5))], A::Continue, "continue the guest (also :c)"),
    b(S::Global, &[ctrl(K::Char('c'))], A::Interrupt, "cancel the command, else halt the guest"),
    b(S::Global, &[key(K::PageUp)], A::OutputPageUp, "scroll the output up a page"),
    b(S::Global, &[key(K::PageDown)], A::OutputPageDown, "scroll the output down a page"),
    b(S::Global, &[ctrl(K::Home)], A::OutputTop, "top of the output"),
    b(S::Global, &[ctrl(K::End)], A::OutputBottom, "end of the output (follow it)"),
    b(S::Global, &[ctrl(K::Char('l'))], A::ClearOutput, "clear the output"),
    doc(S::Global, "mouse wheel", "scroll what is under the pointer; a click focuses"),
    b(S::EmptyLine, &[ch('?')], A::ShowHelp, "key help"),
    b(S::EmptyLine, &[key(K::Tab)], A::FocusNext, "focus the next pane"),
    b(S::EmptyLine, &[ctrl(K::Char('d'))], A::Quit, "quit (also $q, ::quit)"),
    b(S::CommandLine, &[key(K::Enter)], A::RunLine, "run the line; a blank line repeats the last"),
    b(S::CommandLine, &[key(K::Tab)], A::Complete, "complete a dcmd, walker, symbol, type"),
    b(S::CommandLine, &[key(K::Up)], A::HistoryPrev, "previous command"),
    b(S::CommandLine, &[key(K::Down)], A::HistoryNext, "next command"),
    b(S::CommandLine, &[ctrl(K::Char('r'))], A::HistorySearch, "search the history"),
    doc(S::CommandLine, "Ctrl-A/E/B/F/W/U/K/Y", "edit the line as in a shell"),
    doc(S::CommandLine, ":c  ::reconnect", "continue; attach again"),
    doc(S::CommandLine, ":mem EXPR", "memory pane at EXPR (<rsp, init_task+0x10)"),
    b(S::HistorySearch, &[ctrl(K::Char('r'))], A::HistorySearch, "older match"),
    b(S::HistorySearch, &[key(K::Enter)], A::RunLine, "run the match"),
    b(S::HistorySearch, &[key(K::Esc), ctrl(K::Char('g'))], A::Cancel, "give up the search"),
    b(S::HistorySearch, &[key(K::Backspace)], A::FilterBackspace, "delete a character"),
    doc(S::HistorySearch, "←  →  Tab", "edit the match"),
    b(S::Output, &[ch('/')], A::SearchStart, "search forward (newer lines), wrapping"),
    b(S::Output, &[ch('?')], A::SearchBackward, "search backward (older lines), wrapping"),
    b(S::Output, &[ch('n')], A::SearchNext, "next match, in the search's direction"),
    b(S::Output, &[ch('N')], A::SearchPrev, "next match, the other way"),
    b(S::Output, &[ch('y')], A::Copy, "copy the match's output block (OSC 52)"),
    b(S::Output, &[key(K::Left), ch('h')], A::Left, "scroll left"),
    b(S::Output, &[key(K::Right), ch('l')], A::Right, "scroll right"),
    b(S::OutputSearch, &[key(K::Enter)], A::Accept, "keep the match"),
    b(S::OutputSearch, &[key(K::Esc)], A::Cancel, "give up the search"),
    b(S::Threads, &[key(K::Up)], A::Up, "previous thread"),
    b(S::Threads, &[key(K::Down)], A::Down, "next thread"),
    b(S::Threads, &[key(K::PageUp)], A::PageUp, "a page up"),
    b(S::Threads, &[key(K::PageDown)], A::PageDown, "a page down"),
    b(S::Threads, &[key(K::Home)], A::Top, "first thread"),
    b(S::Threads, &[key(K::End)], A::Bottom, "last thread"),
    b(S::Threads, &[key(K::Enter)], A::Select, "::findstack -v of the thread"),
    b(S::Threads, &[key(K::Backspace)], A::FilterBackspace, "shorten the filter"),
    b(S::Threads, &[ch('?')], A::ShowHelp, "key help"),
    doc(S::Threads, "letters, digits", "filter by name, pid or address"),
    b(S::Stack, &[key(K::Enter)], A::Select, "disassemble around the frame"),
    b(S::Pane, &[key(K::Up), ch('k')], A::Up, "up a line"),
    b(S::Pane, &[key(K::Down), ch('j')], A::Down, "down a line"),
    b(S::Pane, &[key(K::Home), ch('g')], A::Top, "to the top"),
    b(S::Pane, &[key(K::End), ch('G')], A::Bottom, "to the bottom"),
    b(S::Pane, &[ch('?')], A::ShowHelp, "key help"),
    b(S::Pane, &[ch('r')], A::Reconnect, "reconnect (also ::reconnect)"),
    b(S::Pane, &[ch('q')], A::Quit, "quit"),
    b(S::Help, &[key(K::Esc), ch('q'), ch('?'), key(K::F(1))], A::CloseHelp, "close"),
    b(S::Help, &[key(K::Up), ch('k')], A::Up, "scroll up"),
    b(S::Help, &[key(K::Down), ch('j')], A::Down, "scroll down"),
    b(S::Help, &[key(K::PageUp)], A::PageUp, "a page up"),
    b(S::Help, &[key(K::PageDown)], A::PageDown, "a page down"),
    b(S::QuitDialog, &[ch('r'), key(K::Enter)], A::QuitResume, "resume the guest and quit"),
    b(S::QuitDialog, &[ch('h')], A::QuitLeaveHalted, "quit, leaving the guest halted"),
    b(S::QuitDialog, &[key(K::Esc), ch('c')], A::Cancel, "do not quit"),
];

/// How many lines the key help has: a title per scope, a line per binding, a blank line
/// between scopes.
pub fn help_line_count() -> usize {
    let scopes = BINDINGS
        .windows(2)
        .filter(|w| matches!(w, [a, b] if a.scope != b.scope))
        .count()
        + 1;
    BINDINGS.len() + 2 * scopes - 1
}

/// The scopes that apply, most specific first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Help,
    QuitDialog,
    HistorySearch,
    OutputSearch,
    CommandLine {
        empty: bool,
    },
    Output,
    Threads,
    Stack,
    /// Registers, memory, events or disassembly.
    OtherPane,
}

/// The scopes looked up for a mode, in order.
pub fn scopes_for(mode: Mode) -> &'static [Scope] {
    match mode {
        Mode::Help => &[S::Help],
        Mode::QuitDialog => &[S::QuitDialog],
        Mode::HistorySearch => &[S::HistorySearch],
        Mode::OutputSearch => &[S::OutputSearch],
        Mode::CommandLine { empty: true } => &[S::EmptyLine, S::CommandLine, S::Global],
        Mode::CommandLine { empty: false } => &[S::CommandLine, S::Global],
        Mode::Output => &[S::Output, S::Pane, S::Global],
        Mode::Threads => &[S::Threads, S::Global],
        Mode::Stack => &[S::Stack, S::Pane, S::Global],
        Mode::OtherPane => &[S::Pane, S::Global],
    }
}

/// `key` without the Shift that terminals add to characters and to Shift-Tab.
fn normalize(ev: &KeyEvent) -> Key {
    let mut mods = ev.modifiers;
    if matches!(ev.code, KeyCode::Char(_) | KeyCode::BackTab) {
        mods.remove(KeyModifiers::SHIFT);
    }
    Key {
        code: ev.code,
        mods,
    }
}

/// The action bound to a key in a mode, if any.
pub fn lookup(mode: Mode, ev: &KeyEvent) -> Option<Action> {
    let k = normalize(ev);
    scopes_for(mode).iter().find_map(|scope| {
        BINDINGS
            .iter()
            .find(|b| b.scope == *scope && b.keys.contains(&k))
            .map(|b| b.action)
    })
}

/// How a key is written in help: `Ctrl-C`, `F5`, `Shift-Tab`, `PgUp`.
pub fn key_name(k: &Key) -> String {
    let base = match k.code {
        KeyCode::Char(' ') => "Space".to_string(),
        KeyCode::Char(c) if k.mods.contains(KeyModifiers::CONTROL) => {
            c.to_ascii_uppercase().to_string()
        }
        KeyCode::Char(c) => c.to_string(),
        KeyCode::F(n) => format!("F{n}"),
        KeyCode::Enter => "Enter".into(),
        KeyCode::Esc => "Esc".into(),
        KeyCode::Tab => "Tab".into(),
        KeyCode::BackTab => "Shift-Tab".into(),
        KeyCode::Backspace => "Backspace".into(),
        KeyCode::Up => "↑".into(),
        KeyCode::Down => "↓".into(),
        KeyCode::Left => "←".into(),
        KeyCode::Right => "→".into(),
        KeyCode::Home => "Home".into(),
        KeyCode::End => "End".into(),
        KeyCode::PageUp => "PgUp".into(),
        KeyCode::PageDown => "PgDn".into(),
        other => format!("{other:?}"),
    };
    let mut s = String::new();
    if k.mods.contains(KeyModifiers::CONTROL) {
        s.push_str("Ctrl-");
    }
    if k.mods.contains(KeyModifiers::ALT) {
        s.push_str("Alt-");
    }
    s + &base
}

impl Binding {
    /// The keys as the help shows them: `↑ k`.
    pub fn label(&self) -> String {
        match self.label {
            Some(l) => l.to_string(),
            None => self.keys.iter().map(key_name).collect::<Vec<_>>().join(" "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_line(b: &Binding) -> String {
        format!("//! | {} | {} | {} |", b.scope.title(), b.label(), b.help)
    }

    #[test]
    fn the_module_doc_lists_every_binding() {
        let src = include_str!("keys.rs");
        let missing: Vec<String> = BINDINGS
            .iter()
            .map(table_line)
            .filter(|l| !src.lines().any(|s| s == l))
            .collect();
        assert!(
            missing.is_empty(),
            "add to the doc table of keys.rs:\n{}",
            missing.join("\n")
        );
        let doc_rows = src
            .lines()
            .filter(|l| l.starts_with("//! | ") && !l.starts_with("//! | Where"))
            .count();
        assert_eq!(doc_rows, BINDINGS.len(), "the doc table has stale rows");
    }

    #[test]
    fn a_key_means_one_thing_per_scope() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for b in &BINDINGS[i + 1..] {
                if a.scope == b.scope {
                    for k in a.keys {
                        assert!(!b.keys.contains(k), "{k:?} twice in {:?}", a.scope);
                    }
                }
            }
        }
    }

    #[test]
    fn help_lines_fit_an_80_column_overlay() {
        for b in BINDINGS {
            assert!(b.label().chars().count() <= 20, "{}", b.label());
            assert!(b.help.chars().count() <= 50, "{}", b.help);
        }
    }

    #[test]
    fn lookup_prefers_the_specific_scope() {
        let tab = KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE);
        let empty = Mode::CommandLine { empty: true };
        let typed = Mode::CommandLine { empty: false };
        assert_eq!(lookup(empty, &tab), Some(Action::FocusNext));
        assert_eq!(lookup(typed, &tab), Some(Action::Complete));
        assert_eq!(lookup(Mode::Output, &tab), Some(Action::FocusNext));
        let q = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
        assert_eq!(lookup(Mode::Output, &q), Some(Action::Quit));
        assert_eq!(lookup(Mode::Threads, &q), None, "q filters threads");
        assert_eq!(lookup(typed, &q), None);
        let big_g = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(lookup(Mode::Stack, &big_g), Some(Action::Bottom));
    }
}
