//! A process's memory maps as `/proc/PID/maps` shows them (`show_map_vma` in
//! `fs/proc/task_mmu.c`): the VMAs of `mm->mm_mt` (a maple tree of
//! `struct vm_area_struct *`), each with its range, `rwxp`/`s` permissions, file offset,
//! device, inode and name, then the x86 vsyscall page (`get_gate_vma`) when the kernel
//! shows it.
//!
//! The name is, as the kernel picks it: the file's path for a file mapping (or
//! `[anon_shmem:NAME]` when named with `prctl(PR_SET_VMA)`), else the name of
//! `vm_ops->name` (`[vdso]`, `[vvar]`: special mappings named by their
//! `struct vm_special_mapping`; `[vsyscall]`), else `[heap]` for a VMA over
//! `start_brk..brk`, `[stack]` for the one holding `start_stack`, `[anon:NAME]` for a named
//! anonymous mapping, else none. Paths are `d_path` ([`crate::fs::path`]) from the
//! process's own root, a newline in them escaped as `seq_path` does (`\012`).

use super::maple::maple_entries;
use crate::error::Error;
use crate::fs::path::{d_path, Dnames, PathRef};
use crate::object::{has_member, offset_of, read_cstring, StructView};
use crate::{GuestMemory, Program};
use qmdb_bridge::VirtAddr;
use qmdb_kernel::btf::Btf;

/// `VM_READ`, `VM_WRITE`, `VM_EXEC`, `VM_MAYSHARE`.
const VM_READ: u64 = 0x1;
const VM_WRITE: u64 = 0x2;
const VM_EXEC: u64 = 0x4;
const VM_MAYSHARE: u64 = 0x80;
/// `PAGE_SHIFT`.
const PAGE_SHIFT: u32 = 12;
/// `MM_CONTEXT_HAS_VSYSCALL` (bit 1 of `mm->context.flags`): the vsyscall page is mapped.
const MM_CONTEXT_HAS_VSYSCALL: u64 = 1 << 1;
/// `vsyscall_mode`'s `NONE` (`enum { EMULATE, XONLY, NONE }`).
const VSYSCALL_NONE: u64 = 2;
/// `ANON_VMA_NAME_MAX_LEN`.
const ANON_NAME_MAX: usize = 80;
/// The longest name of a special mapping read.
const SPECIAL_NAME_MAX: usize = 64;
/// The column `/proc/PID/maps` pads a line's prefix to before the name
/// (`seq_setwidth(m, 25 + sizeof(void *) * 6 - 1)`).
const NAME_COLUMN: usize = 72;

/// What of the kernel `show_map_vma` depends on beyond the VMAs: functions `vm_ops->name`
/// may point to, the vsyscall page, and which heap test this kernel makes.
#[derive(Debug, Clone, Default)]
pub struct MapsRules {
    /// `special_mapping_name`: `vm_ops->name` of special mappings (`[vdso]`, `[vvar]`),
    /// whose name is their `vm_private_data`'s `struct vm_special_mapping.name`.
    pub special_mapping_name: Option<VirtAddr>,
    /// `gate_vma_name`: names the vsyscall page `[vsyscall]`.
    pub gate_vma_name: Option<VirtAddr>,
    /// `gate_vma`, when `vsyscall_mode` is not `NONE`: the vsyscall page, listed last.
    pub gate_vma: Option<VirtAddr>,
    /// Whether the kernel names VMAs (`CONFIG_ANON_VMA_NAME`: it has `anon_vma_name()`).
    pub anon_names: bool,
    /// Whether `[heap]` needs a VMA to overlap `start_brk..brk` (6.7+: `vm_start < brk &&
    /// vm_end > start_brk`) rather than touch it (`<=`, `>=` before).
    pub strict_heap: bool,
    /// The `d_dname` functions that name pseudo files.
    pub dnames: Dnames,
}

