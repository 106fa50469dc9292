//! The mdb command language: `[addr][,count] verb [args] | verb ... ; ...`.
//!
//! Lexing is context-sensitive as in mdb: expressions are tokenized, but after a verb the rest
//! of the stage is read raw (a format string after `/` or `=`, whitespace-separated words after
//! `::name`), so `/` and `|` mean different things in different places. See [`parser`].

pub mod ast;
pub mod expr;
pub mod lexer;
pub use qmdb_kernel::number;
pub mod parser;
pub mod token;

pub use ast::{Arg, BinOp, Expr, Stage, UnOp, Verb};
pub use expr::{eval, EvalEnv};
pub use parser::{parse_expr, parse_line, ParsedCommand};
