//! Tab completion of the command line: dcmd and walker names from the dcmd registry, symbol
//! and type names as the worker sends them ([`crate::protocol::Event::Names`]).

use qmdb_dcmds::registry::{DCMDS, WALKERS};

/// How many candidates a completion lists at most.
const MAX_CANDIDATES: usize = 500;

/// What kind of name is being completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// After `::`.
    Dcmd,
    /// `$r`, `$c`, `$q`...
    Alias,
    /// After `::walk`.
    Walker,
    /// After `::print`, `::sizeof`, `::offsetof`, or `struct`.
    Type,
    /// An address expression.
    Symbol,
}

/// The names a completion can offer.
#[derive(Debug, Clone)]
pub struct Completer {
    dcmds: Vec<String>,
    aliases: Vec<String>,
    walkers: Vec<String>,
    symbols: Vec<String>,
    types: Vec<String>,
}

impl Default for Completer {
    fn default() -> Self {
        Completer::new()
    }
}

/// The result of completing the word at the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub kind: NameKind,
    /// The char index where the word being completed starts (the cursor is its end).
    pub start: usize,
    /// What was typed of the word.
    pub prefix: String,
    /// The matching names, sorted, at most `MAX_CANDIDATES`.
    pub candidates: Vec<String>,
    /// How many names matched in all.
    pub total: usize,
}

impl Completion {
    /// The longest prefix every candidate shares.
    pub fn common_prefix(&self) -> String {
        let mut it = self.candidates.iter();
        let Some(first) = it.next() else {
            return String::new();
        };
        let mut len = first.len();
        for c in it {
            len = first
                .char_indices()
                .zip(c.chars())
                .take_while(|((_, a), b)| a == b)
                .last()
                .map_or(0, |((i, a), _)| i + a.len_utf8())
                .min(len);
        }
        first[..len].to_string()
    }

