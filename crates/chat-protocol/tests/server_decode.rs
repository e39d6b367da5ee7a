//! The compact server-frame decoder accepts exactly what the derived one accepts.

use chat_protocol::{ErrorCode, ServerFrame, decode_server_frame};

/// Both decoders on the same text: equal frames, or both refuse.
fn agree(text: &str) -> Option<ServerFrame> {
    let derived = serde_json::from_str::<ServerFrame>(text).ok();
    let compact = decode_server_frame(text).ok();
    assert_eq!(compact, derived, "decoders disagree on {text}");
    compact
}

#[test]
fn field_order_and_extra_fields_do_not_matter() {
    let frame = agree(
        r#"{"seq":7,"room":"lobby","ref":"r1","from":{"id":"u_1","name":"A","x":1},
            "id":"01J","text":"hi","ts":5,"future":[1,{"a":null}],"type":"message"}"#,
    )
    .expect("a message with its type last");
    let ServerFrame::Message {
        message,
        client_ref,
    } = frame
    else {
        panic!("not a message: {frame:?}");
    };
    assert_eq!((message.seq, message.text.as_str()), (7, "hi"));
    assert_eq!(client_ref.as_deref(), Some("r1"));
}

#[test]
fn an_escaped_type_is_still_recognised() {
    assert_eq!(
        agree(r#"{"type":"p\u006fng"}"#),
        Some(ServerFrame::Pong),
        "escapes in the tag"
    );
}

#[test]
fn a_field_of_another_frame_type_is_just_an_unknown_field() {
    assert_eq!(
        agree(r#"{"type":"pong","ref":5,"room":[]}"#),
        Some(ServerFrame::Pong)
    );
}

#[test]
fn optional_fields_default_to_none() {
    assert_eq!(
        agree(r#"{"type":"error","code":"rate_limited","message":"slow"}"#),
        Some(ServerFrame::error(ErrorCode::RateLimited, "slow", None))
    );
}

#[test]
fn malformed_frames_are_refused_by_both() {
    for text in [
        "",
        "null",
        "[]",
        r#""pong""#,
        "{}",
        r#"{"type":7}"#,
        r#"{"type":"welcome"}"#,
        r#"{"type":"shout","room":"lobby"}"#,
        r#"{"type":"message","room":"lobby","seq":-1,"id":"x","from":{"id":"u","name":"n"},"text":"t","ts":1}"#,
        r#"{"type":"system","room":"lobby","event":"wave","user":{"id":"u","name":"n"},"ts":1}"#,
        r#"{"type":"error","code":"nope","message":"m"}"#,
        r#"{"type":"left","room":5}"#,
        r#"{"type":"joined","room":"r","members":[],"history":[],"more":true}"#,
        r#"{"type":"presence","room":"r","joined":[],"left":[],"online":-1}"#,
        r#"{"type":"presence","room":"r","joined":[],"online":1}"#,
        r#"{"type":"left","room":"a","room":"b"}"#,
        r#"{"type":"pong","type":"pong"}"#,
        r#"{"type":"pong""#,
        r#"{"type":"message","room":"lobby","seq":1,"id":"x","from":{"id":"u","name":"n"},"text":"t","ts":1,"ref":5}"#,
    ] {
        assert_eq!(agree(text), None, "{text} should be refused");
    }
}

#[test]
fn an_unknown_type_names_the_known_ones() {
    let err = decode_server_frame(r#"{"type":"shout"}"#).expect_err("unknown type");
    let text = err.to_string();
    assert!(text.contains("shout") && text.contains("welcome"), "{text}");
}

/// Found by `cargo fuzz` (server_frame): a field repeated in a frame whose type does not
/// read it is ignored by the derived decoder, so it must be ignored here too; repeated
/// where the type reads it, both refuse.
#[test]
fn a_repeated_field_matters_only_where_the_type_reads_it() {
    assert_eq!(
        agree(r#"{"code":"a","code":"b","type":"pong"}"#),
        Some(ServerFrame::Pong)
    );
    assert_eq!(
        agree(r#"{"room":"a","room":"b","type":"left"}"#),
        None,
        "a repeated field of the frame's own type"
    );
    assert_eq!(
        agree(r#"{"type":"pong","type":"pong"}"#),
        None,
        "a repeated type"
    );
}
