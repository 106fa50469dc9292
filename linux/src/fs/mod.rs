//! Files and mounts as the kernel's `/proc` shows them, read from guest memory with offsets
//! from BTF:
//!
//! - [`path`]: `d_path()` of a `struct path` (a dentry up to its mount's root, across
//!   mounts up to a root), the names pseudo files get from their `d_dname`, and a dentry's
//!   path inside its own filesystem;
//! - [`files`]: a task's open files (`task->files->fdt`), as `/proc/PID/fd` and
//!   `/proc/PID/fdinfo` show them;
//! - [`mounts`]: a mount namespace's mounts, as `/proc/mounts` prints them.
//!
//! Everything read is untrusted guest data: every walk is bounded and cycle-checked, and a
//! walk that breaks off says why (a path starting with `?`, a note) instead of looping.

pub mod files;
pub mod mounts;
pub mod path;

use crate::error::Error;
use crate::object::offset_of;
use crate::GuestMemory;
use qmdb_bridge::VirtAddr;
use qmdb_kernel::btf::Btf;

/// The pointer member `path` of the `struct sname` at `addr`, read alone (for members of
/// large structures such as `task_struct`, which are not read whole).
pub(crate) fn read_ptr_member(
    mem: &mut dyn GuestMemory,
    btf: &Btf,
    sname: &str,
    addr: VirtAddr,
    path: &str,
) -> Result<VirtAddr, Error> {
    let off = offset_of(btf, sname, path)?;
    let what = format!("{sname}.{path}");
    Ok(VirtAddr(mem.read_u64(addr.add(off), Some(&what))?))
}
