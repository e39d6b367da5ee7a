//! The validator against initData built here with a test bot token, against vectors
//! published by two independent implementations, and one test per refusal.

use super::*;

const BOT: &str = "123456:TEST-bot-token_for-unit-tests";
const DAY: Duration = Duration::from_secs(24 * 60 * 60);
const NOW: i64 = 1_780_000_000;

/// A `user` field as Telegram sends it: JSON with `\/` escapes, `\u` escapes, raw
/// unicode and quotes, which a validator that re-serializes it would change.
const USER: &str = r#"{"id":279058397,"first_name":"Zo\u00eb \"Z\" +?&=","last_name":"Ünal 😀","username":"zoe","language_code":"en","allows_write_to_pm":true,"photo_url":"https:\/\/t.me\/i\/userpic\/320\/zoe.svg"}"#;

fn validator() -> TelegramValidator {
    TelegramValidator::new(BOT, DAY)
}

fn auth_date(at: i64) -> String {
    at.to_string()
}

fn genuine() -> String {
    let date = auth_date(NOW - 60);
    sign_init_data(
        BOT,
        &[
            ("query_id", "AAHdF6IQAAAAAN0XohDhrOrc"),
            ("user", USER),
            ("auth_date", &date),
            (
                "signature",
                "TYJxVcisqbWjtodPepiJ6ghziUL94-KNpG8Pau-X7oNNLNBM72APCpi_RKiUlBvcqo5L-LAxIc3dnTzcZX_PDg",
            ),
        ],
    )
}

#[test]
fn genuine_data_gives_the_user_as_sent() {
    let data = validator().validate(&genuine(), NOW).expect("valid");
    assert_eq!(data.auth_date, NOW - 60);
    assert_eq!(
        data.user,
        TelegramUser {
            id: 279_058_397,
            first_name: Some("Zoë \"Z\" +?&=".into()),
            last_name: Some("Ünal 😀".into()),
            username: Some("zoe".into()),
            photo_url: Some("https://t.me/i/userpic/320/zoe.svg".into()),
        }
    );
}

/// Published with init-data-golang: a real client's data with `signature`, a `+` and
/// `\/` in the name and `\/` in `photo_url`.
#[test]
fn a_vector_with_signature_from_another_implementation_passes() {
    let init_data = "user=%7B%22id%22%3A279058397%2C%22first_name%22%3A%22Vladislav%20%2B%20-%20%3F%20%5C%2F%22%2C%22last_name%22%3A%22Kibenko%22%2C%22username%22%3A%22vdkfrost%22%2C%22language_code%22%3A%22ru%22%2C%22is_premium%22%3Atrue%2C%22allows_write_to_pm%22%3Atrue%2C%22photo_url%22%3A%22https%3A%5C%2F%5C%2Ft.me%5C%2Fi%5C%2Fuserpic%5C%2F320%5C%2F4FPEE4tmP3ATHa57u6MqTDih13LTOiMoKoLDRG4PnSA.svg%22%7D&chat_instance=8134722200314281151&chat_type=private&auth_date=1733509682&signature=TYJxVcisqbWjtodPepiJ6ghziUL94-KNpG8Pau-X7oNNLNBM72APCpi_RKiUlBvcqo5L-LAxIc3dnTzcZX_PDg&hash=a433d8f9847bd6addcc563bff7cc82c89e97ea0d90c11fe5729cae6796a36d73";
    let validator = TelegramValidator::new("7342037359:AAHI25ES9xCOMPokpYoz-p8XVrZUdygo2J4", DAY);
    let data = validator
        .validate(init_data, 1_733_509_682 + 10)
        .expect("valid");
    assert_eq!(data.user.first_name.as_deref(), Some("Vladislav + - ? /"));
    assert_eq!(
        data.user.photo_url.as_deref(),
        Some("https://t.me/i/userpic/320/4FPEE4tmP3ATHa57u6MqTDih13LTOiMoKoLDRG4PnSA.svg")
    );
    // Without its `signature` the same data no longer matches its hash: a validator that
    // drops the field would refuse every newer client.
    let unsigned = init_data.replace(
        "&signature=TYJxVcisqbWjtodPepiJ6ghziUL94-KNpG8Pau-X7oNNLNBM72APCpi_RKiUlBvcqo5L-LAxIc3dnTzcZX_PDg",
        "",
    );
    assert_eq!(
        validator.validate(&unsigned, 1_733_509_682 + 10),
        Err(TelegramRefusal::BadSignature)
    );
}

