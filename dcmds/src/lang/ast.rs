//! The syntax tree of a command line.

use crate::fmt::FormatItem;

/// A unary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    /// `-x`, two's complement.
    Neg,
    /// `~x`.
    Not,
    /// `!x`: 1 if x is 0, else 0.
    LogicalNot,
    /// `*x`: the pointer-sized (8-byte) value at address x.
    Deref,
}

/// A binary operator, C semantics on wrapping `u64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Mul,
    /// Only inside parentheses: at the top level `/` starts a format.
    Div,
    /// C remainder (mdb's own `%` is division; qmdb follows C).
    Rem,
    Add,
    Sub,
    Shl,
    Shr,
    /// `==`: 1 if equal, else 0 (mdb's).
    Eq,
    /// `!=`: 1 if different, else 0 (mdb's).
    Ne,
    And,
    Xor,
    Or,
}

impl BinOp {
    /// C precedence: a higher number binds tighter.
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::Xor => 2,
            BinOp::And => 3,
            BinOp::Eq | BinOp::Ne => 4,
            BinOp::Shl | BinOp::Shr => 5,
            BinOp::Add | BinOp::Sub => 6,
            BinOp::Mul | BinOp::Div | BinOp::Rem => 7,
        }
    }
}

/// An expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A number with an explicit radix, or starting with a digit.
    Num(u64),
    /// A word made only of hex digits that starts with a letter (`face`, `add`): a symbol if
    /// one has that name, else the number, as in mdb.
    HexWord {
        name: String,
        value: u64,
    },
    /// An identifier: a symbol.
    Symbol(String),
    /// `<name`: a register of the selected vCPU or a variable.
    Var(String),
    /// `.`: dot, the current address.
    Dot,
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
}

/// One word of a dcmd's argument list, quotes removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    pub text: String,
    /// `$[ expr ]`: `text` is an expression, replaced by its value (as `0x…`) when the
    /// dcmd runs, evaluated with dot at the dcmd's address (mdb's argument evaluation).
    pub evaluate: bool,
}

impl Arg {
    pub fn new(text: impl Into<String>) -> Arg {
        Arg {
            text: text.into(),
            evaluate: false,
        }
    }

    /// A `$[ expr ]` argument.
    pub fn expression(text: impl Into<String>) -> Arg {
        Arg {
            text: text.into(),
            evaluate: true,
        }
    }
}

/// What a stage does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    /// No verb: the line is an expression that sets dot.
    None,
    /// `::name args` or `$x args` (the name keeps its `$`).
    Dcmd { name: String, args: Vec<Arg> },
    /// `/fmt`: display memory at the address.
    Display(Vec<FormatItem>),
    /// `=fmt`: format the value of the address expression itself.
    Value(Vec<FormatItem>),
    /// `>name`: assign the value to a variable.
    Assign(String),
}

/// One stage of a pipeline. Only the first stage can have an address and a count; later ones
/// get their addresses from the pipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub addr: Option<Expr>,
    pub count: Option<Expr>,
    pub verb: Verb,
}
