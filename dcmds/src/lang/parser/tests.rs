//! Parser tests: precedence, verbs, pipelines, splitting and errors with columns.

use super::*;
use crate::fmt::FormatItem;
use crate::lang::ast::Arg;

fn stages(s: &str) -> Vec<Stage> {
    let mut cmds = parse_line(s);
    assert_eq!(cmds.len(), 1, "{s}");
    cmds.remove(0).stages.expect(s)
}

fn error(s: &str) -> String {
    let cmds = parse_line(s);
    assert_eq!(cmds.len(), 1, "{s}");
    cmds.into_iter()
        .next()
        .and_then(|c| c.stages.err())
        .map(|e| e.to_string())
        .unwrap_or_else(|| panic!("{s} parsed"))
}

fn num(v: u64) -> Box<Expr> {
    Box::new(Expr::Num(v))
}

#[test]
fn precedence_follows_c() {
    let s = stages("1+2*3");
    assert_eq!(
        s[0].addr,
        Some(Expr::Binary(
            BinOp::Add,
            num(1),
            Box::new(Expr::Binary(BinOp::Mul, num(2), num(3)))
        ))
    );
    let s = stages("1|2^3&4<<5+6");
    let want = Expr::Binary(
        BinOp::Or,
        num(1),
        Box::new(Expr::Binary(
            BinOp::Xor,
            num(2),
            Box::new(Expr::Binary(
                BinOp::And,
                num(3),
                Box::new(Expr::Binary(
                    BinOp::Shl,
                    num(4),
                    Box::new(Expr::Binary(BinOp::Add, num(5), num(6))),
                )),
            )),
        )),
    );
    assert_eq!(s[0].addr, Some(want));
    let s = stages("10-4-2");
    assert_eq!(
        s[0].addr,
        Some(Expr::Binary(
            BinOp::Sub,
            Box::new(Expr::Binary(BinOp::Sub, num(0x10), num(4))),
            num(2)
        ))
    );
    assert_eq!(s[0].verb, Verb::None);
}

