//! `qRcmd,<hex>`: a command for the stub's monitor; output comes back in `O<hex>` packets.

use super::encoding::{from_hex, to_hex};

/// `qRcmd,<hex of cmd>`.
pub fn request(cmd: &str) -> Vec<u8> {
    format!("qRcmd,{}", to_hex(cmd.as_bytes())).into_bytes()
}

/// If `body` is an `O<hex>` console packet, its decoded text. `OK` is not one.
pub fn console_output(body: &[u8]) -> Option<Vec<u8>> {
    match body {
        [b'O', rest @ ..] if body != b"OK" && !rest.is_empty() => from_hex(rest).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_literals() {
        assert_eq!(request("info version"), b"qRcmd,696e666f2076657273696f6e");
        assert_eq!(console_output(b"O372e320a").unwrap(), b"7.2\n");
        assert_eq!(console_output(b"OK"), None);
        assert_eq!(console_output(b"O4b").unwrap(), b"K");
        assert_eq!(console_output(b"Ozz"), None);
    }
}