impl MapsRules {
    /// The rules of the program's kernel: symbols looked up, `vsyscall_mode` read, the
    /// heap test from the release (`6.7` and later are strict; unknown: strict).
    pub fn for_program(program: &mut Program) -> Result<MapsRules, Error> {
        let syms = program.symbols();
        let special_mapping_name = syms.lookup_name("special_mapping_name");
        let gate_vma_name = syms.lookup_name("gate_vma_name");
        let gate = syms.lookup_name("gate_vma");
        let mode = syms.lookup_name("vsyscall_mode");
        let anon_names = syms.lookup_name("anon_vma_name").is_some();
        let dnames = Dnames::from_symbols(syms);
        let strict_heap = program
            .kernel()
            .and_then(|k| k.release.as_deref())
            .and_then(release_version)
            .is_none_or(|v| v >= (6, 7));
        // An unreadable vsyscall_mode leaves the page out, as NONE does.
        let gate_vma = match (gate, mode) {
            (Some(g), Some(m)) => match GuestMemory::read_u32(program, m, Some("vsyscall_mode")) {
                Ok(mode) => (u64::from(mode) != VSYSCALL_NONE).then_some(g),
                Err(e) if e.ends_command() => return Err(e),
                Err(_) => None,
            },
            _ => None,
        };
        Ok(MapsRules {
            special_mapping_name,
            gate_vma_name,
            gate_vma,
            anon_names,
            strict_heap,
            dnames,
        })
    }
}

/// `(major, minor)` of a release such as `6.12.118+deb13-cloud-amd64`.
fn release_version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(['.', '-', '+']);
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

/// One VMA as `/proc/PID/maps` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vma {
    /// The `struct vm_area_struct`.
    pub addr: VirtAddr,
    pub start: u64,
    pub end: u64,
    /// `vm_flags`.
    pub flags: u64,
    /// The offset into the file in bytes (`vm_pgoff << PAGE_SHIFT`), 0 without a file.
    pub offset: u64,
    /// `vm_file`, if any.
    pub file: Option<VirtAddr>,
    /// The device of the file's inode (`i_sb->s_dev`, the kernel's `dev_t`), 0 without.
    pub dev: u32,
    /// The file's inode number, 0 without.
    pub inode: u64,
    /// The path or `[name]`, if the kernel shows one.
    pub name: Option<String>,
}

impl Vma {
    /// `r`, `w`, `x`, then `s` (may share) or `p`.
    pub fn perms(&self) -> String {
        let bit = |m: u64, c: char| if self.flags & m != 0 { c } else { '-' };
        [
            bit(VM_READ, 'r'),
            bit(VM_WRITE, 'w'),
            bit(VM_EXEC, 'x'),
            if self.flags & VM_MAYSHARE != 0 {
                's'
            } else {
                'p'
            },
        ]
        .iter()
        .collect()
    }

    /// `MAJOR(dev)`: the kernel's `dev_t` keeps the minor in the low 20 bits.
    pub fn major(&self) -> u32 {
        self.dev >> 20
    }

    /// `MINOR(dev)`.
    pub fn minor(&self) -> u32 {
        self.dev & 0xf_ffff
    }

    /// The line `/proc/PID/maps` prints, byte for byte (an unnamed VMA's ends in a space).
    pub fn maps_line(&self) -> String {
        let mut line = format!(
            "{:08x}-{:08x} {} {:08x} {:02x}:{:02x} {} ",
            self.start,
            self.end,
            self.perms(),
            self.offset,
            self.major(),
            self.minor(),
            self.inode
        );
        if let Some(name) = &self.name {
            while line.len() < NAME_COLUMN {
                line.push(' ');
            }
            line.push(' ');
            line.push_str(name);
        }
        line
    }
}

/// A process's VMAs, and what could not be read (each one line naming the address).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Maps {
    /// In address order, the vsyscall page last when shown.
    pub vmas: Vec<Vma>,
    /// VMAs that could not be read or named, and why the tree walk ended early.
    pub problems: Vec<String>,
}

/// What naming a VMA depends on: the rules, what of `struct mm_struct` the names depend
/// on, and the root paths are printed from.
struct Namer<'a> {
    btf: &'a Btf,
    rules: &'a MapsRules,
    start_brk: u64,
    brk: u64,
    start_stack: u64,
    root: PathRef,
}

