//! Packet framing: `$body#cs`, `+`/`-` acks, and the `\x03` interrupt byte.
//!
//! [`FrameDecoder`] is a byte-driven state machine with no I/O, so the same code serves the
//! async client, the proxy and the fuzzer.

/// The largest packet body the decoder accepts before declaring the stream garbage.
pub const MAX_PACKET: usize = 1 << 20;

/// Something complete that arrived on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `+`: the peer received our last packet.
    Ack,
    /// `-`: the peer wants our last packet again.
    Nack,
    /// `\x03`, outside a packet: a request to stop the target.
    Interrupt,
    /// A packet whose checksum matched; `body` is still run-length encoded and escaped.
    Packet(Vec<u8>),
    /// A packet whose checksum did not match; `expected` is `None` when the two checksum
    /// characters were not hex digits.
    BadChecksum { expected: Option<u8>, computed: u8 },
    /// A packet body longer than [`MAX_PACKET`]; its bytes were dropped.
    Oversized,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Body,
    Check1,
    Check2(u8),
}

/// Splits a byte stream into [`Event`]s.
#[derive(Debug)]
pub struct FrameDecoder {
    state: State,
    body: Vec<u8>,
    sum: u8,
    oversized: bool,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    pub fn new() -> Self {
        FrameDecoder {
            state: State::Idle,
            body: Vec::new(),
            sum: 0,
            oversized: false,
        }
    }

    /// Whether the decoder is between packets.
    pub fn is_idle(&self) -> bool {
        self.state == State::Idle
    }

    /// Feeds a slice, pushing every completed event to `out`. Equivalent to [`Self::feed`] on
    /// each byte, but copies packet bodies in bulk.
    pub fn feed_slice(&mut self, mut bytes: &[u8], out: &mut impl Extend<Event>) {
        while !bytes.is_empty() {
            if self.state == State::Body {
                let run = bytes
                    .iter()
                    .position(|&b| b == b'#' || b == b'$')
                    .unwrap_or(bytes.len());
                let (body, rest) = bytes.split_at(run);
                self.sum = body.iter().fold(self.sum, |s, &b| s.wrapping_add(b));
                let room = MAX_PACKET.saturating_sub(self.body.len());
                if body.len() > room {
                    self.oversized = true;
                }
                self.body
                    .extend_from_slice(body.get(..room).unwrap_or(body));
                bytes = rest;
            }
            let (&b, rest) = match bytes.split_first() {
                Some(x) => x,
                None => break,
            };
            if let Some(ev) = self.feed(b) {
                out.extend(std::iter::once(ev));
            }
            bytes = rest;
        }
    }

    /// Feeds one byte; returns an event when one is complete.
    pub fn feed(&mut self, b: u8) -> Option<Event> {
        match self.state {
            State::Idle => match b {
                b'+' => Some(Event::Ack),
                b'-' => Some(Event::Nack),
                0x03 => Some(Event::Interrupt),
                b'$' => {
                    self.state = State::Body;
                    self.body.clear();
                    self.sum = 0;
                    self.oversized = false;
                    None
                }
                // Noise between packets is ignored, as gdb does.
                _ => None,
            },
            State::Body => {
                match b {
                    b'#' => self.state = State::Check1,
                    // A `$` inside a body means the previous packet was cut short: restart.
                    b'$' => {
                        self.body.clear();
                        self.sum = 0;
                        self.oversized = false;
                    }
                    _ => {
                        self.sum = self.sum.wrapping_add(b);
                        if self.body.len() < MAX_PACKET {
                            self.body.push(b);
                        } else {
                            self.oversized = true;
                        }
                    }
                }
                None
            }
            State::Check1 => match hex_digit(b) {
                Some(h) => {
                    self.state = State::Check2(h);
                    None
                }
                None => {
                    self.state = State::Idle;
                    Some(Event::BadChecksum {
                        expected: None,
                        computed: self.sum,
                    })
                }
            },
            State::Check2(hi) => {
                self.state = State::Idle;
                let Some(lo) = hex_digit(b) else {
                    return Some(Event::BadChecksum {
                        expected: None,
                        computed: self.sum,
                    });
                };
                let expected = (hi << 4) | lo;
                if self.oversized {
                    self.body = Vec::new();
                    Some(Event::Oversized)
                } else if expected == self.sum {
                    Some(Event::Packet(std::mem::take(&mut self.body)))
                } else {
                    Some(Event::BadChecksum {
                        expected: Some(expected),
                        computed: self.sum,
                    })
                }
            }
        }
    }
}

fn hex_digit(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// The modulo-256 sum of the body bytes.
pub fn checksum(body: &[u8]) -> u8 {
    body.iter().fold(0u8, |s, &b| s.wrapping_add(b))
}

/// Frames `body` as `$body#cs`. The body must already be escaped where it carries binary data.
pub fn encode(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 4);
    out.push(b'$');
    out.extend_from_slice(body);
    out.push(b'#');
    out.extend_from_slice(format!("{:02x}", checksum(body)).as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8]) -> Vec<Event> {
        let mut d = FrameDecoder::new();
        bytes.iter().filter_map(|&b| d.feed(b)).collect()
    }

    #[test]
    fn slice_feeding_matches_byte_feeding() {
        let stream = b"+$OK#9a-$abc$m00ff#c3\x03$OK#00+$x*!#";
        for split in 0..stream.len() {
            let mut d = FrameDecoder::new();
            let mut got = Vec::new();
            d.feed_slice(&stream[..split], &mut got);
            d.feed_slice(&stream[split..], &mut got);
            assert_eq!(got, decode_all(stream), "split at {split}");
        }
    }

    #[test]
    fn encodes_with_checksum() {
        assert_eq!(encode(b"OK"), b"$OK#9a");
        assert_eq!(encode(b""), b"$#00");
        assert_eq!(encode(b"qSupported"), b"$qSupported#37");
    }

    #[test]
    fn decodes_acks_packets_and_interrupts() {
        assert_eq!(
            decode_all(b"+$OK#9a-\x03"),
            vec![
                Event::Ack,
                Event::Packet(b"OK".to_vec()),
                Event::Nack,
                Event::Interrupt
            ]
        );
    }

    #[test]
    fn reports_bad_checksum_with_values() {
        assert_eq!(
            decode_all(b"$OK#00"),
            vec![Event::BadChecksum {
                expected: Some(0),
                computed: 0x9a
            }]
        );
        assert_eq!(
            decode_all(b"$OK#zz"),
            vec![Event::BadChecksum {
                expected: None,
                computed: 0x9a
            }]
        );
    }

    #[test]
    fn restarts_on_dollar_inside_body() {
        assert_eq!(
            decode_all(b"$garb$OK#9a"),
            vec![Event::Packet(b"OK".to_vec())]
        );
    }

    #[test]
    fn uppercase_checksum_digits_accepted() {
        assert_eq!(decode_all(b"$OK#9A"), vec![Event::Packet(b"OK".to_vec())]);
    }

    #[test]
    fn oversized_packet_is_dropped() {
        let mut bytes = vec![b'$'];
        bytes.extend(std::iter::repeat_n(b'a', MAX_PACKET + 10));
        let sum = checksum(&bytes[1..]);
        bytes.extend_from_slice(format!("#{sum:02x}").as_bytes());
        bytes.extend_from_slice(b"$OK#9a");
        assert_eq!(
            decode_all(&bytes),
            vec![Event::Oversized, Event::Packet(b"OK".to_vec())]
        );
    }
}
