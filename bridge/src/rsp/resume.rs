//! Run control: `c`, `vCont?`, `vCont;s:<thread>` and its fallback `Hc<thread>` + `s`.

use super::reply::{classify, Reply};
use crate::target::VcpuId;

/// `c`: continue every vCPU.
pub const CONTINUE: &[u8] = b"c";

/// `vCont?`: which `vCont` actions the stub has.
pub const VCONT_QUERY: &[u8] = b"vCont?";

/// `s`: step the thread chosen with `Hc`.
pub const STEP: &[u8] = b"s";

/// What `vCont?` said (QEMU 7.2: `vCont;c;C;s;S`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VContSupport {
    /// `c`: continue.
    pub cont: bool,
    /// `s`: single step.
    pub step: bool,
}

/// Parses a `vCont?` reply; an empty or error reply means no `vCont` at all.
pub fn parse_vcont_query(body: &[u8]) -> VContSupport {
    let Reply::Data(d) = classify(body) else {
        return VContSupport::default();
    };
    let Some(rest) = d.strip_prefix(b"vCont") else {
        return VContSupport::default();
    };
    let mut s = VContSupport::default();
    for action in rest.split(|&c| c == b';').filter(|a| !a.is_empty()) {
        match action {
            b"c" => s.cont = true,
            b"s" => s.step = true,
            _ => {}
        }
    }
    s
}

/// `vCont;s:<thread>`: step that vCPU alone; the others stay stopped (QEMU resumes only the
/// vCPUs a `vCont` names).
pub fn vcont_step_request(id: VcpuId) -> Vec<u8> {
    format!("vCont;s:{}", id.to_rsp()).into_bytes()
}

/// `Hc<thread>`: the thread the next `s`/`c` acts on.
pub fn select_step_request(id: VcpuId) -> Vec<u8> {
    format!("Hc{}", id.to_rsp()).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_literals() {
        let id = VcpuId { pid: 1, tid: 2 };
        assert_eq!(vcont_step_request(id), b"vCont;s:p1.2");
        assert_eq!(select_step_request(id), b"Hcp1.2");
        assert_eq!(
            parse_vcont_query(b"vCont;c;C;s;S"),
            VContSupport {
                cont: true,
                step: true
            }
        );
        assert_eq!(
            parse_vcont_query(b"vCont;c;C"),
            VContSupport {
                cont: true,
                step: false
            }
        );
        assert_eq!(parse_vcont_query(b""), VContSupport::default());
        assert_eq!(parse_vcont_query(b"E01"), VContSupport::default());
        assert_eq!(parse_vcont_query(b"OK"), VContSupport::default());
    }
}