/// The VMAs of the `struct mm_struct` at `mm`, at most `limit` of them, file paths printed
/// from `root` (the process's `fs->root`; `None`: from the root of the mount tree).
///
/// A VMA that cannot be read is left out and a name that cannot be read is left empty, each
/// with a line in [`Maps::problems`], as is a corrupt maple tree (its walk's end). The
/// `mm_struct` itself being unreadable, or BTF lacking what is needed, is an `Err`.
pub fn mm_maps(
    mem: &mut dyn GuestMemory,
    btf: &Btf,
    rules: &MapsRules,
    mm: VirtAddr,
    root: Option<PathRef>,
    limit: u64,
) -> Result<Maps, Error> {
    let m = StructView::read(mem, btf, "mm_struct", mm)?;
    let namer = Namer {
        btf,
        rules,
        start_brk: m.uint(btf, "start_brk")?,
        brk: m.uint(btf, "brk")?,
        start_stack: m.uint(btf, "start_stack")?,
        root: root.unwrap_or(PathRef {
            mnt: VirtAddr(0),
            dentry: VirtAddr(0),
        }),
    };
    let tree = m.member_addr(btf, "mm_mt")?;
    let walked = maple_entries(mem, btf, tree, limit)?;
    let mut out = Maps::default();
    for e in &walked.items {
        let vma = match read_vma(mem, &namer, e.entry, &mut out.problems) {
            Ok(v) => v,
            Err(err) if err.ends_command() => return Err(err),
            Err(err) => {
                out.problems.push(format!(
                    "vma {} (maple tree range {:#x}..={:#x}): {err}",
                    e.entry, e.first, e.last
                ));
                continue;
            }
        };
        if vma.start != e.first || vma.end.wrapping_sub(1) != e.last {
            out.problems.push(format!(
                "vma {}: {:#x}-{:#x} is stored in the maple tree at {:#x}..={:#x}",
                e.entry, vma.start, vma.end, e.first, e.last
            ));
        }
        out.vmas.push(vma);
    }
    out.problems.extend(walked.end);
    if let Some(gate) = rules.gate_vma {
        if m.uint(btf, "context.flags")? & MM_CONTEXT_HAS_VSYSCALL != 0 {
            match read_vma(mem, &namer, gate, &mut out.problems) {
                Ok(v) => out.vmas.push(v),
                Err(err) if err.ends_command() => return Err(err),
                Err(err) => out.problems.push(format!("gate_vma {gate}: {err}")),
            }
        }
    }
    Ok(out)
}

/// One VMA, named as `show_map_vma` names it; a name it cannot read is a line in
/// `problems` and no name.
fn read_vma(
    mem: &mut dyn GuestMemory,
    namer: &Namer<'_>,
    addr: VirtAddr,
    problems: &mut Vec<String>,
) -> Result<Vma, Error> {
    let btf = namer.btf;
    let v = StructView::read(mem, btf, "vm_area_struct", addr)?;
    let file = v.ptr(btf, "vm_file")?;
    let mut vma = Vma {
        addr,
        start: v.uint(btf, "vm_start")?,
        end: v.uint(btf, "vm_end")?,
        flags: v.uint(btf, "vm_flags")?,
        offset: 0,
        file: (file.0 != 0).then_some(file),
        dev: 0,
        inode: 0,
        name: None,
    };
    if file.0 != 0 {
        vma.offset = v.uint(btf, "vm_pgoff")? << PAGE_SHIFT;
        let f = StructView::read(mem, btf, "file", file)?;
        let inode = StructView::read(mem, btf, "inode", f.ptr(btf, "f_inode")?)?;
        vma.inode = inode.uint(btf, "i_ino")?;
        let sb = inode.ptr(btf, "i_sb")?;
        let dev_at = sb.add(offset_of(btf, "super_block", "s_dev")?);
        vma.dev = mem.read_u32(dev_at, Some("super_block.s_dev"))?;
    }
    match vma_name(mem, namer, &v, &vma, problems) {
        Ok(n) => vma.name = n,
        Err(e) if e.ends_command() => return Err(e),
        Err(e) => problems.push(format!("vma {addr}: its name: {e}")),
    }
    Ok(vma)
}

