//! Every frame round-trips, and the JSON shapes written in PROTOCOL.md decode as documented.

use chat_protocol::{
    ClientFrame, ErrorCode, Message, PrivateRoom, ServerFrame, SystemEvent, User,
    decode_client_frame, decode_server_frame,
};
use serde_json::json;

fn stranger(id: &str) -> User {
    User {
        id: id.into(),
        name: "Stranger".into(),
    }
}

fn alice() -> User {
    User {
        id: "u_alice".into(),
        name: "Alice".into(),
    }
}

fn message(seq: u64) -> Message {
    Message {
        room: "lobby".into(),
        seq,
        id: format!("01J00000000000000000000{seq:03}"),
        from: alice(),
        text: "hi".into(),
        ts: 1_700_000_000_000,
    }
}

fn all_client_frames() -> Vec<ClientFrame> {
    vec![
        ClientFrame::Join {
            room: "lobby".into(),
            since: None,
        },
        ClientFrame::Join {
            room: "lobby".into(),
            since: Some(7),
        },
        ClientFrame::Leave {
            room: "lobby".into(),
        },
        ClientFrame::Send {
            room: "lobby".into(),
            text: "hello".into(),
            client_ref: Some("r1".into()),
        },
        ClientFrame::Send {
            room: "lobby".into(),
            text: "hello".into(),
            client_ref: None,
        },
        ClientFrame::Typing {
            room: "lobby".into(),
            active: true,
        },
        ClientFrame::Dm {
            to: "u_bob".into(),
            text: "psst".into(),
            client_ref: Some("r2".into()),
        },
        ClientFrame::History {
            room: "lobby".into(),
            before: 100,
            limit: Some(20),
        },
        ClientFrame::History {
            room: "lobby".into(),
            before: 100,
            limit: None,
        },
        ClientFrame::Match { interests: vec![] },
        ClientFrame::Match {
            interests: vec!["rust".into(), "go".into()],
        },
        ClientFrame::Unmatch,
        ClientFrame::Block {
            user: Some("u_bob".into()),
            room: None,
            client_ref: Some("b1".into()),
        },
        ClientFrame::Block {
            user: None,
            room: Some("~pair.p1".into()),
            client_ref: None,
        },
        ClientFrame::Unblock {
            user: "u_bob".into(),
            client_ref: None,
        },
        ClientFrame::Report {
            room: "~pair.p1".into(),
            reason: "spam".into(),
            client_ref: Some("r3".into()),
        },
        ClientFrame::Ping,
    ]
}

fn all_server_frames() -> Vec<ServerFrame> {
    vec![
        ServerFrame::Welcome {
            user: alice(),
            session: "s3cr3t".into(),
            rooms: vec![PrivateRoom {
                room: "~dm.u_alice.u_bob".into(),
                peer: User {
                    id: "u_bob".into(),
                    name: "Bob".into(),
                },
                last_seq: 3,
                you: None,
                open: None,
            }],
            blocked: vec!["u_carol".into()],
        },
        ServerFrame::Welcome {
            user: alice(),
            session: "s3cr3t".into(),
            rooms: vec![PrivateRoom {
                room: "~pair.p1".into(),
                peer: stranger("anon_1"),
                last_seq: 0,
                you: Some(stranger("anon_2")),
                open: Some(true),
            }],
            blocked: vec![],
        },
        ServerFrame::Joined {
            room: "lobby".into(),
            members: vec![alice()],
            online: 1,
            history: vec![message(1), message(2)],
            more: false,
            recovered: Some(true),
            you: None,
        },
        ServerFrame::Joined {
            room: "~pair.p1".into(),
            members: vec![stranger("anon_1")],
            online: 1,
            history: vec![],
            more: false,
            recovered: None,
            you: Some(stranger("anon_2")),
        },
        ServerFrame::Joined {
            room: "lobby".into(),
            members: vec![],
            online: 0,
            history: vec![],
            more: true,
            recovered: None,
            you: None,
        },
        ServerFrame::Left {
            room: "lobby".into(),
        },
        ServerFrame::Message {
            message: message(5),
            client_ref: Some("r1".into()),
        },
        ServerFrame::Message {
            message: message(6),
            client_ref: None,
        },
        ServerFrame::System {
            room: "lobby".into(),
            event: SystemEvent::Join,
            user: alice(),
            ts: 5,
        },
        ServerFrame::System {
            room: "lobby".into(),
            event: SystemEvent::Leave,
            user: alice(),
            ts: 6,
        },
        ServerFrame::Presence {
            room: "lobby".into(),
            joined: vec![alice()],
            left: vec![stranger("anon_1")],
            online: 140,
        },
        ServerFrame::Typing {
            room: "lobby".into(),
            user: alice(),
            active: false,
        },
        ServerFrame::History {
            room: "lobby".into(),
            messages: vec![message(1)],
            more: true,
        },
        ServerFrame::Queued,
        ServerFrame::Unqueued,
        ServerFrame::Matched {
            room: "~pair.p1".into(),
            peer: stranger("anon_1"),
            you: stranger("anon_2"),
            common: vec!["rust".into()],
        },
        ServerFrame::Blocked {
            user: Some("u_bob".into()),
            room: None,
            client_ref: Some("b1".into()),
        },
        ServerFrame::Blocked {
            user: None,
            room: Some("~pair.p1".into()),
            client_ref: None,
        },
        ServerFrame::Unblocked {
            user: "u_bob".into(),
            client_ref: None,
        },
        ServerFrame::Reported {
            room: "~pair.p1".into(),
            client_ref: Some("r3".into()),
        },
        ServerFrame::Error {
            code: ErrorCode::RateLimited,
            message: "slow down".into(),
            client_ref: Some("r9".into()),
            retry_ms: Some(250),
        },
        ServerFrame::error(ErrorCode::BadFrame, "nope", None),
        ServerFrame::Pong,
    ]
}

