//! DWARF → BTF: an ELF file whose debug sections are anything (seeds: small C programs with
//! DWARF 4 and 5, plain and compressed). Conversion fails with an error or yields BTF that
//! parses; nothing may panic, loop or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmdb_kernel::dwarf::btf_from_dwarf;
use qmdb_kernel::Btf;

fuzz_target!(|data: &[u8]| {
    let Ok(Some(blob)) = btf_from_dwarf(data) else {
        return;
    };
    let btf = Btf::parse(&blob).expect("converted BTF parses");
    let count = u32::try_from(btf.type_count()).unwrap_or(u32::MAX).min(256);
    for id in 1..=count {
        let _ = btf.size_of(id);
        let _ = btf.type_name(id);
    }
});