#[test]
fn slash_divides_only_inside_parentheses() {
    let s = stages("(10/2)=X");
    assert_eq!(s[0].addr, Some(Expr::Binary(BinOp::Div, num(0x10), num(2))));
    assert!(matches!(s[0].verb, Verb::Value(_)));
    let s = stages("10/2X");
    assert_eq!(s[0].addr, Some(Expr::Num(0x10)));
    match &s[0].verb {
        Verb::Display(items) => {
            assert!(matches!(items[0], FormatItem::Fmt { count: 2, .. }))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn stages_with_address_count_and_verbs() {
    let s = stages("ffffffff81000000,0t10/K");
    assert_eq!(
        s[0].addr,
        Some(Expr::HexWord {
            name: "ffffffff81000000".into(),
            value: 0xffffffff81000000
        })
    );
    assert_eq!(s[0].count, Some(Expr::Num(10)));
    let s = stages("<rip=K");
    assert_eq!(s[0].addr, Some(Expr::Var("rip".into())));
    let s = stages("::walk list -o 8");
    assert_eq!(
        s[0].verb,
        Verb::Dcmd {
            name: "walk".into(),
            args: vec![Arg::new("list"), Arg::new("-o"), Arg::new("8")]
        }
    );
    let s = stages("$r");
    assert_eq!(
        s[0].verb,
        Verb::Dcmd {
            name: "$r".into(),
            args: vec![]
        }
    );
    let s = stages("1234>myvar");
    assert_eq!(s[0].verb, Verb::Assign("myvar".into()));
    let s = stages("*(.+8)");
    assert!(matches!(s[0].addr, Some(Expr::Unary(UnOp::Deref, _))));
    let s = stages(",4/X");
    assert_eq!(s[0].addr, None);
    assert_eq!(s[0].count, Some(Expr::Num(4)));
}

#[test]
fn pipelines() {
    let s = stages("head::walk list | /K | ::regs -a");
    assert_eq!(s.len(), 3);
    assert_eq!(s[0].addr, Some(Expr::Symbol("head".into())));
    assert!(matches!(s[1].verb, Verb::Display(_)));
    assert_eq!(s[1].addr, None);
    assert_eq!(
        s[2].verb,
        Verb::Dcmd {
            name: "regs".into(),
            args: vec![Arg::new("-a")]
        }
    );
    assert_eq!(stages("1|2=X")[0].verb, stages("3=X")[0].verb);
}

#[test]
fn commands_split_at_semicolons_and_newlines_outside_quotes() {
    let cmds = parse_line("1=X; ::echo 'a;b' ;; \n $q");
    let sources: Vec<_> = cmds.iter().map(|c| c.source.as_str()).collect();
    assert_eq!(sources, vec!["1=X", "::echo 'a;b'", "$q"]);
    assert!(parse_line("").is_empty());
    assert!(parse_line("  ;  ").is_empty());
}

#[test]
fn errors_name_the_column() {
    assert_eq!(
        error("1+"),
        "syntax error at column 3: expected an expression, found the end of the command"
    );
    assert_eq!(
        error("(1+2/"),
        "syntax error at column 6: expected an expression, found the end of the command"
    );
    assert_eq!(
        error("(1+2"),
        "syntax error at column 5: expected ')' to match '(' at column 1, \
         found the end of the command"
    );
    assert_eq!(
        error("1 + 12g"),
        "syntax error at column 5: bad hexadecimal number '12g'"
    );
    assert_eq!(
        error("::walk list | 10/K"),
        "syntax error at column 15: a stage after '|' gets its addresses from the pipe \
         and cannot have its own"
    );
    assert_eq!(
        error("::walk list |"),
        "syntax error at column 14: expected a dcmd or format after '|'"
    );
    assert_eq!(
        error("10/"),
        "syntax error at column 3: expected format characters after '/' (see ::formats)"
    );
    assert_eq!(
        error("10/Kw"),
        "unknown format character 'w' at column 5 (see ::formats)"
    );
    assert_eq!(
        error("1,2"),
        "syntax error at column 4: expected a command after the count"
    );
    assert_eq!(error(")"), "syntax error at column 1: unexpected ')'");
    assert_eq!(
        error("::"),
        "syntax error at column 3: expected a dcmd name after '::'"
    );
    assert_eq!(
        error("1 > "),
        "syntax error at column 5: expected a variable name after '>'"
    );
    assert_eq!(error("1>x y"), "syntax error at column 5: unexpected 'y'");
    assert_eq!(
        error("1:"),
        "syntax error at column 3: expected a command letter after ':'"
    );
    assert!(error("1?X").contains("object file"));
}

#[test]
fn errors_on_later_lines_name_the_line() {
    let cmds = parse_line("1=X\n2+");
    assert_eq!(cmds.len(), 2);
    assert!(cmds[0].stages.is_ok());
    let e = cmds[1].stages.as_ref().err().map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some("syntax error at line 2, column 3: expected an expression, found the end of the command")
    );
}

#[test]
fn deep_and_long_expressions_are_refused_not_overflowed() {
    let deep = format!("{}1{}", "(".repeat(1000), ")".repeat(1000));
    assert!(error(&deep).contains("nested too deeply"));
    let long = "1".to_string() + &"+1".repeat(5000);
    assert!(error(&long).contains("too long"));
    let unary = format!("{}1", "-".repeat(1000));
    assert!(error(&unary).contains("nested too deeply"));
}

#[test]
fn colon_verbs_are_dcmds_with_their_colon() {
    let cmds = parse_line("main:b -c '::findstack -v; :c' -n 3; :c; :s | ::nm");
    assert_eq!(cmds.len(), 3, "{cmds:?}");
    let stages = cmds[0].stages.as_ref().expect("parses");
    assert_eq!(stages[0].addr, Some(Expr::Symbol("main".into())));
    assert_eq!(
        stages[0].verb,
        Verb::Dcmd {
            name: ":b".into(),
            args: vec![
                Arg::new("-c"),
                Arg::new("::findstack -v; :c"),
                Arg::new("-n"),
                Arg::new("3")
            ]
        }
    );
    let stages = cmds[1].stages.as_ref().expect("parses");
    assert_eq!(
        stages[0].verb,
        Verb::Dcmd {
            name: ":c".into(),
            args: vec![]
        }
    );
    let stages = cmds[2].stages.as_ref().expect("parses");
    assert_eq!(stages.len(), 2);
}

fn shell(s: &str) -> Option<String> {
    let mut cmds = parse_line(s);
    assert_eq!(cmds.len(), 1, "{s}");
    let c = cmds.remove(0);
    c.stages.expect(s);
    c.shell
}

#[test]
fn a_bang_after_a_verb_pipes_to_the_shell() {
    assert_eq!(shell("::ps ! grep sleep"), Some("grep sleep".into()));
    assert_eq!(
        shell("::ps -t!grep 'a|b' | wc -l"),
        Some("grep 'a|b' | wc -l".into())
    );
    assert_eq!(shell("::walk thread | ::task ! cat"), Some("cat".into()));
    assert_eq!(shell("1000,2/K ! cat"), Some("cat".into()));
    assert_eq!(shell("1>x ! cat"), Some("cat".into()));
    assert_eq!(stages("1000,2/K ! cat").len(), 1);
    // Not the pipe: quoted, `!=`, or an operator of an expression.
    assert_eq!(shell("::grep .!=0"), None);
    assert_eq!(shell("::echo '!' \"!\""), None);
    assert_eq!(shell("!1=X"), None);
    assert_eq!(shell("(1!=2)=X"), None);
    let s = stages("::grep .!=0 '!'");
    assert_eq!(
        s[0].verb,
        Verb::Dcmd {
            name: "grep".into(),
            args: vec![Arg::new(".!=0"), Arg::new("!")]
        }
    );
    assert_eq!(
        error("::ps !"),
        "syntax error at column 6: expected a shell command after '!'"
    );
    assert!(error("1 ! ls").contains("'!' pipes a dcmd's output to the shell"));
}

#[test]
fn equality_operators_bind_between_shifts_and_and() {
    let s = stages("1&2==3<<4");
    assert_eq!(
        s[0].addr,
        Some(Expr::Binary(
            BinOp::And,
            num(1),
            Box::new(Expr::Binary(
                BinOp::Eq,
                num(2),
                Box::new(Expr::Binary(BinOp::Shl, num(3), num(4)))
            ))
        ))
    );
    assert_eq!(
        parse_expr(".!=0").ok(),
        Some(Expr::Binary(BinOp::Ne, Box::new(Expr::Dot), num(0)))
    );
    assert_eq!(
        parse_expr("8/2").ok(),
        Some(Expr::Binary(BinOp::Div, num(8), num(2)))
    );
    assert!(parse_expr("1 2").is_err());
    assert!(parse_expr("").is_err());
}

#[test]
fn dollar_brackets_are_expression_arguments() {
    let s = stages("::x $[ a[1] + 2 ] b '$[ c ]' $['x']");
    let Verb::Dcmd { args, .. } = &s[0].verb else {
        panic!("{s:?}")
    };
    assert_eq!(
        args,
        &vec![
            Arg::expression("a[1] + 2"),
            Arg::new("b"),
            Arg::new("$[ c ]"),
            Arg::expression("'x'"),
        ]
    );
    assert_eq!(
        error("::x $[ 1"),
        "syntax error at column 5: unmatched '$['"
    );
}