/// The name `show_map_vma` (`get_vma_name`) gives the VMA.
fn vma_name(
    mem: &mut dyn GuestMemory,
    namer: &Namer<'_>,
    v: &StructView,
    vma: &Vma,
    problems: &mut Vec<String>,
) -> Result<Option<String>, Error> {
    let (btf, rules) = (namer.btf, namer.rules);
    let anon_name = if rules.anon_names && has_member(btf, "vm_area_struct", "anon_name") {
        match v.ptr(btf, "anon_name")? {
            VirtAddr(0) => None,
            a => Some(read_cstring(
                mem,
                a.add(offset_of(btf, "anon_vma_name", "name")?),
                ANON_NAME_MAX,
            )?),
        }
    } else {
        None
    };
    if let Some(file) = vma.file {
        return Ok(Some(match anon_name {
            Some(n) => format!("[anon_shmem:{n}]"),
            None => file_path(mem, namer, file, vma.addr, problems)?,
        }));
    }
    let ops = v.ptr(btf, "vm_ops")?;
    if ops.0 != 0 {
        let f = mem.read_u64(
            ops.add(offset_of(btf, "vm_operations_struct", "name")?),
            Some("vm_operations_struct.name"),
        )?;
        if f != 0 {
            let f = Some(VirtAddr(f));
            if f == rules.special_mapping_name {
                let sm = v.ptr(btf, "vm_private_data")?;
                let name_at = mem.read_u64(
                    sm.add(offset_of(btf, "vm_special_mapping", "name")?),
                    Some("vm_special_mapping.name"),
                )?;
                return Ok(Some(read_cstring(
                    mem,
                    VirtAddr(name_at),
                    SPECIAL_NAME_MAX,
                )?));
            }
            if f == rules.gate_vma_name {
                return Ok(Some("[vsyscall]".to_string()));
            }
            problems.push(format!(
                "vma {}: named by vm_ops->name {}, which qmdb does not know: no name shown",
                vma.addr,
                VirtAddr(f.map_or(0, |a| a.0))
            ));
        }
    }
    let heap = if rules.strict_heap {
        vma.start < namer.brk && vma.end > namer.start_brk
    } else {
        vma.start <= namer.brk && vma.end >= namer.start_brk
    };
    if heap {
        return Ok(Some("[heap]".to_string()));
    }
    if vma.start <= namer.start_stack && vma.end >= namer.start_stack {
        return Ok(Some("[stack]".to_string()));
    }
    Ok(anon_name.map(|n| format!("[anon:{n}]")))
}

