//! CBOR bytes → `smp::cbor::Value`, under default and tight limits.
//!
//! Must never panic, hang or allocate without bound. For every value that decodes, its
//! diagnostic notation must print, and re-encoding must be stable: encoding the value, decoding
//! that and encoding again gives the same bytes, in both map styles.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smp::cbor::{self, Limits, MapStyle};

fuzz_target!(|data: &[u8]| {
    let tight = Limits { max_depth: 4, max_items: 64, max_string_len: 64, max_total: 256 };
    for limits in [Limits::default(), tight] {
        let _ = cbor::decode_prefix(data, &limits);
        let Ok(value) = cbor::decode_with(data, &limits) else { continue };
        let _ = value.to_string();
        for style in [MapStyle::Definite, MapStyle::Indefinite] {
            let once = cbor::encode(&value, style);
            let again = match cbor::decode(&once) {
                Ok(v) => v,
                Err(e) => panic!("re-encoded value does not decode: {e}\nvalue: {value}"),
            };
            assert_eq!(cbor::encode(&again, style), once, "encoding is not stable for {value}");
        }
    }
});