#[test]
fn every_client_frame_round_trips() {
    for frame in all_client_frames() {
        let text = serde_json::to_string(&frame).expect("serialize");
        assert_eq!(decode_client_frame(&text), Ok(frame.clone()), "{text}");
        let back: ClientFrame = serde_json::from_str(&text).expect("deserialize");
        assert_eq!(back, frame);
    }
}

#[test]
fn every_server_frame_round_trips() {
    for frame in all_server_frames() {
        let text = serde_json::to_string(&frame).expect("serialize");
        let back: ServerFrame = serde_json::from_str(&text).expect("deserialize");
        assert_eq!(back, frame, "{text}");
        let compact = decode_server_frame(&text).expect("compact decoder");
        assert_eq!(compact, frame, "{text}");
    }
}

#[test]
fn every_error_code_round_trips_with_its_wire_name() {
    for code in ErrorCode::ALL {
        let value = serde_json::to_value(code).expect("serialize");
        assert_eq!(value, json!(code.as_str()));
        assert_eq!(serde_json::from_value::<ErrorCode>(value).ok(), Some(code));
    }
}

#[test]
fn client_shapes_from_the_protocol_decode() {
    let cases = [
        (
            json!({"type": "join", "room": "lobby", "since": 41}),
            ClientFrame::Join {
                room: "lobby".into(),
                since: Some(41),
            },
        ),
        (
            json!({"type": "send", "room": "lobby", "text": "hi", "ref": "c-1"}),
            ClientFrame::Send {
                room: "lobby".into(),
                text: "hi".into(),
                client_ref: Some("c-1".into()),
            },
        ),
        (
            json!({"type": "typing", "room": "lobby", "active": false}),
            ClientFrame::Typing {
                room: "lobby".into(),
                active: false,
            },
        ),
        (
            json!({"type": "dm", "to": "u_bob", "text": "yo"}),
            ClientFrame::Dm {
                to: "u_bob".into(),
                text: "yo".into(),
                client_ref: None,
            },
        ),
        (
            json!({"type": "history", "room": "lobby", "before": 51, "limit": 200}),
            ClientFrame::History {
                room: "lobby".into(),
                before: 51,
                limit: Some(200),
            },
        ),
        (
            json!({"type": "match"}),
            ClientFrame::Match { interests: vec![] },
        ),
        (
            json!({"type": "match", "interests": ["Rust", "rust", "go"]}),
            ClientFrame::Match {
                interests: vec!["Rust".into(), "rust".into(), "go".into()],
            },
        ),
        (
            json!({"type": "block", "room": "~pair.p1", "ref": "x"}),
            ClientFrame::Block {
                user: None,
                room: Some("~pair.p1".into()),
                client_ref: Some("x".into()),
            },
        ),
        (json!({"type": "unmatch"}), ClientFrame::Unmatch),
        (json!({"type": "ping"}), ClientFrame::Ping),
    ];
    for (value, expected) in cases {
        assert_eq!(decode_client_frame(&value.to_string()), Ok(expected));
    }
}

#[test]
fn server_message_shape_is_flat_with_ref_only_when_set() {
    let own = ServerFrame::Message {
        message: message(3),
        client_ref: Some("c-1".into()),
    };
    assert_eq!(
        serde_json::to_value(&own).expect("serialize"),
        json!({
            "type": "message", "room": "lobby", "seq": 3, "id": "01J00000000000000000000003",
            "from": {"id": "u_alice", "name": "Alice"}, "text": "hi", "ts": 1_700_000_000_000i64,
            "ref": "c-1"
        })
    );
    let other = ServerFrame::Message {
        message: message(3),
        client_ref: None,
    };
    let value = serde_json::to_value(&other).expect("serialize");
    assert!(value.get("ref").is_none(), "{value}");
}