/// The mapped file's path as `seq_path(file_user_path(file), "\n")` prints it: `d_path`,
/// a newline escaped as `\012`. A path that is not the kernel's (a broken walk, an
/// unknown `d_dname`) is a line in `problems`.
fn file_path(
    mem: &mut dyn GuestMemory,
    namer: &Namer<'_>,
    file: VirtAddr,
    vma: VirtAddr,
    problems: &mut Vec<String>,
) -> Result<String, Error> {
    let btf = namer.btf;
    let path = PathRef::read(mem, btf, file.add(offset_of(btf, "file", "f_path")?))?;
    let p = d_path(mem, btf, &namer.rules.dnames, path, namer.root)?;
    if let Some(note) = p.note {
        problems.push(format!("vma {vma}: path of file {file}: {note}"));
    }
    Ok(p.path.replace('\n', "\\012"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::maple::tests::{add_maple_types, enode, range_node};
    use crate::mock::SparseMemory;
    use qmdb_kernel::btf::builder::BtfBuilder;

    /// Lines of a real guest's `/proc/1/maps` (6.1), as the truth file holds them.
    const TRUTH: &[&str] = &[
        "00400000-00401000 r--p 00000000 00:02 172                                /bin/busybox",
        "005e5000-005ec000 rw-p 00000000 00:00 0 ",
        "37ce2000-37d04000 rw-p 00000000 00:00 0                                  [heap]",
        "7ffc18f76000-7ffc18f97000 rw-p 00000000 00:00 0                          [stack]",
    ];

    fn vma(start: u64, end: u64, flags: u64, offset: u64, dev: u32, inode: u64) -> Vma {
        Vma {
            addr: VirtAddr(0),
            start,
            end,
            flags,
            offset,
            file: None,
            dev,
            inode,
            name: None,
        }
    }

    #[test]
    fn lines_are_byte_for_byte_those_of_proc_maps() {
        let mut v = vma(0x40_0000, 0x40_1000, VM_READ, 0, 2, 172);
        v.name = Some("/bin/busybox".into());
        assert_eq!(v.maps_line(), TRUTH[0]);
        let v = vma(0x5e_5000, 0x5e_c000, VM_READ | VM_WRITE, 0, 0, 0);
        assert_eq!(v.maps_line(), TRUTH[1]);
        let mut v = vma(0x37ce_2000, 0x37d0_4000, VM_READ | VM_WRITE, 0, 0, 0);
        v.name = Some("[heap]".into());
        assert_eq!(v.maps_line(), TRUTH[2]);
        let mut v = vma(0x7ffc_18f7_6000, 0x7ffc_18f9_7000, 3, 0, 0, 0);
        v.name = Some("[stack]".into());
        assert_eq!(v.maps_line(), TRUTH[3]);
        // Shared, executable, a device with a minor above 0xff, a long prefix.
        let mut v = vma(
            0x1000,
            0x2000,
            VM_READ | VM_EXEC | VM_MAYSHARE,
            0x1_2345_6000,
            0x0080_0123,
            123_456_789_012,
        );
        v.name = Some("/x".into());
        assert_eq!(v.perms(), "r-xs");
        assert_eq!((v.major(), v.minor()), (8, 0x123));
        assert_eq!(
            v.maps_line(),
            format!(
                "{:<72} /x",
                "00001000-00002000 r-xs 123456000 08:123 123456789012"
            )
        );
        assert_eq!(release_version("6.12.118+deb13-cloud-amd64"), Some((6, 12)));
        assert_eq!(release_version("7.2.13+deb14-cloud-amd64"), Some((7, 2)));
        assert_eq!(release_version("6.1.0-57-cloud-amd64"), Some((6, 1)));
        assert_eq!(release_version("junk"), None);
    }

    /// The maple tree's types and the members of mm, VMAs, files, inodes, dentries and
    /// mounts that naming reads.
    fn btf() -> Btf {
        let mut b = BtfBuilder::new();
        let mt = add_maple_types(&mut b);
        let u32t = b.int("u32", 4, 32, 0);
        let u64t = b.int("u64", 8, 64, 0);
        let ptr = b.ptr(u64t);
        let ctx = b.struct_("", 8, &[("flags", u64t, 0)]);
        b.struct_(
            "mm_struct",
            0x100,
            &[
                ("pgd", ptr, 0x10 * 8),
                ("mm_mt", mt, 0x40 * 8),
                ("start_brk", u64t, 0x80 * 8),
                ("brk", u64t, 0x88 * 8),
                ("start_stack", u64t, 0x90 * 8),
                ("context", ctx, 0xa0 * 8),
            ],
        );
        b.struct_(
            "vm_area_struct",
            0x60,
            &[
                ("vm_start", u64t, 0),
                ("vm_end", u64t, 0x8 * 8),
                ("vm_mm", ptr, 0x10 * 8),
                ("vm_flags", u64t, 0x20 * 8),
                ("vm_ops", ptr, 0x30 * 8),
                ("vm_pgoff", u64t, 0x38 * 8),
                ("vm_file", ptr, 0x40 * 8),
                ("vm_private_data", ptr, 0x48 * 8),
            ],
        );
        let path = b.struct_("path", 16, &[("mnt", ptr, 0), ("dentry", ptr, 64)]);
        b.struct_(
            "file",
            0x40,
            &[("f_path", path, 0x10 * 8), ("f_inode", ptr, 0x20 * 8)],
        );
        b.struct_(
            "inode",
            0x50,
            &[("i_sb", ptr, 0x10 * 8), ("i_ino", u64t, 0x40 * 8)],
        );
        b.struct_("super_block", 0x20, &[("s_dev", u32t, 0x10 * 8)]);
        b.struct_("vm_operations_struct", 0x40, &[("name", ptr, 0x20 * 8)]);
        b.struct_("vm_special_mapping", 0x10, &[("name", ptr, 0)]);
        let hbl = b.struct_("hlist_bl_node", 16, &[("next", ptr, 0), ("pprev", ptr, 64)]);
        let hash = b.struct_("", 8, &[("hash", u32t, 0), ("len", u32t, 32)]);
        let qstr = b.struct_("qstr", 16, &[("", hash, 0), ("name", ptr, 64)]);
        b.struct_(
            "dentry",
            0x60,
            &[
                ("d_hash", hbl, 0x8 * 8),
                ("d_parent", ptr, 0x18 * 8),
                ("d_name", qstr, 0x20 * 8),
                ("d_op", ptr, 0x30 * 8),
            ],
        );
        b.struct_("dentry_operations", 0x50, &[("d_dname", ptr, 0x48 * 8)]);
        let vfsmount = b.struct_("vfsmount", 0x20, &[("mnt_root", ptr, 0)]);
        b.struct_(
            "mount",
            0x40,
            &[
                ("mnt_parent", ptr, 0x10 * 8),
                ("mnt_mountpoint", ptr, 0x18 * 8),
                ("mnt", vfsmount, 0x20 * 8),
            ],
        );
        Btf::parse(&b.build()).unwrap()
    }

    const MM: u64 = 0x5000_0000;
    const LEAF: u64 = 0x6000_0000;
    const HEAP: (u64, u64) = (0x100_0000, 0x102_2000);
    const STACK: (u64, u64) = (0x7ffc_0000_0000, 0x7ffc_0002_1000);
    const VDSO: (u64, u64) = (0x7ffc_0010_0000, 0x7ffc_0010_2000);
    const SPECIAL_NAME_FN: u64 = 0xffff_ffff_8120_0000;
    const GATE_NAME_FN: u64 = 0xffff_ffff_8120_1000;
    const GATE: u64 = 0xffff_ffff_8300_0000;

    /// A VMA at `a`.
    fn put_vma(m: &mut SparseMemory, a: u64, (start, end): (u64, u64), flags: u64, file: u64) {
        let mut b = vec![0u8; 0x60];
        b[0..8].copy_from_slice(&start.to_le_bytes());
        b[8..16].copy_from_slice(&end.to_le_bytes());
        b[0x10..0x18].copy_from_slice(&MM.to_le_bytes());
        b[0x20..0x28].copy_from_slice(&flags.to_le_bytes());
        b[0x38..0x40].copy_from_slice(&1u64.to_le_bytes()); // vm_pgoff
        b[0x40..0x48].copy_from_slice(&file.to_le_bytes());
        m.put(a, &b);
    }

    /// A hashed dentry at `a` named `name` under `parent`.
    fn put_dentry(m: &mut SparseMemory, a: u64, name: &str, parent: u64) {
        let name_at = a + 0x1000;
        m.put(name_at, name.as_bytes());
        let mut b = vec![0u8; 0x60];
        b[0x10..0x18].copy_from_slice(&0xdeadu64.to_le_bytes()); // d_hash.pprev
        b[0x18..0x20].copy_from_slice(&parent.to_le_bytes());
        b[0x24..0x28].copy_from_slice(&(name.len() as u32).to_le_bytes());
        b[0x28..0x30].copy_from_slice(&name_at.to_le_bytes());
        m.put(a, &b);
    }

    /// A process: /bin/busybox (file, pgoff 1, dev 00:02, inode 172), its bss, the heap, a
    /// wild VMA pointer, a VMA stored at the wrong range, the stack and the vDSO (a special
    /// mapping); the vsyscall page when `vsyscall`.
    fn process(vsyscall: bool) -> SparseMemory {
        let mut m = SparseMemory::default();
        let mut mm = vec![0u8; 0x100];
        mm[0x80..0x88].copy_from_slice(&HEAP.0.to_le_bytes());
        mm[0x88..0x90].copy_from_slice(&HEAP.1.to_le_bytes());
        mm[0x90..0x98].copy_from_slice(&(STACK.1 - 0x100).to_le_bytes());
        mm[0xa0] = if vsyscall { 2 } else { 0 };
        m.put(MM, &mm);
        m.put_u64(MM + 0x40 + 8, enode(LEAF, 1) | 2);
        let v = |i: u64| 0x7000_0000 + i * 0x100;
        let max = u64::MAX;
        range_node(
            &mut m,
            LEAF,
            1,
            &[
                (Some(0x3f_ffff), 0),
                (Some(0x40_0fff), v(0)),
                (Some(0x4f_ffff), 0),
                (Some(0x50_2fff), v(1)),
                (Some(HEAP.0 - 1), 0),
                (Some(HEAP.1 - 1), v(2)),
                (Some(0x200_0fff), 0xdead_0000),
                (Some(0x300_0fff), v(3)),
                (Some(STACK.0 - 1), 0),
                (Some(STACK.1 - 1), v(4)),
                (Some(VDSO.0 - 1), 0),
                (Some(VDSO.1 - 1), v(5)),
                (Some(max), 0),
            ],
        );
        // /bin/busybox: file 0x7100_0000, inode 0x7200_0000, sb 0x7300_0000; dentries
        // / (0x7400_0000) and busybox under bin; one mount 0x7500_0000.
        put_vma(&mut m, v(0), (0x40_0000, 0x40_1000), VM_READ, 0x7100_0000);
        let mut f = vec![0u8; 0x40];
        f[0x10..0x18].copy_from_slice(&(0x7500_0000u64 + 0x20).to_le_bytes());
        f[0x18..0x20].copy_from_slice(&0x7400_0200u64.to_le_bytes());
        f[0x20..0x28].copy_from_slice(&0x7200_0000u64.to_le_bytes());
        m.put(0x7100_0000, &f);
        let mut ino = vec![0u8; 0x50];
        ino[0x10..0x18].copy_from_slice(&0x7300_0000u64.to_le_bytes());
        ino[0x40..0x48].copy_from_slice(&172u64.to_le_bytes());
        m.put(0x7200_0000, &ino);
        m.put(0x7300_0000, &[0u8; 0x20]);
        m.put(0x7300_0010, &2u32.to_le_bytes());
        put_dentry(&mut m, 0x7400_0000, "/", 0x7400_0000);
        put_dentry(&mut m, 0x7400_0100, "bin", 0x7400_0000);
        put_dentry(&mut m, 0x7400_0200, "busy\nbox", 0x7400_0100);
        let mut mnt = vec![0u8; 0x40];
        mnt[0x10..0x18].copy_from_slice(&0x7500_0000u64.to_le_bytes());
        mnt[0x18..0x20].copy_from_slice(&0x7400_0000u64.to_le_bytes());
        mnt[0x20..0x28].copy_from_slice(&0x7400_0000u64.to_le_bytes());
        m.put(0x7500_0000, &mnt);
        put_vma(&mut m, v(1), (0x50_0000, 0x50_3000), VM_READ | VM_WRITE, 0);
        put_vma(&mut m, v(2), HEAP, VM_READ | VM_WRITE, 0);
        put_vma(&mut m, v(3), (0x300_0000, 0x300_2000), VM_READ, 0);
        put_vma(&mut m, v(4), STACK, VM_READ | VM_WRITE, 0);
        put_vma(&mut m, v(5), VDSO, VM_READ | VM_EXEC, 0);
        // The vDSO: vm_ops 0x7600_0000 whose name is special_mapping_name, private data a
        // vm_special_mapping named [vdso].
        m.put_u64(v(5) + 0x30, 0x7600_0000);
        m.put_u64(v(5) + 0x48, 0x7700_0000);
        m.put(0x7600_0000, &[0u8; 0x40]);
        m.put_u64(0x7600_0020, SPECIAL_NAME_FN);
        m.put_u64(0x7700_0000, 0x7700_0100);
        m.put(0x7700_0100, b"[vdso]\0");
        // The gate VMA, named by gate_vma_name.
        put_vma(
            &mut m,
            GATE,
            (0xffff_ffff_ff60_0000, 0xffff_ffff_ff60_1000),
            VM_EXEC,
            0,
        );
        m.put_u64(GATE + 0x30, 0x7600_0100);
        m.put(0x7600_0100, &[0u8; 0x40]);
        m.put_u64(0x7600_0120, GATE_NAME_FN);
        m
    }

    fn rules() -> MapsRules {
        MapsRules {
            special_mapping_name: Some(VirtAddr(SPECIAL_NAME_FN)),
            gate_vma_name: Some(VirtAddr(GATE_NAME_FN)),
            gate_vma: Some(VirtAddr(GATE)),
            anon_names: false,
            strict_heap: true,
            dnames: Dnames::default(),
        }
    }

    fn root() -> Option<PathRef> {
        Some(PathRef {
            mnt: VirtAddr(0x7500_0020),
            dentry: VirtAddr(0x7400_0000),
        })
    }

    #[test]
    fn vmas_are_named_as_proc_maps_names_them() {
        let btf = btf();
        let mut m = process(true);
        let maps = mm_maps(&mut m, &btf, &rules(), VirtAddr(MM), root(), 100).unwrap();
        let lines: Vec<String> = maps.vmas.iter().map(Vma::maps_line).collect();
        let pad = |s: &str| format!("{s:<72} ");
        assert_eq!(
            lines,
            vec![
                pad("00400000-00401000 r--p 00001000 00:02 172") + "/bin/busy\\012box",
                "00500000-00503000 rw-p 00000000 00:00 0 ".to_string(),
                pad("01000000-01022000 rw-p 00000000 00:00 0") + "[heap]",
                "03000000-03002000 r--p 00000000 00:00 0 ".to_string(),
                pad("7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0") + "[stack]",
                pad("7ffc00100000-7ffc00102000 r-xp 00000000 00:00 0") + "[vdso]",
                pad("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0") + "[vsyscall]",
            ]
        );
        assert_eq!(maps.vmas[0].file, Some(VirtAddr(0x7100_0000)));
        assert_eq!(maps.vmas[1].addr, VirtAddr(0x7000_0100));
        // The wild VMA is left out, the misplaced one is kept: each says so.
        assert_eq!(maps.problems.len(), 2, "{:?}", maps.problems);
        assert!(
            maps.problems[0].contains("vma dead0000"),
            "{:?}",
            maps.problems
        );
        assert!(
            maps.problems[1]
                .contains("3000000-0x3002000 is stored in the maple tree at 0x2001000..=0x3000fff"),
            "{:?}",
            maps.problems
        );
        // Without the vsyscall page in the mm's context, no gate VMA.
        let mut m = process(false);
        let maps = mm_maps(&mut m, &btf, &rules(), VirtAddr(MM), root(), 100).unwrap();
        assert_eq!(maps.vmas.len(), 6);
    }

    #[test]
    fn the_heap_test_follows_the_kernel() {
        let btf = btf();
        // A VMA ending where the heap starts is [heap] only before 6.7.
        let mut m = process(false);
        m.put_u64(MM + 0x80, 0x50_3000);
        m.put_u64(MM + 0x88, 0x50_3000);
        let strict = mm_maps(&mut m, &btf, &rules(), VirtAddr(MM), root(), 100).unwrap();
        assert_eq!(strict.vmas[1].name, None);
        let old = MapsRules {
            strict_heap: false,
            ..rules()
        };
        let loose = mm_maps(&mut m, &btf, &old, VirtAddr(MM), root(), 100).unwrap();
        assert_eq!(loose.vmas[1].name.as_deref(), Some("[heap]"));
    }

    #[test]
    fn a_corrupt_tree_or_name_is_a_problem_not_an_error() {
        let btf = btf();
        // A cycle in the tree: a range_64 root over the leaf and over itself.
        let mut m = process(false);
        m.put_u64(MM + 0x40 + 8, enode(0x6100_0000, 2) | 2);
        m.put_u64(LEAF + 8 + 12 * 8, u64::MAX - 1);
        range_node(
            &mut m,
            0x6100_0000,
            2,
            &[
                (Some(u64::MAX - 1), enode(LEAF, 1)),
                (Some(u64::MAX), enode(0x6100_0000, 2)),
            ],
        );
        let maps = mm_maps(&mut m, &btf, &rules(), VirtAddr(MM), root(), 100).unwrap();
        assert_eq!(maps.vmas.len(), 6);
        assert!(
            maps.problems.iter().any(|p| p.contains("cycle")),
            "{:?}",
            maps.problems
        );
        // The vDSO's name pointer is wild: its name is a problem, the VMA stays.
        let mut m = process(false);
        m.put_u64(0x7700_0000, 0xbad0_0000);
        let maps = mm_maps(&mut m, &btf, &rules(), VirtAddr(MM), root(), 100).unwrap();
        let vdso = maps.vmas.iter().find(|v| v.start == VDSO.0).unwrap();
        assert_eq!(vdso.name, None);
        assert!(
            maps.problems.iter().any(|p| p.contains("its name")),
            "{:?}",
            maps.problems
        );
        // An unknown vm_ops->name function: no name, and a note.
        let mut m = process(false);
        m.put_u64(0x7600_0020, 0xffff_ffff_8199_0000);
        let maps = mm_maps(&mut m, &btf, &rules(), VirtAddr(MM), root(), 100).unwrap();
        assert!(maps.problems.iter().any(|p| p.contains("ffffffff81990000")));
        // The mm itself unreadable: an error.
        assert!(mm_maps(
            &mut SparseMemory::default(),
            &btf,
            &rules(),
            VirtAddr(MM),
            root(),
            9
        )
        .is_err());
    }
}
