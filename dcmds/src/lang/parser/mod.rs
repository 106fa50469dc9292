//! The parser: a line becomes commands (split at `;` and newlines outside quotes), a command
//! becomes a pipeline of stages (split at `|` after a verb).
//!
//! Grammar, as in mdb:
//! ```text
//! command  := stage ( '|' verb )*
//! stage    := [expr] [',' expr] [verb]
//! verb     := '/' format | '=' format | '>' name | '::' name args | '$' char args
//!           | ':' char args
//! expr     := C expression over u64: | ^ & == != << >> + - * / % and unary - ~ ! *
//! ```
//! `/` is division only inside parentheses (at the top level it starts a format), and `|` is
//! bitwise or inside an expression but a pipe after a verb.

use super::ast::{BinOp, Expr, Stage, UnOp, Verb};
use super::lexer::{LexError, Lexer, Tok};
use crate::error::{DcmdError, Location};

/// Most nodes in one expression; bounds evaluation and the syntax tree's depth.
const MAX_NODES: usize = 2048;
/// Most nested parentheses and unary operators.
const MAX_DEPTH: usize = 64;

/// One command of a line: its source text, and its stages or why it does not parse.
#[derive(Debug)]
pub struct ParsedCommand {
    /// The command's text, trimmed, as the user typed it.
    pub source: String,
    /// The stages of its pipeline; empty never happens (blank commands are dropped).
    pub stages: Result<Vec<Stage>, DcmdError>,
    /// `cmd ! shell-command`: the shell command that gets the text output of the pipeline
    /// (mdb's shell pipe). `None` when the stages do not parse.
    pub shell: Option<String>,
}

/// Parses every command of `line`. A command that does not parse carries its error, so the
/// others can still run.
pub fn parse_line(line: &str) -> Vec<ParsedCommand> {
    split(line)
        .into_iter()
        .filter_map(|(start, end)| {
            let source = line.get(start..end).unwrap_or("").trim();
            if source.is_empty() {
                return None;
            }
            let (stages, shell) = match Parser::new(line, start, end).command() {
                Ok((stages, shell)) => (Ok(stages), shell),
                Err(e) => (Err(e), None),
            };
            match stages {
                Ok(s) if s.is_empty() => None,
                stages => Some(ParsedCommand {
                    source: source.to_string(),
                    stages,
                    shell,
                }),
            }
        })
        .collect()
}

/// Parses `text` as one expression, all of it: an argument that is an expression (`::grep`'s,
/// `$[ ]`'s). There is no format to start, so `/` divides everywhere.
pub fn parse_expr(text: &str) -> Result<Expr, DcmdError> {
    let mut p = Parser::new(text, 0, text.len());
    p.parens = 1;
    let e = p.expr()?;
    let (tok, at) = p.peek()?;
    if tok != Tok::Eof {
        return Err(p.err(
            at,
            format!("unexpected {} after the expression", tok.describe()),
        ));
    }
    Ok(e)
}

/// Byte ranges of the commands of `line`: split at `;` and newline outside quotes.
fn split(line: &str) -> Vec<(usize, usize)> {
    let bytes = line.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match quote {
            Some(q) => {
                if b == b'\\' && q == b'"' {
                    i += 1;
                } else if b == q {
                    quote = None;
                }
            }
            None => match b {
                b'\'' | b'"' => quote = Some(b),
                b';' | b'\n' => {
                    out.push((start, i));
                    start = i + 1;
                }
                _ => {}
            },
        }
        i += 1;
    }
    out.push((start, line.len()));
    out
}

struct Parser<'a> {
    line: &'a str,
    lx: Lexer<'a>,
    peeked: Option<(Tok, usize)>,
    nodes: usize,
    depth: usize,
    parens: usize,
}

fn starts_expr(tok: &Tok) -> bool {
    matches!(
        tok,
        Tok::Num(_)
            | Tok::Word { .. }
            | Tok::Var(_)
            | Tok::Dot
            | Tok::LParen
            | Tok::Minus
            | Tok::Tilde
            | Tok::Bang
            | Tok::Star
    )
}

