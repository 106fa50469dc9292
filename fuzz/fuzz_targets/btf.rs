//! BTF: the parser, then type lookups, sizes, member paths and type names on whatever parsed.
//! Reference chains and nesting are bounded; nothing may panic or loop.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmdb_kernel::Btf;

fuzz_target!(|data: &[u8]| {
    let Ok(btf) = Btf::parse(data) else { return };
    let count = u32::try_from(btf.type_count()).unwrap_or(u32::MAX).min(256);
    for id in 1..=count {
        let _ = btf.size_of(id);
        let _ = btf.type_name(id);
        let _ = btf.member(id, "a.b[1]");
    }
    for name in ["task_struct", "struct list_head *", "char [16]", "unsigned long", "x"] {
        if let Ok(ct) = btf.find(name) {
            let _ = btf.size_of_ctype(&ct);
            let _ = btf.ctype_name(&ct);
        }
    }
});