#[test]
fn server_shapes_from_the_protocol_decode() {
    let system: ServerFrame = serde_json::from_value(json!({
        "type": "system", "room": "lobby", "event": "leave",
        "user": {"id": "u_1", "name": "x"}, "ts": 12
    }))
    .expect("system");
    assert_eq!(
        system,
        ServerFrame::System {
            room: "lobby".into(),
            event: SystemEvent::Leave,
            user: User {
                id: "u_1".into(),
                name: "x".into()
            },
            ts: 12
        }
    );
    let error: ServerFrame = serde_json::from_value(json!({
        "type": "error", "code": "not_joined", "message": "join first", "ref": "c-2"
    }))
    .expect("error");
    assert_eq!(
        error,
        ServerFrame::error(ErrorCode::NotJoined, "join first", Some("c-2".into()))
    );
    let joined: ServerFrame = serde_json::from_value(json!({
        "type": "joined", "room": "lobby", "members": [], "online": 0, "history": [], "more": false
    }))
    .expect("joined");
    assert!(matches!(
        joined,
        ServerFrame::Joined {
            recovered: None,
            ..
        }
    ));
}

#[test]
fn unknown_fields_are_ignored() {
    let frame = decode_client_frame(
        r#"{"type":"send","room":"lobby","text":"hi","future":{"x":1},"client":"cli/2"}"#,
    );
    assert_eq!(
        frame,
        Ok(ClientFrame::Send {
            room: "lobby".into(),
            text: "hi".into(),
            client_ref: None
        })
    );
    let pong: ServerFrame =
        serde_json::from_str(r#"{"type":"pong","server_time":1}"#).expect("pong");
    assert_eq!(pong, ServerFrame::Pong);
    let msg: ServerFrame = serde_json::from_value(json!({
        "type": "message", "room": "lobby", "seq": 3, "id": "x",
        "from": {"id": "u_alice", "name": "Alice", "avatar": "a.png"}, "text": "hi", "ts": 1,
        "edited": false
    }))
    .expect("message with extra fields");
    assert!(matches!(
        msg,
        ServerFrame::Message {
            client_ref: None,
            ..
        }
    ));
}

fn compact(value: serde_json::Value) -> Option<ServerFrame> {
    chat_protocol::frame_from_json(&value)
}

#[test]
fn the_compact_decoder_reads_every_frame_serde_writes() {
    for frame in all_server_frames() {
        let value = serde_json::to_value(&frame).expect("serialize");
        assert_eq!(compact(value.clone()), Some(frame), "{value}");
    }
}

#[test]
fn the_compact_decoder_refuses_what_serde_refuses() {
    for bad in [
        json!({"type": "left"}),
        json!({"type": "left", "room": 5}),
        json!({"type": "nope"}),
        json!({"room": "x"}),
        json!({"type": "message", "room": "r", "seq": 1.5, "id": "i", "from": {"id": "a", "name": "A"}, "text": "t", "ts": 1}),
        json!({"type": "message", "room": "r", "seq": -1, "id": "i", "from": {"id": "a", "name": "A"}, "text": "t", "ts": 1}),
        json!({"type": "system", "room": "r", "event": "wave", "user": {"id": "a", "name": "A"}, "ts": 1}),
        json!({"type": "error", "code": "no_such_code", "message": "m"}),
        json!({"type": "joined", "room": "r", "members": [], "online": 0, "history": [], "more": true, "you": 3}),
        json!({"type": "joined", "room": "r", "members": [], "history": [], "more": true}),
        json!({"type": "presence", "room": "r", "joined": [], "left": [], "online": -1}),
        json!({"type": "presence", "room": "r", "joined": [{"id": "a"}], "left": [], "online": 1}),
        json!([1, 2]),
    ] {
        assert!(
            serde_json::from_value::<ServerFrame>(bad.clone()).is_err(),
            "serde accepts {bad}"
        );
        assert_eq!(compact(bad.clone()), None, "{bad}");
    }
    // Optional fields may be null or missing, as for serde.
    let joined = json!({"type": "joined", "room": "r", "members": [], "online": 0, "history": [], "more": false, "recovered": null});
    assert_eq!(
        compact(joined.clone()),
        Some(serde_json::from_value(joined).expect("serde reads it"))
    );
}

#[test]
fn room_lists_decode_compactly() {
    let rooms = vec![
        chat_protocol::RoomSummary {
            room: "lobby".into(),
            online: 3,
            last_seq: 10,
            last_ts: Some(1_700_000_000_000),
        },
        chat_protocol::RoomSummary {
            room: "new".into(),
            online: 1,
            last_seq: 0,
            last_ts: None,
        },
    ];
    let value = serde_json::to_value(&rooms).expect("serialize");
    assert_eq!(chat_protocol::rooms_from_json(&value), Some(rooms));
}

#[test]
fn client_frames_write_the_same_json_as_serde() {
    let mut frames = all_client_frames();
    frames.push(ClientFrame::Send {
        room: "r".into(),
        text:
            "quotes \" backslash \\ newline \n tab \t bell \u{7} bs \u{8} ff \u{c} é 😀 </script>"
                .into(),
        client_ref: None,
    });
    for frame in frames {
        let expected = serde_json::to_string(&frame).expect("serialize");
        assert_eq!(frame.to_json(), expected);
    }
}