/// Published with a Java validator: data from before `signature` existed.
#[test]
fn a_vector_without_signature_from_another_implementation_passes() {
    let init_data = "query_id=AAHdF6IQAAAAAN0XohDhrOrc&user=%7B%22id%22%3A279058397%2C%22first_name%22%3A%22Vladislav%22%2C%22last_name%22%3A%22Kibenko%22%2C%22username%22%3A%22vdkfrost%22%2C%22language_code%22%3A%22ru%22%2C%22is_premium%22%3Atrue%7D&auth_date=1662771648&hash=c501b71e775f74ce10e377dea85a7ea24ecd640b223ea86dfe453e0eaed2e2b2";
    let validator = TelegramValidator::new("5768337691:AAH5YkoiEuPk8-FZa32hStHTqXiLPtAEhx8", DAY);
    let data = validator.validate(init_data, 1_662_771_648).expect("valid");
    assert_eq!(data.user.id, 279_058_397);
    assert_eq!(data.user.username.as_deref(), Some("vdkfrost"));
}

#[test]
fn the_order_of_fields_as_sent_does_not_matter() {
    let date = auth_date(NOW);
    let one = sign_init_data(BOT, &[("auth_date", &date), ("user", USER), ("a", "1")]);
    let two = sign_init_data(BOT, &[("user", USER), ("a", "1"), ("auth_date", &date)]);
    assert!(validator().validate(&one, NOW).is_ok());
    assert!(validator().validate(&two, NOW).is_ok());
}

#[test]
fn a_re_serialized_user_breaks_the_hash() {
    // What a validator that parses `user` and writes it back would check: same meaning,
    // different bytes (`\/` and `\u00eb` gone). Telegram signed the original.
    let reserialized =
        serde_json::to_string(&serde_json::from_str::<serde_json::Value>(USER).expect("json"))
            .expect("json");
    assert_ne!(reserialized, USER);
    let date = auth_date(NOW);
    let signed_original = sign_init_data(BOT, &[("user", USER), ("auth_date", &date)]);
    let sent_reserialized = signed_original.replace(&url_encode(USER), &url_encode(&reserialized));
    assert_ne!(sent_reserialized, signed_original);
    assert_eq!(
        validator().validate(&sent_reserialized, NOW),
        Err(TelegramRefusal::BadSignature)
    );
}

#[test]
fn a_field_added_after_signing_is_refused() {
    // No hard-coded list of fields: an unknown one is covered by the hash like any other.
    let tampered = genuine().replacen("&hash=", "&start_param=admin&hash=", 1);
    assert_eq!(
        validator().validate(&tampered, NOW),
        Err(TelegramRefusal::BadSignature)
    );
}

#[test]
fn a_changed_user_is_refused() {
    let tampered = genuine().replacen("279058397", "279058398", 1);
    assert_eq!(
        validator().validate(&tampered, NOW),
        Err(TelegramRefusal::BadSignature)
    );
}

#[test]
fn another_bots_data_is_refused() {
    let other = TelegramValidator::new("654321:another-bot", DAY);
    assert_eq!(
        other.validate(&genuine(), NOW),
        Err(TelegramRefusal::BadSignature)
    );
}

#[test]
fn a_dropped_signature_field_is_refused() {
    let date = auth_date(NOW);
    let signed = sign_init_data(
        BOT,
        &[
            ("user", USER),
            ("auth_date", &date),
            ("signature", "c2lnbmVk"),
        ],
    );
    let dropped = signed.replacen("&signature=c2lnbmVk", "", 1);
    assert_ne!(dropped, signed);
    assert_eq!(
        validator().validate(&dropped, NOW),
        Err(TelegramRefusal::BadSignature)
    );
}

