//! Telegram initData: any string is answered (accepted or refused), never a panic; and
//! whatever fields Telegram could sign (any keys and values: `&`, `=`, `+`, `%`,
//! unicode), the string `sign_init_data` builds from them passes the signature check.
//! The input is read as lines of `key<TAB>value` for the second half.
#![no_main]

use chat_telegram::{TelegramRefusal, TelegramValidator, sign_init_data};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use std::time::Duration;

const BOT: &str = "123:fuzz";
const NOW: i64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let validator = TelegramValidator::new(BOT, Duration::from_secs(86_400));
    let _ = validator.validate(text, NOW);

    let mut fields = BTreeMap::new();
    for line in text.lines() {
        if let Some((key, value)) = line.split_once('\t')
            && !key.is_empty()
            && key != "hash"
        {
            fields.insert(key, value);
        }
    }
    let fields: Vec<(&str, &str)> = fields.into_iter().collect();
    let signed = sign_init_data(BOT, &fields);
    match validator.validate(&signed, NOW) {
        Err(TelegramRefusal::BadSignature) => panic!("signed data refused: {signed}"),
        Err(TelegramRefusal::DuplicateField | TelegramRefusal::NoHash) => {
            panic!("signed data misread: {signed}")
        }
        Err(TelegramRefusal::Malformed(why))
            if why.starts_with("hash") || why.starts_with("a field") =>
        {
            panic!("signed data misread ({why}): {signed}")
        }
        _ => {}
    }
});
