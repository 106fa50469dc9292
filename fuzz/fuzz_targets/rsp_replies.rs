//! Every RSP reply parser on the same input, raw and run-length expanded: none may panic, and
//! what they return must be consistent with the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmdb_bridge::rsp::encoding::{
    escape_binary, expand_rle, from_hex, from_hex_maybe, to_hex, unescape_binary,
};
use qmdb_bridge::rsp::monitor::console_output;
use qmdb_bridge::rsp::reply::{classify, Reply};
use qmdb_bridge::rsp::stop::{is_stop_reply, parse_stop};
use qmdb_bridge::rsp::supported::parse_features;
use qmdb_bridge::rsp::threads::{parse_thread_list, thread_id, ThreadListPage};
use qmdb_bridge::rsp::xfer::parse_page;
use qmdb_bridge::StopReason;

/// The longest expansion of one `*` group (`~` = 126 - 29 copies).
const MAX_RUN: usize = 126 - 29;

fn parse_all(body: &[u8]) {
    match classify(body) {
        Reply::Unsupported => assert!(body.is_empty()),
        Reply::Ok => assert_eq!(body, b"OK"),
        Reply::Error(_) => assert!(body.len() == 3 && body[0] == b'E'),
        Reply::Data(d) => assert_eq!(d, body),
    }

    if let Ok(stop) = parse_stop(body) {
        assert!(is_stop_reply(body), "parse_stop accepted a non-stop reply {body:?}");
        if let StopReason::Signal { thread: Some(id), .. } = stop {
            // A parsed thread id prints back in a form that parses to the same id.
            let text = id.to_rsp();
            let (rest, again) = thread_id(text.as_bytes()).expect("to_rsp() parses");
            assert!(rest.is_empty());
            assert_eq!(again, id);
        }
    }

    match parse_thread_list(body) {
        Ok(ThreadListPage::End) => assert_eq!(body, b"l"),
        Ok(ThreadListPage::More(ids)) => {
            assert!(body.first() == Some(&b'm'));
            assert!(!ids.is_empty());
            for id in ids {
                let text = id.to_rsp();
                let (rest, again) = thread_id(text.as_bytes()).expect("to_rsp() parses");
                assert!(rest.is_empty());
                assert_eq!(again, id);
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }

    if let Ok(f) = parse_features(body) {
        assert!(std::str::from_utf8(body).is_ok());
        for name in &f.enabled {
            assert!(f.has(name));
        }
    }

    if let Ok(page) = parse_page(body) {
        assert_eq!(page.last, body[0] == b'l');
        assert!(page.data.len() < body.len());
    }

    if let Some(text) = console_output(body) {
        assert!(body[0] == b'O' && body != b"OK");
        assert_eq!(text.len() * 2, body.len() - 1);
    }

    match from_hex(body) {
        Ok(bytes) => {
            assert_eq!(bytes.len() * 2, body.len());
            assert_eq!(to_hex(&bytes), String::from_utf8_lossy(body).to_ascii_lowercase());
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    match from_hex_maybe(body) {
        Ok(None) => assert!(!body.is_empty() && body.iter().all(|&b| b == b'x' || b == b'X')),
        Ok(Some(bytes)) => assert_eq!(Ok(bytes), from_hex(body)),
        Err(_) => assert!(from_hex(body).is_err()),
    }

    if let Ok(raw) = unescape_binary(body) {
        assert!(raw.len() <= body.len());
    }
}

fuzz_target!(|data: &[u8]| {
    parse_all(data);

    match expand_rle(data) {
        Ok(expanded) => {
            if !data.contains(&b'*') {
                assert_eq!(expanded, data);
            }
            assert!(expanded.len() <= data.len() * MAX_RUN);
            parse_all(&expanded);
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }

    // Encodings round-trip.
    assert_eq!(unescape_binary(&escape_binary(data)).as_deref(), Ok(data));
    assert_eq!(from_hex(to_hex(data).as_bytes()).as_deref(), Ok(data));
});
