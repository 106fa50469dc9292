//! Reading what real gdb prints, for the tests that compare qmdb with it.

/// The value of register `name` in gdb's `info registers` output
/// (`rip 0xffffffff81... 0x...`); panics, showing the text, if gdb printed none.
pub fn gdb_reg(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next()? == name).then(|| w.next())?
        })
        .and_then(|v| u64::from_str_radix(v.trim_start_matches("0x"), 16).ok())
        .unwrap_or_else(|| panic!("gdb printed no {name}:\n{text}"))
}

/// The values of gdb's `x/Ngx` output, in order.
pub fn gdb_words(text: &str) -> Vec<u64> {
    text.lines()
        .filter(|l| l.starts_with("0x") && l.contains(':'))
        .flat_map(|l| l.split(':').nth(1).unwrap_or("").split_whitespace())
        .filter_map(|w| u64::from_str_radix(w.trim_start_matches("0x"), 16).ok())
        .collect()
}