impl<'a> Parser<'a> {
    fn new(line: &'a str, start: usize, end: usize) -> Parser<'a> {
        Parser {
            line,
            lx: Lexer::new(line, start, end),
            peeked: None,
            nodes: 0,
            depth: 0,
            parens: 0,
        }
    }

    fn err(&self, offset: usize, msg: impl Into<String>) -> DcmdError {
        DcmdError::Syntax {
            at: Location::of(self.line, offset),
            msg: msg.into(),
        }
    }

    fn lex_err(&self, e: LexError) -> DcmdError {
        match e {
            LexError::Syntax { offset, msg } => self.err(offset, msg),
            LexError::UnknownFormat { offset, ch } => DcmdError::UnknownFormat {
                ch,
                at: Location::of(self.line, offset),
            },
            LexError::Unsupported { ch, why } => DcmdError::UnsupportedFormat { ch, why },
        }
    }

    fn peek(&mut self) -> Result<(Tok, usize), DcmdError> {
        if let Some(p) = &self.peeked {
            return Ok(p.clone());
        }
        let t = self.lx.next_token().map_err(|e| self.lex_err(e))?;
        self.peeked = Some(t.clone());
        Ok(t)
    }

    fn bump(&mut self) -> Result<(Tok, usize), DcmdError> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lx.next_token().map_err(|e| self.lex_err(e)),
        }
    }

    /// The stages of the command, and the shell command after a `!` that ends them.
    fn command(mut self) -> Result<(Vec<Stage>, Option<String>), DcmdError> {
        let Some((first, mut pipe)) = self.first_stage()? else {
            return Ok((Vec::new(), None));
        };
        let mut stages = vec![first];
        while pipe {
            let (tok, at) = self.peek()?;
            if tok == Tok::Eof {
                return Err(self.err(at, "expected a dcmd or format after '|'"));
            }
            if starts_expr(&tok) {
                return Err(self.err(
                    at,
                    "a stage after '|' gets its addresses from the pipe and cannot have its own",
                ));
            }
            let (verb, more) = self.verb()?;
            stages.push(Stage {
                addr: None,
                count: None,
                verb,
            });
            pipe = more;
        }
        let shell = match self.lx.shell() {
            Some((at, text)) if text.is_empty() => {
                return Err(self.err(at, "expected a shell command after '!'"))
            }
            Some((_, text)) => Some(text),
            None => None,
        };
        Ok((stages, shell))
    }

    fn first_stage(&mut self) -> Result<Option<(Stage, bool)>, DcmdError> {
        let addr = if starts_expr(&self.peek()?.0) {
            Some(self.expr()?)
        } else {
            None
        };
        let count = if self.peek()?.0 == Tok::Comma {
            self.bump()?;
            Some(self.expr()?)
        } else {
            None
        };
        let (tok, at) = self.peek()?;
        if tok == Tok::Eof {
            return match (&addr, &count) {
                (None, None) => Ok(None),
                (_, Some(_)) => Err(self.err(at, "expected a command after the count")),
                (Some(_), None) => Ok(Some((
                    Stage {
                        addr,
                        count,
                        verb: Verb::None,
                    },
                    false,
                ))),
            };
        }
        let (verb, pipe) = self.verb()?;
        Ok(Some((Stage { addr, count, verb }, pipe)))
    }

    fn verb(&mut self) -> Result<(Verb, bool), DcmdError> {
        let (tok, at) = self.bump()?;
        match tok {
            Tok::Slash | Tok::Eq => {
                let (items, pipe) = self.lx.format().map_err(|e| self.lex_err(e))?;
                let c = if tok == Tok::Slash { '/' } else { '=' };
                if items.is_empty() {
                    return Err(self.err(
                        at,
                        format!("expected format characters after '{c}' (see ::formats)"),
                    ));
                }
                let verb = if c == '/' {
                    Verb::Display(items)
                } else {
                    Verb::Value(items)
                };
                Ok((verb, pipe))
            }
            Tok::Gt => {
                self.lx.skip_ws();
                let pos = self.lx.pos();
                let name = self
                    .lx
                    .name()
                    .ok_or_else(|| self.err(pos, "expected a variable name after '>'"))?;
                let pipe = self.lx.stage_end().map_err(|e| self.lex_err(e))?;
                Ok((Verb::Assign(name), pipe))
            }
            Tok::ColonColon => {
                let pos = self.lx.pos();
                let name = self
                    .lx
                    .name()
                    .ok_or_else(|| self.err(pos, "expected a dcmd name after '::'"))?;
                let (args, pipe) = self.lx.args().map_err(|e| self.lex_err(e))?;
                Ok((Verb::Dcmd { name, args }, pipe))
            }
            Tok::Dollar => {
                let pos = self.lx.pos();
                let c = self
                    .lx
                    .dollar_char()
                    .ok_or_else(|| self.err(pos, "expected a command letter after '$'"))?;
                let (args, pipe) = self.lx.args().map_err(|e| self.lex_err(e))?;
                Ok((
                    Verb::Dcmd {
                        name: format!("${c}"),
                        args,
                    },
                    pipe,
                ))
            }
            Tok::Colon => {
                // mdb's run-control verbs: `:b`, `:c`, `:s`, `:e`, `:u`, `:d`, `:z`; the name
                // keeps its `:` (the registry lists them as aliases).
                let pos = self.lx.pos();
                let c = self
                    .lx
                    .dollar_char()
                    .ok_or_else(|| self.err(pos, "expected a command letter after ':'"))?;
                let (args, pipe) = self.lx.args().map_err(|e| self.lex_err(e))?;
                Ok((
                    Verb::Dcmd {
                        name: format!(":{c}"),
                        args,
                    },
                    pipe,
                ))
            }
            Tok::Question => Err(self.err(
                at,
                "'?' reads the object file, which qmdb does not do; use '/'",
            )),
            Tok::At | Tok::Backslash => Err(self.err(
                at,
                "physical-address display ('@', '\\') is not supported yet",
            )),
            Tok::Bang => Err(self.err(
                at,
                "'!' pipes a dcmd's output to the shell: it needs a dcmd or format before \
                 it (::ps ! grep sleep)",
            )),
            Tok::Bar => Err(self.err(at, "expected a command before '|'")),
            other => Err(self.err(at, format!("unexpected {}", other.describe()))),
        }
    }

    fn node(&mut self, e: Expr, at: usize) -> Result<Expr, DcmdError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(self.err(at, "expression is too long"));
        }
        Ok(e)
    }

    fn enter(&mut self, at: usize) -> Result<(), DcmdError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(at, "expression is nested too deeply"));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Expr, DcmdError> {
        self.binary(1)
    }

    fn binary(&mut self, min_prec: u8) -> Result<Expr, DcmdError> {
        let mut lhs = self.unary()?;
        loop {
            let (tok, at) = self.peek()?;
            let op = match tok {
                Tok::Star => BinOp::Mul,
                Tok::Slash if self.parens > 0 => BinOp::Div,
                Tok::Percent => BinOp::Rem,
                Tok::Plus => BinOp::Add,
                Tok::Minus => BinOp::Sub,
                Tok::Shl => BinOp::Shl,
                Tok::Shr => BinOp::Shr,
                Tok::EqEq => BinOp::Eq,
                Tok::NotEq => BinOp::Ne,
                Tok::Amp => BinOp::And,
                Tok::Caret => BinOp::Xor,
                Tok::Bar => BinOp::Or,
                _ => return Ok(lhs),
            };
            if op.precedence() < min_prec {
                return Ok(lhs);
            }
            self.bump()?;
            let rhs = self.binary(op.precedence() + 1)?;
            lhs = self.node(Expr::Binary(op, Box::new(lhs), Box::new(rhs)), at)?;
        }
    }

    fn unary(&mut self) -> Result<Expr, DcmdError> {
        let (tok, at) = self.peek()?;
        let op = match tok {
            Tok::Minus => UnOp::Neg,
            Tok::Tilde => UnOp::Not,
            Tok::Bang => UnOp::LogicalNot,
            Tok::Star => UnOp::Deref,
            _ => return self.primary(),
        };
        self.bump()?;
        self.enter(at)?;
        let e = self.unary()?;
        self.depth -= 1;
        self.node(Expr::Unary(op, Box::new(e)), at)
    }

    fn primary(&mut self) -> Result<Expr, DcmdError> {
        let (tok, at) = self.bump()?;
        let e = match tok {
            Tok::Num(v) => Expr::Num(v),
            Tok::Word {
                name,
                hex: Some(value),
            } => Expr::HexWord { name, value },
            Tok::Word { name, hex: None } => Expr::Symbol(name),
            Tok::Var(name) => Expr::Var(name),
            Tok::Dot => Expr::Dot,
            Tok::LParen => {
                self.enter(at)?;
                self.parens += 1;
                let e = self.binary(1)?;
                self.parens -= 1;
                self.depth -= 1;
                let (close, at2) = self.bump()?;
                if close != Tok::RParen {
                    let open = Location::of(self.line, at);
                    return Err(self.err(
                        at2,
                        format!(
                            "expected ')' to match '(' at column {}, found {}",
                            open.column,
                            close.describe()
                        ),
                    ));
                }
                return Ok(e);
            }
            other => {
                return Err(self.err(
                    at,
                    format!("expected an expression, found {}", other.describe()),
                ))
            }
        };
        self.node(e, at)
    }
}

#[cfg(test)]
mod tests;
