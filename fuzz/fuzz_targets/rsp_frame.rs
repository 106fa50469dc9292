//! `FrameDecoder`: byte-at-a-time `feed` and `feed_slice` over any split of the input must give
//! the same events, and every event must be well formed.
//!
//! Input layout: byte 0 = number of split points (mod 16), then two bytes per split point
//! (little-endian offsets into the stream, taken modulo its length), then the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmdb_bridge::rsp::frame::{checksum, encode, Event, FrameDecoder, MAX_PACKET};

/// Fed after any stream, this must leave the decoder resynchronised on a good `OK` packet,
/// whatever state the stream left it in (idle, in a body, or in either checksum digit).
const RESYNC: &[u8] = b"#00$OK#9a";

fn check_event(ev: &Event) {
    match ev {
        Event::Packet(body) => {
            assert!(body.len() <= MAX_PACKET, "packet body of {} bytes", body.len());
            assert!(!body.contains(&b'#'), "packet body contains '#': {body:?}");
            assert!(!body.contains(&b'$'), "packet body contains '$': {body:?}");
            // Re-framing the body gives exactly this packet back.
            let mut d = FrameDecoder::new();
            let mut again = Vec::new();
            d.feed_slice(&encode(body), &mut again);
            assert_eq!(again, vec![Event::Packet(body.clone())], "re-encoded {body:?}");
            assert!(d.is_idle());
            // And its checksum is what `encode` wrote.
            let cs = checksum(body);
            assert_eq!(&encode(body)[body.len() + 2..], format!("{cs:02x}").as_bytes());
        }
        Event::BadChecksum { .. } | Event::Ack | Event::Nack | Event::Interrupt => {}
        Event::Oversized => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 16);
    let (split_bytes, stream) = rest.split_at((n * 2).min(rest.len()));
    let mut splits: Vec<usize> = split_bytes
        .chunks_exact(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % (stream.len() + 1))
        .collect();
    splits.sort_unstable();

    // Reference: one byte at a time.
    let mut by_byte = FrameDecoder::new();
    let reference: Vec<Event> = stream.iter().filter_map(|&b| by_byte.feed(b)).collect();

    // The whole stream in one slice.
    let mut whole = FrameDecoder::new();
    let mut got_whole = Vec::new();
    whole.feed_slice(stream, &mut got_whole);
    assert_eq!(got_whole, reference, "feed_slice(whole) differs from feed()");
    assert_eq!(whole.is_idle(), by_byte.is_idle());

    // The stream cut at the fuzzer's split points (empty pieces included).
    let mut pieces = FrameDecoder::new();
    let mut got_pieces = Vec::new();
    let mut at = 0;
    for &s in &splits {
        pieces.feed_slice(&stream[at..s], &mut got_pieces);
        at = s;
    }
    pieces.feed_slice(&stream[at..], &mut got_pieces);
    assert_eq!(got_pieces, reference, "feed_slice at {splits:?} differs from feed()");
    assert_eq!(pieces.is_idle(), by_byte.is_idle());

    for ev in &reference {
        check_event(ev);
    }

    // Whatever state the stream left, the decoders recover on the next good packet.
    let tail_byte: Vec<Event> = RESYNC.iter().filter_map(|&b| by_byte.feed(b)).collect();
    let mut tail_slice = Vec::new();
    pieces.feed_slice(RESYNC, &mut tail_slice);
    assert_eq!(tail_slice, tail_byte);
    assert_eq!(
        tail_byte.last(),
        Some(&Event::Packet(b"OK".to_vec())),
        "no resync after {stream:?}: {tail_byte:?}"
    );
    assert!(by_byte.is_idle() && pieces.is_idle());
});
