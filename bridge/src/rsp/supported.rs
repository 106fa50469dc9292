//! `qSupported`: the features both sides advertise, including the stub's `PacketSize`.

use super::malformed::{MalformedReply, Problem};

/// What qmdb tells the stub it supports.
pub const CLIENT_FEATURES: &[u8] = b"qSupported:multiprocess+;xmlRegisters=i386;vContSupported+";

/// The stub's answer to `qSupported`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Features {
    /// `PacketSize=` (hex on the wire): the largest packet the stub accepts or sends.
    pub packet_size: Option<usize>,
    /// Features marked `+`.
    pub enabled: Vec<String>,
    /// Other `name=value` pairs.
    pub values: Vec<(String, String)>,
}

impl Features {
    pub fn has(&self, name: &str) -> bool {
        self.enabled.iter().any(|f| f == name)
    }
}

/// Parses `PacketSize=1000;qXfer:features:read+;...`.
pub fn parse_features(body: &[u8]) -> Result<Features, MalformedReply> {
    let bad = |p: Problem| MalformedReply::new("qSupported reply", body, p);
    let text = std::str::from_utf8(body).map_err(|_| bad(Problem::Shape("not UTF-8 text")))?;
    let mut f = Features::default();
    for item in text.split(';').filter(|s| !s.is_empty()) {
        if let Some((k, v)) = item.split_once('=') {
            if k == "PacketSize" {
                let n = usize::from_str_radix(v, 16).map_err(|_| {
                    bad(Problem::BadValue {
                        field: "PacketSize",
                        value: v.to_string(),
                    })
                })?;
                f.packet_size = Some(n);
            } else {
                f.values.push((k.to_string(), v.to_string()));
            }
        } else if let Some(name) = item.strip_suffix('+') {
            f.enabled.push(name.to_string());
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_qemu_7_2_reply() {
        let f =
            parse_features(b"PacketSize=1000;qXfer:features:read+;vContSupported+;multiprocess+")
                .unwrap();
        assert_eq!(f.packet_size, Some(4096));
        assert!(f.has("qXfer:features:read"));
        assert!(f.has("multiprocess"));
        assert!(!f.has("QStartNoAckMode"));
    }

    #[test]
    fn rejects_bad_packet_size() {
        assert!(parse_features(b"PacketSize=zz").is_err());
        assert_eq!(parse_features(b"").unwrap(), Features::default());
    }
}
