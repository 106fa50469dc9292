//! Tokens of mdb expressions, and the raw scanners used after a verb.
//!
//! The lexer works on byte offsets into the whole input line, so that errors can name a
//! column. It only ever stops at ASCII bytes or at the start of a character, so every offset
//! it hands out is a character boundary.

use super::ast::Arg;
pub use super::number::parse_number;
use super::number::unescape;
pub use super::token::Tok;
use crate::fmt::{self, FormatItem};

/// The largest repeat count inside a format string (`/4X`).
pub const MAX_FORMAT_REPEAT: u64 = 1 << 20;

/// Most bytes in a character constant (`'abcd'`), as many as fit in a `u64`.
const MAX_CHAR_CONSTANT: usize = 8;

/// A lexing failure at a byte offset of the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexError {
    Syntax { offset: usize, msg: String },
    UnknownFormat { offset: usize, ch: char },
    Unsupported { ch: char, why: &'static str },
}

fn syntax(offset: usize, msg: impl Into<String>) -> LexError {
    LexError::Syntax {
        offset,
        msg: msg.into(),
    }
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.'
}

/// A cursor over `src[start..end]`.
pub struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    end: usize,
    /// The shell command after a `!` that ended the pipeline (see [`Lexer::shell`]).
    shell: Option<(usize, String)>,
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a str, start: usize, end: usize) -> Lexer<'a> {
        let end = end.min(src.len());
        Lexer {
            src,
            pos: start.min(end),
            end,
            shell: None,
        }
    }

    /// Whether the current position is a shell pipe: `!` not followed by `=` (which is the
    /// `!=` operator of an expression written as an argument).
    fn at_shell_pipe(&self) -> bool {
        self.peek() == Some(b'!') && self.byte(self.pos + 1) != Some(b'=')
    }

    /// At a shell pipe: takes the rest of the command as the shell command.
    fn take_shell(&mut self) {
        let at = self.pos;
        let text = self.src.get(at + 1..self.end).unwrap_or("").trim();
        self.shell = Some((at, text.to_string()));
        self.pos = self.end;
    }

    /// After a stage: the shell command that a `!` gave the rest of the command to, mdb's
    /// `cmd ! shell-command`, with the offset of the `!`.
    pub fn shell(&mut self) -> Option<(usize, String)> {
        self.shell.take()
    }

    /// The current byte offset.
    pub fn pos(&self) -> usize {
        self.pos
    }

    fn byte(&self, at: usize) -> Option<u8> {
        if at < self.end {
            self.src.as_bytes().get(at).copied()
        } else {
            None
        }
    }

    fn peek(&self) -> Option<u8> {
        self.byte(self.pos)
    }

    fn char_at(&self, at: usize) -> char {
        self.src
            .get(at..self.end)
            .and_then(|s| s.chars().next())
            .unwrap_or('?')
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        self.src.get(start..self.pos).unwrap_or("")
    }

    pub fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r')) {
            self.pos += 1;
        }
    }

    /// The next expression token and its offset.
    pub fn next_token(&mut self) -> Result<(Tok, usize), LexError> {
        self.skip_ws();
        let at = self.pos;
        let Some(b) = self.peek() else {
            return Ok((Tok::Eof, at));
        };
        let single = |t: Tok| (t, 1usize);
        let (tok, len) = match b {
            b'0'..=b'9' => {
                let text = self.take_while(|c| c.is_ascii_alphanumeric() || c == b'_');
                let v = parse_number(text).map_err(|m| syntax(at, m))?;
                return Ok((Tok::Num(v), at));
            }
            c if is_ident_start(c) => {
                let name = self.take_while(is_ident_char);
                let hex = if name.starts_with(|c: char| c.is_ascii_hexdigit())
                    && name.bytes().all(|c| c.is_ascii_hexdigit() || c == b'_')
                {
                    parse_number(name).ok()
                } else {
                    None
                };
                let name = name.to_string();
                return Ok((Tok::Word { name, hex }, at));
            }
            b'\'' => {
                let v = self.char_constant()?;
                return Ok((Tok::Num(v), at));
            }
            b'<' => {
                self.pos += 1;
                match self.peek() {
                    Some(b'<') => (Tok::Shl, 1),
                    Some(c) if c.is_ascii_alphanumeric() || c == b'_' => {
                        let name = self.take_while(|c| c.is_ascii_alphanumeric() || c == b'_');
                        return Ok((Tok::Var(name.to_string()), at));
                    }
                    _ => return Err(syntax(at, "expected a register or variable name after '<'")),
                }
            }
            b'>' => {
                self.pos += 1;
                match self.peek() {
                    Some(b'>') => (Tok::Shr, 1),
                    _ => (Tok::Gt, 0),
                }
            }
            b':' => {
                self.pos += 1;
                match self.peek() {
                    Some(b':') => (Tok::ColonColon, 1),
                    _ => (Tok::Colon, 0),
                }
            }
            b'.' => single(Tok::Dot),
            b'(' => single(Tok::LParen),
            b')' => single(Tok::RParen),
            b'+' => single(Tok::Plus),
            b'-' => single(Tok::Minus),
            b'*' => single(Tok::Star),
            b'/' => single(Tok::Slash),
            b'%' => single(Tok::Percent),
            b'&' => single(Tok::Amp),
            b'^' => single(Tok::Caret),
            b'|' => single(Tok::Bar),
            b'~' => single(Tok::Tilde),
            b'!' if self.byte(at + 1) == Some(b'=') => (Tok::NotEq, 2),
            b'!' => single(Tok::Bang),
            b',' => single(Tok::Comma),
            b'$' => single(Tok::Dollar),
            b'=' if self.byte(at + 1) == Some(b'=') => (Tok::EqEq, 2),
            b'=' => single(Tok::Eq),
            b'?' => single(Tok::Question),
            b'@' => single(Tok::At),
            b'\\' => single(Tok::Backslash),
            _ => {
                let ch = self.char_at(at);
                (Tok::Other(ch), ch.len_utf8())
            }
        };
        self.pos += len;
        Ok((tok, at))
    }

    /// `'abc'`: the bytes packed with the last one in the least significant byte.
    fn char_constant(&mut self) -> Result<u64, LexError> {
        let at = self.pos;
        let bytes = self.quoted(b'\'', true)?;
        if bytes.len() > MAX_CHAR_CONSTANT {
            return Err(syntax(
                at,
                "a character constant holds at most 8 characters",
            ));
        }
        Ok(bytes.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b)))
    }

    /// A quoted string starting at the current position (the quote itself), taking C escapes
    /// when `escapes` (double-quoted words and character constants) or every byte literally
    /// (single-quoted words).
    fn quoted(&mut self, q: u8, escapes: bool) -> Result<Vec<u8>, LexError> {
        let at = self.pos;
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(syntax(at, format!("unmatched {}", q as char))),
                Some(c) if c == q => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') if escapes => {
                    self.pos += 1;
                    match self.peek() {
                        None => return Err(syntax(at, format!("unmatched {}", q as char))),
                        Some(c) => {
                            out.push(unescape(c));
                            self.pos += 1;
                        }
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// A dcmd or variable name right at the current position.
    pub fn name(&mut self) -> Option<String> {
        if !self.peek().is_some_and(is_ident_start) {
            return None;
        }
        Some(self.take_while(is_ident_char).to_string())
    }

    /// The single character after `$` (`$r`, `$q`), if it is a visible ASCII character.
    pub fn dollar_char(&mut self) -> Option<char> {
        let c = self.peek().filter(|c| c.is_ascii_graphic() && *c != b'|')?;
        self.pos += 1;
        Some(c as char)
    }

    /// After a verb that takes nothing more: the end of the stage. Returns whether a `|`
    /// follows.
    pub fn stage_end(&mut self) -> Result<bool, LexError> {
        self.skip_ws();
        if self.at_shell_pipe() {
            self.take_shell();
            return Ok(false);
        }
        match self.peek() {
            None => Ok(false),
            Some(b'|') => {
                self.pos += 1;
                Ok(true)
            }
            Some(_) => {
                let at = self.pos;
                Err(syntax(at, format!("unexpected '{}'", self.char_at(at))))
            }
        }
    }

    /// A dcmd's argument words, up to `|`, a shell pipe `!` (see [`Lexer::shell`]) or the
    /// end. Returns the words and whether a `|` follows.
    pub fn args(&mut self) -> Result<(Vec<Arg>, bool), LexError> {
        let mut args = Vec::new();
        loop {
            self.skip_ws();
            if self.at_shell_pipe() {
                self.take_shell();
                return Ok((args, false));
            }
            match self.peek() {
                None => return Ok((args, false)),
                Some(b'|') => {
                    self.pos += 1;
                    return Ok((args, true));
                }
                Some(b'$') if self.byte(self.pos + 1) == Some(b'[') => {
                    args.push(self.bracketed()?);
                    continue;
                }
                Some(_) => {}
            }
            let mut word = Vec::new();
            while let Some(c) = self.peek() {
                match c {
                    b' ' | b'\t' | b'\r' | b'|' => break,
                    b'!' if self.at_shell_pipe() => break,
                    b'\'' | b'"' => word.extend(self.quoted(c, c == b'"')?),
                    _ => {
                        word.push(c);
                        self.pos += 1;
                    }
                }
            }
            args.push(Arg::new(String::from_utf8_lossy(&word)));
        }
    }

    /// `$[ expr ]` at the current position: an argument whose value is the expression's
    /// (mdb's). Brackets nest; quotes inside are kept as they are.
    fn bracketed(&mut self) -> Result<Arg, LexError> {
        let at = self.pos;
        self.pos += 2;
        let start = self.pos;
        let mut depth = 1usize;
        while let Some(c) = self.peek() {
            match c {
                b'[' => depth += 1,
                b']' => {
                    depth -= 1;
                    if depth == 0 {
                        let text = self.src.get(start..self.pos).unwrap_or("").trim();
                        self.pos += 1;
                        if text.is_empty() {
                            return Err(syntax(at, "expected an expression inside '$[ ]'"));
                        }
                        return Ok(Arg::expression(text));
                    }
                }
                b'\'' | b'"' => {
                    self.quoted(c, c == b'"')?;
                    continue;
                }
                _ => {}
            }
            self.pos += 1;
        }
        Err(syntax(at, "unmatched '$['"))
    }

    /// A format string after `/` or `=`, up to `|`, a shell pipe `!` or the end: format
    /// characters, each with an optional decimal repeat count, and quoted literal text.
    /// Returns the items and whether a `|` follows.
    pub fn format(&mut self) -> Result<(Vec<FormatItem>, bool), LexError> {
        let mut items = Vec::new();
        let mut count: Option<u64> = None;
        let mut pipe = false;
        loop {
            self.skip_ws();
            let at = self.pos;
            if self.at_shell_pipe() {
                self.take_shell();
                break;
            }
            match self.peek() {
                None => break,
                Some(b'|') => {
                    self.pos += 1;
                    pipe = true;
                    break;
                }
                Some(b'0'..=b'9') => {
                    let mut n: u64 = 0;
                    while let Some(d @ b'0'..=b'9') = self.peek() {
                        n = n * 10 + u64::from(d - b'0');
                        if n > MAX_FORMAT_REPEAT {
                            return Err(syntax(
                                at,
                                format!("repeat count too large (at most {MAX_FORMAT_REPEAT})"),
                            ));
                        }
                        self.pos += 1;
                    }
                    count = Some(n);
                }
                Some(q @ (b'"' | b'\'')) => {
                    let text = self.quoted(q, q == b'"')?;
                    items.push(FormatItem::Text(
                        String::from_utf8_lossy(&text).into_owned(),
                    ));
                    count = None;
                }
                Some(_) => {
                    let ch = self.char_at(at);
                    self.pos += ch.len_utf8();
                    let def = fmt::lookup(ch).ok_or(LexError::UnknownFormat { offset: at, ch })?;
                    if let Some(why) = def.unsupported() {
                        return Err(LexError::Unsupported { ch, why });
                    }
                    items.push(FormatItem::Fmt {
                        def,
                        count: count.take().unwrap_or(1),
                    });
                }
            }
        }
        if let Some(n) = count {
            return Err(syntax(
                self.pos,
                format!("expected a format character after the count {n}"),
            ));
        }
        Ok((items, pipe))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(s: &str) -> Vec<Tok> {
        let mut lx = Lexer::new(s, 0, s.len());
        let mut out = Vec::new();
        loop {
            let (t, _) = lx.next_token().expect("lexes");
            if t == Tok::Eof {
                return out;
            }
            out.push(t);
        }
    }

    #[test]
    fn words_variables_and_operators() {
        assert_eq!(
            tokens("_text+face <rip<<2>>1"),
            vec![
                Tok::Word {
                    name: "_text".into(),
                    hex: None
                },
                Tok::Plus,
                Tok::Word {
                    name: "face".into(),
                    hex: Some(0xface)
                },
                Tok::Var("rip".into()),
                Tok::Shl,
                Tok::Num(2),
                Tok::Shr,
                Tok::Num(1),
            ]
        );
        assert_eq!(
            tokens("foo.constprop.0 ::"),
            vec![
                Tok::Word {
                    name: "foo.constprop.0".into(),
                    hex: None
                },
                Tok::ColonColon
            ]
        );
        assert_eq!(tokens("'AB'"), vec![Tok::Num(0x4142)]);
        assert_eq!(tokens("'\\n'"), vec![Tok::Num(10)]);
    }

    #[test]
    fn lexing_errors_have_offsets() {
        let mut lx = Lexer::new("1 + 12g", 0, 7);
        lx.next_token().unwrap();
        lx.next_token().unwrap();
        assert_eq!(
            lx.next_token(),
            Err(LexError::Syntax {
                offset: 4,
                msg: "bad hexadecimal number '12g'".into()
            })
        );
        let mut lx = Lexer::new("'abcdefghi'", 0, 11);
        assert!(lx.next_token().is_err());
        let mut lx = Lexer::new("< 1", 0, 3);
        assert!(lx.next_token().is_err());
    }

    #[test]
    fn args_split_on_whitespace_and_keep_quotes_together() {
        let s = r#" -v 'a b' "c\td" e"f g"h | rest"#;
        let mut lx = Lexer::new(s, 0, s.len());
        let (args, pipe) = lx.args().unwrap();
        let texts: Vec<_> = args.iter().map(|a| a.text.as_str()).collect();
        assert_eq!(texts, vec!["-v", "a b", "c\td", "ef gh"]);
        assert!(pipe);
        let mut lx = Lexer::new("'open", 0, 5);
        assert!(matches!(lx.args(), Err(LexError::Syntax { offset: 0, .. })));
        let mut lx = Lexer::new("a ! b | c", 0, 9);
        let (args, pipe) = lx.args().unwrap();
        assert_eq!(args, vec![Arg::new("a")]);
        assert!(!pipe);
        assert_eq!(lx.shell(), Some((2, "b | c".to_string())));
        let s = "a!grep x 'y'";
        let mut lx = Lexer::new(s, 0, s.len());
        assert_eq!(lx.args().unwrap().0, vec![Arg::new("a")]);
        assert_eq!(lx.shell(), Some((1, "grep x 'y'".to_string())));
        let s = ".!=0 '!' \"!\" x";
        let mut lx = Lexer::new(s, 0, s.len());
        let texts: Vec<_> = lx.args().unwrap().0.into_iter().map(|a| a.text).collect();
        assert_eq!(texts, vec![".!=0", "!", "!", "x"]);
        assert_eq!(lx.shell(), None);
    }

    #[test]
    fn formats_take_decimal_counts() {
        let mut lx = Lexer::new("10X 2K\" \"B", 0, 10);
        let (items, pipe) = lx.format().unwrap();
        assert!(!pipe);
        assert_eq!(items.len(), 4);
        match &items[0] {
            FormatItem::Fmt { def, count } => {
                assert_eq!(def.ch, 'X');
                assert_eq!(*count, 10);
            }
            other => panic!("{other:?}"),
        }
        let mut lx = Lexer::new("4", 0, 1);
        assert!(lx.format().is_err());
        let mut lx = Lexer::new("Kw", 0, 2);
        assert_eq!(
            lx.format(),
            Err(LexError::UnknownFormat { offset: 1, ch: 'w' })
        );
        let mut lx = Lexer::new("3i", 0, 2);
        assert!(matches!(lx.format(), Ok((items, false)) if items.len() == 1));
        let mut lx = Lexer::new("99999999X", 0, 9);
        assert!(lx.format().is_err());
    }
}
