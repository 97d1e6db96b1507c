//! Fuzzes the reading of returned mail: any bytes read as some kind of message (or nothing
//! readable), never a panic or a hang; the kept diagnostic stays one short line; and the
//! return paths it names are checked against a signature without panicking.

#![no_main]

use absage::bounces::parse::{REASON_CHARS, read};
use absage::domain::return_path;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    let returned = read(raw);
    if let Some(d) = &returned.diagnostic {
        assert!(d.chars().count() <= REASON_CHARS && !d.contains('\n'));
    }
    for address in &returned.addressed_to {
        let _ = return_path::recipient("bounces.kreis.test", "sixteen chars at least", address);
    }
});
