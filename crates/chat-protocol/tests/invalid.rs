//! Every invalid input is refused with the error code PROTOCOL.md gives it.

use chat_protocol::validate::{self, MAX_NAME_CHARS, MAX_TEXT_CHARS};
use chat_protocol::{ErrorCode, RoomKind, decode_client_frame};

fn code_of(text: &str) -> ErrorCode {
    match decode_client_frame(text) {
        Ok(frame) => panic!("{text} decoded to {frame:?}"),
        Err(err) => err.code,
    }
}

#[test]
fn not_json_or_not_an_object_is_bad_frame() {
    for text in ["", "hello", "{", "[1,2]", "42", "null", r#""join""#] {
        assert_eq!(code_of(text), ErrorCode::BadFrame, "{text}");
    }
}

#[test]
fn missing_or_mistyped_type_is_bad_frame() {
    assert_eq!(code_of(r#"{"room":"lobby"}"#), ErrorCode::BadFrame);
    assert_eq!(code_of(r#"{"type":7}"#), ErrorCode::BadFrame);
}

#[test]
fn unknown_type_is_unknown_type() {
    assert_eq!(
        code_of(r#"{"type":"shout","room":"x"}"#),
        ErrorCode::UnknownType
    );
    assert_eq!(
        code_of(r#"{"type":"JOIN","room":"x"}"#),
        ErrorCode::UnknownType
    );
}

#[test]
fn missing_or_wrong_fields_are_bad_frame() {
    for text in [
        r#"{"type":"join"}"#,
        r#"{"type":"join","room":5}"#,
        r#"{"type":"join","room":"x","since":-1}"#,
        r#"{"type":"send","room":"x"}"#,
        r#"{"type":"typing","room":"x","active":"yes"}"#,
        r#"{"type":"history","room":"x"}"#,
        r#"{"type":"dm","text":"x"}"#,
    ] {
        assert_eq!(code_of(text), ErrorCode::BadFrame, "{text}");
    }
}

#[test]
fn history_limit_outside_1_to_200_is_bad_frame() {
    assert_eq!(
        code_of(r#"{"type":"history","room":"x","before":9,"limit":0}"#),
        ErrorCode::BadFrame
    );
    assert_eq!(
        code_of(r#"{"type":"history","room":"x","before":9,"limit":201}"#),
        ErrorCode::BadFrame
    );
    assert!(decode_client_frame(r#"{"type":"history","room":"x","before":9,"limit":200}"#).is_ok());
}

#[test]
fn bad_room_names_are_bad_room() {
    let long = "a".repeat(65);
    for room in [
        "",
        "-lobby",
        "_x",
        ".x",
        "has space",
        "emoji😀",
        "slash/x",
        long.as_str(),
        "~",
        "~lobby",
        "~dm.u_b.u_a",
        "~dm.u_a.u_a",
        "~dm.u_a",
        "~dm.u.a.b",
        "~pair.",
        "~pair.a.b",
    ] {
        let frame = serde_json::json!({"type": "join", "room": room}).to_string();
        assert_eq!(code_of(&frame), ErrorCode::BadRoom, "{room:?}");
    }
}

#[test]
fn good_room_names_are_classified() {
    assert_eq!(validate::room("a").map(|k| k.is_private()), Ok(false));
    assert!(validate::room(&"a".repeat(64)).is_ok());
    assert_eq!(
        validate::room("Rust.lang_fr-1").ok(),
        Some(RoomKind::Public)
    );
    assert_eq!(
        validate::room("~dm.u_a.u_b").ok(),
        Some(RoomKind::Direct { a: "u_a", b: "u_b" })
    );
    assert_eq!(
        validate::room("~pair.p9").ok(),
        Some(RoomKind::Pair { id: "p9" })
    );
    assert_eq!(validate::direct_room("u_b", "u_a"), "~dm.u_a.u_b");
}

#[test]
fn empty_text_is_empty_and_long_text_is_too_long() {
    assert_eq!(
        code_of(r#"{"type":"send","room":"x","text":"   \n\t "}"#),
        ErrorCode::Empty
    );
    let long = "é".repeat(MAX_TEXT_CHARS + 1);
    let frame = serde_json::json!({"type": "send", "room": "x", "text": long}).to_string();
    assert_eq!(code_of(&frame), ErrorCode::TooLong);
    // 4000 characters fit, counted in characters rather than bytes, after trimming.
    let fits = format!("  {}  ", "é".repeat(MAX_TEXT_CHARS));
    assert_eq!(validate::text(&fits).map(|t| t.chars().count()), Ok(4000));
    let dm = serde_json::json!({"type": "dm", "to": "u_b", "text": ""}).to_string();
    assert_eq!(code_of(&dm), ErrorCode::Empty);
}

#[test]
fn refusals_keep_a_valid_ref_so_clients_can_match_them() {
    let err = decode_client_frame(r#"{"type":"send","room":"x","text":" ","ref":"c-7"}"#)
        .expect_err("empty text");
    assert_eq!(
        (err.code, err.client_ref.as_deref()),
        (ErrorCode::Empty, Some("c-7"))
    );
    let err =
        decode_client_frame(r#"{"type":"send","room":"x","ref":"c-8"}"#).expect_err("missing text");
    assert_eq!(
        (err.code, err.client_ref.as_deref()),
        (ErrorCode::BadFrame, Some("c-8"))
    );
}

#[test]
fn overlong_ref_is_bad_frame() {
    let frame =
        serde_json::json!({"type": "send", "room": "x", "text": "hi", "ref": "r".repeat(65)})
            .to_string();
    let err = decode_client_frame(&frame).expect_err("long ref");
    assert_eq!(err.code, ErrorCode::BadFrame);
    assert_eq!(err.client_ref, None, "an invalid ref is not echoed");
}

#[test]
fn bad_dm_target_is_bad_frame() {
    let frame = serde_json::json!({"type": "dm", "to": "a.b", "text": "hi"}).to_string();
    assert_eq!(code_of(&frame), ErrorCode::BadFrame);
}

#[test]
fn display_names_follow_the_rules() {
    assert_eq!(validate::display_name("  Ada  "), Ok("Ada".to_owned()));
    assert!(validate::display_name(&"n".repeat(MAX_NAME_CHARS)).is_ok());
    assert!(validate::display_name(&"n".repeat(MAX_NAME_CHARS + 1)).is_err());
    assert!(validate::display_name("   ").is_err());
    assert!(validate::display_name("bell\u{7}").is_err());
    assert!(validate::display_name("two\nlines").is_err());
    assert_eq!(validate::display_name("Zoë 🚀"), Ok("Zoë 🚀".to_owned()));
}

/// Names that would pass for someone else's, or break the text around them: each refused
/// for its own reason.
#[test]
fn names_cannot_hide_or_reorder_characters() {
    let refused = [
        ("zero-width space", "Admin\u{200B}"),
        ("zero-width non-joiner", "Ad\u{200C}min"),
        ("lone zero-width joiner", "Admin\u{200D}"),
        ("word joiner", "Ad\u{2060}min"),
        ("byte order mark", "\u{FEFF}Admin"),
        ("soft hyphen", "Ad\u{AD}min"),
        ("right-to-left override", "\u{202E}nimdA"),
        ("left-to-right embedding", "\u{202A}Admin"),
        ("right-to-left isolate", "\u{2067}Admin"),
        ("right-to-left mark", "Admin\u{200F}"),
        ("Arabic letter mark", "Admin\u{61C}"),
        ("tag characters", "Admin\u{E0041}"),
        ("Hangul filler", "\u{3164}"),
        ("braille blank", "\u{2800}"),
        ("combining marks only", "\u{301}\u{301}"),
        ("no-break spaces only", "\u{A0}\u{A0}"),
        ("ideographic space only", "\u{3000}"),
    ];
    for (case, name) in refused {
        let refusal = validate::display_name(name).expect_err(case);
        assert_eq!(refusal.code, ErrorCode::BadFrame, "{case}");
    }
    let accepted = [
        ("emoji joined by ZWJ", "👩\u{200D}💻 Ada"),
        ("emoji with a variation selector", "❤\u{FE0F} Bo"),
        ("combining accent on a letter", "Zoe\u{301}"),
        ("right-to-left script", "مرحبا"),
        ("CJK", "李小龙"),
    ];
    for (case, name) in accepted {
        assert!(validate::display_name(name).is_ok(), "{case}");
    }
}

#[cfg(feature = "nfc")]
#[test]
fn names_are_normalized_to_nfc() {
    // "e" + combining acute becomes "é": the same name however the keyboard typed it.
    assert_eq!(
        validate::display_name("Zoe\u{301}"),
        Ok("Zo\u{E9}".to_owned())
    );
    // 32 decomposed letters are 64 code points, but 32 characters once composed.
    assert!(validate::display_name(&"e\u{301}".repeat(MAX_NAME_CHARS)).is_ok());
}

#[test]
fn message_text_refuses_control_characters_but_newline_and_tab() {
    for (case, text) in [
        ("NUL", "a\u{0}b"),
        ("escape sequence", "\u{1b}[2Jcleared"),
        ("carriage return", "a\rb"),
        ("bell", "ding\u{7}"),
        ("DEL", "a\u{7F}"),
        ("C1 control", "a\u{9B}b"),
    ] {
        let refusal = validate::text(text).expect_err(case);
        assert_eq!(refusal.code, ErrorCode::BadFrame, "{case}");
    }
    assert_eq!(
        validate::text("two\nlines\tand a tab"),
        Ok("two\nlines\tand a tab")
    );
}

#[test]
fn interests_are_at_most_five_short_tags_compared_without_case() {
    let tags = |list: &[&str]| list.iter().map(|t| t.to_string()).collect::<Vec<_>>();
    assert_eq!(
        validate::interests(&tags(&["Rust", "rust", "go-lang", "a_b"])),
        Ok(tags(&["rust", "go-lang", "a_b"]))
    );
    for (case, list) in [
        ("six tags", tags(&["a", "b", "c", "d", "e", "f"])),
        ("empty tag", tags(&[""])),
        ("space", tags(&["two words"])),
        ("33 characters", vec!["x".repeat(33)]),
        ("non-ASCII letter", tags(&["café"])),
    ] {
        let refusal = validate::interests(&list).expect_err(case);
        assert_eq!(refusal.code, ErrorCode::BadFrame, "{case}");
    }
    let frame = serde_json::json!({"type": "match", "interests": ["ok", "not ok"]}).to_string();
    assert_eq!(code_of(&frame), ErrorCode::BadFrame);
}

#[test]
fn block_needs_exactly_one_target_and_only_a_pair_room() {
    for (frame, code) in [
        (serde_json::json!({"type": "block"}), ErrorCode::BadFrame),
        (
            serde_json::json!({"type": "block", "user": "u_a", "room": "~pair.p"}),
            ErrorCode::BadFrame,
        ),
        (
            serde_json::json!({"type": "block", "user": "a.b"}),
            ErrorCode::BadFrame,
        ),
        (
            serde_json::json!({"type": "block", "room": "lobby"}),
            ErrorCode::BadRoom,
        ),
        (
            serde_json::json!({"type": "block", "room": "~dm.a.b"}),
            ErrorCode::BadRoom,
        ),
        (
            serde_json::json!({"type": "unblock", "user": ""}),
            ErrorCode::BadFrame,
        ),
    ] {
        assert_eq!(code_of(&frame.to_string()), code, "{frame}");
    }
}

#[test]
fn a_report_reason_is_1_to_500_characters_of_text() {
    assert_eq!(validate::report_reason("  spam  "), Ok("spam"));
    assert!(validate::report_reason(&"é".repeat(500)).is_ok());
    for (case, reason) in [
        ("empty", "   ".to_owned()),
        ("501 characters", "x".repeat(501)),
        ("control character", "a\u{1b}b".to_owned()),
    ] {
        let refusal = validate::report_reason(&reason).expect_err(case);
        assert_eq!(refusal.code, ErrorCode::BadFrame, "{case}");
    }
    let frame = serde_json::json!({"type": "report", "room": "lobby", "reason": "", "ref": "r"});
    let err = decode_client_frame(&frame.to_string()).expect_err("empty reason");
    assert_eq!(
        (err.code, err.client_ref.as_deref()),
        (ErrorCode::BadFrame, Some("r"))
    );
}