#[test]
fn a_missing_hash_is_refused() {
    let genuine = genuine();
    let (without, _) = genuine.split_once("&hash=").expect("hash last");
    assert_eq!(
        validator().validate(without, NOW),
        Err(TelegramRefusal::NoHash)
    );
}

#[test]
fn a_repeated_field_is_refused() {
    let genuine = genuine();
    let (fields, _) = genuine.split_once("&hash=").expect("hash last");
    let repeated = format!("user=%7B%22id%22%3A1%7D&{}", genuine);
    assert_eq!(
        validator().validate(&repeated, NOW),
        Err(TelegramRefusal::DuplicateField)
    );
    let two_hashes = format!("{genuine}&hash=00");
    assert_eq!(
        validator().validate(&two_hashes, NOW),
        Err(TelegramRefusal::DuplicateField)
    );
    assert!(!fields.is_empty());
}

#[test]
fn expired_data_is_refused() {
    let date = auth_date(NOW - 24 * 60 * 60 - 1);
    let old = sign_init_data(BOT, &[("user", USER), ("auth_date", &date)]);
    assert_eq!(
        validator().validate(&old, NOW),
        Err(TelegramRefusal::Expired)
    );
    // The maximum age is a setting.
    let lenient = TelegramValidator::new(BOT, 2 * DAY);
    assert!(lenient.validate(&old, NOW).is_ok());
}

#[test]
fn data_from_the_future_is_refused() {
    let date = auth_date(NOW + 3600);
    let future = sign_init_data(BOT, &[("user", USER), ("auth_date", &date)]);
    assert_eq!(
        validator().validate(&future, NOW),
        Err(TelegramRefusal::FromTheFuture)
    );
    let skewed = sign_init_data(BOT, &[("user", USER), ("auth_date", &auth_date(NOW + 30))]);
    assert!(
        validator().validate(&skewed, NOW).is_ok(),
        "small clock skew"
    );
}

#[test]
fn data_without_a_user_is_refused() {
    let date = auth_date(NOW);
    let anonymous = sign_init_data(BOT, &[("auth_date", &date), ("chat_type", "sender")]);
    assert_eq!(
        validator().validate(&anonymous, NOW),
        Err(TelegramRefusal::NoUser)
    );
}

#[test]
fn empty_data_is_missing() {
    assert_eq!(validator().validate("", NOW), Err(TelegramRefusal::Missing));
}

#[test]
fn malformed_data_is_refused_with_the_reason() {
    let cases: &[(&str, &str)] = &[
        ("user=1&hash=xyz", "hash is not 64 hex digits"),
        ("user=1&hash=abcd", "hash is not 64 hex digits"),
        ("user&hash=00", "a field has no value"),
        ("=1&hash=00", "a field has no name"),
        ("user=%FF&hash=00", "a field is not UTF-8"),
    ];
    for (data, why) in cases {
        assert_eq!(
            validator().validate(data, NOW),
            Err(TelegramRefusal::Malformed(why)),
            "{data}"
        );
    }
    let date = auth_date(NOW);
    let no_date = sign_init_data(BOT, &[("user", USER)]);
    assert_eq!(
        validator().validate(&no_date, NOW),
        Err(TelegramRefusal::Malformed("no auth_date"))
    );
    let bad_user = sign_init_data(BOT, &[("user", "{\"id\":\"x\"}"), ("auth_date", &date)]);
    assert_eq!(
        validator().validate(&bad_user, NOW),
        Err(TelegramRefusal::Malformed(
            "user is not a Telegram user object"
        ))
    );
}

#[test]
fn a_hash_in_capitals_still_matches() {
    // Hex is case-insensitive; the bytes are compared, not the text.
    let genuine = genuine();
    let (fields, hash) = genuine.split_once("&hash=").expect("hash last");
    let upper = format!("{fields}&hash={}", hash.to_uppercase());
    assert!(validator().validate(&upper, NOW).is_ok());
}

#[test]
fn the_secret_is_not_printed() {
    let shown = format!("{:?}", validator());
    assert!(!shown.contains("secret"), "{shown}");
}
