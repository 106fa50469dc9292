//! Expression-level tokens of the mdb language.

/// An expression-level token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Num(u64),
    /// An identifier; `hex` is its value when it is made only of hex digits.
    Word {
        name: String,
        hex: Option<u64>,
    },
    /// `<name`.
    Var(String),
    Dot,
    LParen,
    RParen,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Amp,
    Caret,
    Bar,
    Tilde,
    Bang,
    Shl,
    Shr,
    /// `==`.
    EqEq,
    /// `!=`.
    NotEq,
    Comma,
    ColonColon,
    Colon,
    Dollar,
    Eq,
    Gt,
    Question,
    At,
    Backslash,
    Other(char),
    Eof,
}

impl Tok {
    /// How an error message names the token.
    pub fn describe(&self) -> String {
        match self {
            Tok::Num(v) => format!("number {v:x}"),
            Tok::Word { name, .. } => format!("'{name}'"),
            Tok::Var(name) => format!("'<{name}'"),
            Tok::Eof => "the end of the command".to_string(),
            Tok::Shl => "'<<'".to_string(),
            Tok::Shr => "'>>'".to_string(),
            Tok::EqEq => "'=='".to_string(),
            Tok::NotEq => "'!='".to_string(),
            Tok::ColonColon => "'::'".to_string(),
            other => format!("'{}'", other.symbol()),
        }
    }

    fn symbol(&self) -> char {
        match self {
            Tok::Dot => '.',
            Tok::LParen => '(',
            Tok::RParen => ')',
            Tok::Plus => '+',
            Tok::Minus => '-',
            Tok::Star => '*',
            Tok::Slash => '/',
            Tok::Percent => '%',
            Tok::Amp => '&',
            Tok::Caret => '^',
            Tok::Bar => '|',
            Tok::Tilde => '~',
            Tok::Bang => '!',
            Tok::Comma => ',',
            Tok::Colon => ':',
            Tok::Dollar => '$',
            Tok::Eq => '=',
            Tok::Gt => '>',
            Tok::Question => '?',
            Tok::At => '@',
            Tok::Backslash => '\\',
            Tok::Other(c) => *c,
            _ => '?',
        }
    }
}