    /// Whether a unique completion is followed by a space (names that take arguments next).
    pub fn adds_space(&self) -> bool {
        matches!(
            self.kind,
            NameKind::Dcmd | NameKind::Walker | NameKind::Type
        )
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

/// The sorted names that start with `prefix`.
fn with_prefix<'a>(names: &'a [String], prefix: &'a str) -> impl Iterator<Item = &'a String> {
    let first = names.partition_point(|n| n.as_str() < prefix);
    names
        .get(first..)
        .unwrap_or_default()
        .iter()
        .take_while(move |n| n.starts_with(prefix))
}

impl Completer {
    /// Dcmd and walker names from the registry; no symbols or types yet.
    pub fn new() -> Self {
        let mut dcmds = Vec::new();
        let mut aliases = Vec::new();
        for d in DCMDS {
            dcmds.push(d.name.to_string());
            for a in d.aliases {
                if a.starts_with('$') {
                    aliases.push(a.to_string());
                } else {
                    dcmds.push(a.to_string());
                }
            }
        }
        Completer {
            dcmds: sorted(dcmds),
            aliases: sorted(aliases),
            walkers: sorted(WALKERS.iter().map(|w| w.name.to_string()).collect()),
            symbols: Vec::new(),
            types: Vec::new(),
        }
    }

    /// Takes the kernel's symbol and type names.
    pub fn set_names(&mut self, symbols: Vec<String>, types: Vec<String>) {
        self.symbols = sorted(symbols);
        self.types = sorted(types);
    }

    /// Completes the word before `cursor` (a char index) in `line`. `None` when there is
    /// nothing to complete there.
    pub fn complete(&self, line: &str, cursor: usize) -> Option<Completion> {
        let before: String = line.chars().take(cursor).collect();
        // The pipeline stage being typed.
        let seg_start = before.rfind(['|', ';']).map_or(0, |i| i + 1);
        let seg = &before[seg_start..];
        let tok_start = seg.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let token = &seg[tok_start..];
        let words: Vec<&str> = seg[..tok_start].split_whitespace().collect();

        let (kind, skip) = if let Some(p) = token.rfind("::") {
            (NameKind::Dcmd, p + 2)
        } else if token.starts_with('$') {
            (NameKind::Alias, 0)
        } else if token.starts_with([':', '/', '=', '>', '-']) {
            return None;
        } else {
            let cmd = words
                .iter()
                .find_map(|w| w.rfind("::").map(|p| &w[p + 2..]));
            let after_cmd = words.iter().skip_while(|w| !w.contains("::")).count();
            let last = words.last().copied().unwrap_or("");
            match cmd {
                Some("walk") if after_cmd == 1 => (NameKind::Walker, 0),
                _ if matches!(last, "struct" | "union" | "enum") => (NameKind::Type, 0),
                Some("print" | "sizeof" | "offsetof") if after_cmd == 1 => (NameKind::Type, 0),
                _ => (NameKind::Symbol, 0),
            }
        };
        let prefix = &token[skip..];
        if prefix.is_empty() && kind == NameKind::Symbol {
            return None;
        }
        let names = match kind {
            NameKind::Dcmd => &self.dcmds,
            NameKind::Alias => &self.aliases,
            NameKind::Walker => &self.walkers,
            NameKind::Type => &self.types,
            NameKind::Symbol => &self.symbols,
        };
        let all: Vec<&String> = with_prefix(names, prefix).collect();
        let byte_start = seg_start + tok_start + skip;
        Some(Completion {
            kind,
            start: before[..byte_start].chars().count(),
            prefix: prefix.to_string(),
            total: all.len(),
            candidates: all.into_iter().take(MAX_CANDIDATES).cloned().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completer() -> Completer {
        let mut c = Completer::new();
        c.set_names(
            vec![
                "schedule".into(),
                "schedule_timeout".into(),
                "scheduler_tick".into(),
                "jiffies".into(),
                "init_task".into(),
            ],
            vec![
                "task_struct".into(),
                "task_group".into(),
                "mm_struct".into(),
            ],
        );
        c
    }

    fn cands(line: &str) -> (NameKind, Vec<String>) {
        let c = completer()
            .complete(line, line.chars().count())
            .expect("a completion");
        (c.kind, c.candidates)
    }

    #[test]
    fn dcmds_walkers_symbols_types_by_context() {
        assert_eq!(
            cands("::findst"),
            (NameKind::Dcmd, vec!["findstack".into()])
        );
        assert_eq!(
            cands("::walk thread | ::find").1,
            vec!["findstack".to_string()]
        );
        assert_eq!(cands("init_task::ta").1, vec!["task".to_string()]);
        assert_eq!(
            cands("::walk th"),
            (NameKind::Walker, vec!["thread".into()])
        );
        assert_eq!(cands("::walk ").1.len(), WALKERS.len());
        assert_eq!(cands("$"), (NameKind::Alias, cands("$").1));
        assert!(cands("$").1.contains(&"$c".to_string()));
        assert_eq!(cands("sched").0, NameKind::Symbol);
        assert_eq!(cands("sched").1.len(), 3);
        assert_eq!(cands("::sizeof task_").1, vec!["task_group", "task_struct"]);
        assert_eq!(
            cands("jiffies::print -t struct mm").1,
            vec!["mm_struct".to_string()]
        );
        assert!(completer().complete("", 0).is_none());
        assert!(completer().complete(":c", 2).is_none());
    }

    #[test]
    fn the_common_prefix_and_where_the_word_starts() {
        let c = completer().complete("1000::walk x; sched", 19).unwrap();
        assert_eq!(c.start, 14);
        assert_eq!(c.common_prefix(), "schedule");
        let c = completer()
            .complete("ffff8ead41bf4800::findst -v", 24)
            .unwrap();
        assert_eq!(c.start, 18);
        assert_eq!(c.prefix, "findst");
        assert!(c.adds_space());
    }
}
