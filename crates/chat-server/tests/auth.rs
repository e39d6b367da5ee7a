//! Sign-in over the real HTTP upgrade: JWTs (query or `Authorization: Bearer`),
//! Telegram initData, sessions in every mode, and a 401 with a plain-text reason for
//! each way a credential can fail.
#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::{ServerFrame, User};
use chat_server::auth::telegram::{sign_init_data, url_encode as encoded};
use chat_server::store::TelegramProfile;
use common::auth::{TEST_BOT_TOKEN, TEST_JWT_SECRET, jwt, jwt_with, unix_now};
use common::{Backend, Client, TestServer, WAIT};
use futures_util::StreamExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// What the server answered to a WebSocket upgrade request: status, head, body.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

/// Sends a complete, valid upgrade request for `/ws{query}` and reads the answer up to
/// the end of its head (and its body, for a refusal).
async fn upgrade(server: &TestServer, query: &str, headers: &[(&str, &str)]) -> Answer {
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let mut request = format!(
        "GET /ws{query} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
        server.addr
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(WAIT, stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        received.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
            let length: usize = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            if status == 101 || body.len() >= length {
                return Answer {
                    status,
                    head: head.to_owned(),
                    body: body.to_owned(),
                };
            }
        }
        assert!(n > 0, "connection closed before a full answer: {text}");
    }
}

/// Asserts a 401 whose plain-text body contains `why`.
async fn refused(server: &TestServer, query: &str, headers: &[(&str, &str)], why: &str) {
    let answer = upgrade(server, query, headers).await;
    assert_eq!(answer.status, 401, "{query}: {}", answer.body);
    assert!(
        answer.body.contains(why),
        "{query}: expected {why:?} in {:?}",
        answer.body
    );
    let head = answer.head.to_ascii_lowercase();
    assert!(head.contains("content-type: text/plain"), "{head}");
    assert!(head.contains("www-authenticate: bearer"), "{head}");
}

async fn jwt_server(backend: &Backend, allow_anonymous: Option<bool>) -> TestServer {
    TestServer::with(backend, |c| {
        c.jwt_secret = Some(TEST_JWT_SECRET.into());
        c.allow_anonymous = allow_anonymous;
    })
    .await
}

async fn telegram_server(backend: &Backend) -> TestServer {
    TestServer::with(backend, |c| {
        c.telegram_bot_token = Some(TEST_BOT_TOKEN.into());
    })
    .await
}

/// Connects with exactly `query` (no credential added) and reads the welcome.
async fn connect_as(server: &TestServer, query: &str) -> Client {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws{query}", server.addr))
        .await
        .unwrap();
    Client::welcomed(ws).await
}

fn init_data(user: &str, auth_date: i64) -> String {
    sign_init_data(
        TEST_BOT_TOKEN,
        &[
            ("query_id", "AAHdF6IQAAAAAN0XohDhrOrc"),
            ("user", user),
            ("auth_date", &auth_date.to_string()),
            ("signature", "c2lnbmF0dXJlLWZyb20tdGVsZWdyYW0"),
        ],
    )
}

const TG_USER: &str = r#"{"id":4242,"first_name":"Zo\u00eb","last_name":"Ünal","username":"zoe_secret_handle","photo_url":"https:\/\/t.me\/i\/userpic\/320\/zoe.svg","language_code":"en"}"#;

async fn jwt_refusals_say_why(backend: Backend) {
    let server = jwt_server(&backend, None).await;
    refused(&server, "", &[], "sign-in required: send a token").await;
    refused(&server, "?name=Ada", &[], "sign-in required").await;
    refused(&server, "?token=not-a-jwt", &[], "token: malformed").await;
    let expired = jwt_with(
        TEST_JWT_SECRET,
        json!({"sub": "ada", "name": "Ada", "exp": unix_now() - 3600}),
    );
    refused(&server, &format!("?token={expired}"), &[], "token: expired").await;
    let forged = jwt("another-secret", "ada", "Ada");
    refused(
        &server,
        &format!("?token={forged}"),
        &[],
        "token: bad signature",
    )
    .await;
    let no_name = jwt_with(
        TEST_JWT_SECRET,
        json!({"sub": "ada", "exp": unix_now() + 3600}),
    );
    refused(
        &server,
        &format!("?token={no_name}"),
        &[],
        "token: malformed",
    )
    .await;
    let bad_sub = jwt(TEST_JWT_SECRET, "has space", "Ada");
    refused(
        &server,
        &format!("?token={bad_sub}"),
        &[],
        "sub is not a valid user id",
    )
    .await;
    let reserved = jwt(TEST_JWT_SECRET, "tg_4242", "Not Telegram");
    refused(&server, &format!("?token={reserved}"), &[], "server's own").await;
    let bearer = format!("Bearer {forged}");
    refused(
        &server,
        "",
        &[("Authorization", &bearer)],
        "token: bad signature",
    )
    .await;
    // An unknown session is no credential.
    refused(&server, "?session=nope", &[], "sign-in required").await;
    // A refusal is not an upgrade: the server never switched protocols, and is fine.
    server.connect("After").await;
}

async fn a_jwt_in_the_query_or_the_header_signs_in(backend: Backend) {
    let server = jwt_server(&backend, None).await;
    let token = jwt(TEST_JWT_SECRET, "ada", "Ada Lovelace");
    let ada = connect_as(&server, &format!("?token={token}")).await;
    assert_eq!(
        ada.user,
        User {
            id: "ada".into(),
            name: "Ada Lovelace".into()
        }
    );
    let bob_token = jwt(TEST_JWT_SECRET, "bob", "Bob");
    let mut request = format!("ws://{}/ws", server.addr)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Authorization",
        format!("Bearer {bob_token}").parse().unwrap(),
    );
    let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let bob = Client::welcomed(ws).await;
    assert_eq!(bob.user.id, "bob");
    // Two devices of one signed-in user are one user: a second connection with a new
    // token for the same `sub` has the same id, with a session of its own.
    let again = connect_as(
        &server,
        &format!("?token={}", jwt(TEST_JWT_SECRET, "ada", "Ada Lovelace")),
    )
    .await;
    assert_eq!(again.user, ada.user);
    assert_ne!(
        again.session, ada.session,
        "a new device gets its own session"
    );
}

async fn a_session_resumes_a_signed_in_user_without_the_token(backend: Backend) {
    let server = jwt_server(&backend, None).await;
    let token = jwt(TEST_JWT_SECRET, "ada", "Ada");
    let ada = connect_as(&server, &format!("?token={token}")).await;
    let back = connect_as(&server, &format!("?session={}", ada.session)).await;
    assert_eq!(
        (back.user, back.session),
        (ada.user.clone(), ada.session.clone())
    );
    // With the token and the session, the session is kept, and a rename sticks.
    let renamed = connect_as(
        &server,
        &format!("?token={token}&session={}&name=Countess", ada.session),
    )
    .await;
    assert_eq!(renamed.session, ada.session);
    assert_eq!(renamed.user.name, "Countess");
    let later = connect_as(&server, &format!("?token={token}&session={}", ada.session)).await;
    assert_eq!(
        later.user.name, "Countess",
        "the person's own name choice wins"
    );
    // Someone else's session beside a token is not taken over: a fresh one is issued.
    let bob_token = jwt(TEST_JWT_SECRET, "bob", "Bob");
    let bob = connect_as(
        &server,
        &format!("?token={bob_token}&session={}", ada.session),
    )
    .await;
    assert_eq!(bob.user.id, "bob");
    assert_ne!(bob.session, ada.session);
}

async fn sessions_survive_a_restart_in_every_mode(backend: Backend) {
    let anonymous = TestServer::start(&backend).await;
    let mut guest = anonymous.connect("Guest").await;
    guest.join("lobby").await;
    anonymous.stop().await.unwrap();
    let signed = jwt_server(&backend, Some(false)).await;
    let token = jwt(TEST_JWT_SECRET, "ada", "Ada");
    let ada = connect_as(&signed, &format!("?token={token}")).await;
    signed.stop().await.unwrap();
    let restarted = jwt_server(&backend, Some(false)).await;
    // A session the server issued is a credential: the anonymous guest of before comes
    // back even though anonymous users are now refused, and so does Ada.
    let guest_back = connect_as(&restarted, &format!("?session={}", guest.session)).await;
    assert_eq!(guest_back.user, guest.user);
    let ada_back = connect_as(&restarted, &format!("?session={}", ada.session)).await;
    assert_eq!(ada_back.user, ada.user);
}

async fn anonymous_users_can_be_let_in_beside_tokens(backend: Backend) {
    let server = jwt_server(&backend, Some(true)).await;
    let guest = connect_as(&server, "?name=Guest").await;
    assert!(guest.user.id.starts_with("u_"), "{:?}", guest.user);
    // A token that fails is refused even so: whoever sent it meant to be someone.
    let forged = jwt("another-secret", "ada", "Ada");
    refused(
        &server,
        &format!("?token={forged}"),
        &[],
        "token: bad signature",
    )
    .await;
}

async fn with_no_secret_credentials_are_ignored_and_everyone_is_anonymous(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let token = jwt(TEST_JWT_SECRET, "ada", "Ada");
    let tg = init_data(TG_USER, unix_now());
    let client = connect_as(
        &server,
        &format!("?name=Plain&token={token}&tg={}", encoded(&tg)),
    )
    .await;
    assert!(client.user.id.starts_with("u_"));
    assert_eq!(client.user.name, "Plain");
}

async fn telegram_init_data_signs_in_and_keeps_the_profile_private(backend: Backend) {
    let server = telegram_server(&backend).await;
    let tg = init_data(TG_USER, unix_now() - 60);
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/ws?tg={}", server.addr, encoded(&tg)))
            .await
            .unwrap();
    let welcome = match tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
        Some(Ok(Message::Text(text))) => text.to_string(),
        other => panic!("{other:?}"),
    };
    assert!(
        !welcome.contains("zoe_secret_handle") && !welcome.contains("userpic"),
        "{welcome}"
    );
    let zoe = match serde_json::from_str::<ServerFrame>(&welcome).unwrap() {
        ServerFrame::Welcome { user, session, .. } => (user, session),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        zoe.0,
        User {
            id: "tg_4242".into(),
            name: "Zoë Ünal".into()
        }
    );
    // Others see the name only.
    let other_user = r#"{"id":77,"first_name":"Other"}"#;
    let mut other = connect_as(
        &server,
        &format!("?tg={}", encoded(&init_data(other_user, unix_now()))),
    )
    .await;
    other.join("lobby").await;
    let mut zoe_client = Client {
        ws,
        user: zoe.0.clone(),
        session: zoe.1.clone(),
        rooms: vec![],
        blocked: vec![],
    };
    zoe_client.join("lobby").await;
    let (_, notice) = recv_raw(&mut other).await;
    assert!(
        notice.contains("tg_4242") && !notice.contains("zoe_secret_handle"),
        "{notice}"
    );
    // What Telegram told about Zoë is stored (for the bot), under her id.
    let store = chat_server::store::open(&backend.url).await.unwrap();
    assert_eq!(
        store.telegram_profile("tg_4242").await.unwrap(),
        Some(TelegramProfile {
            telegram_id: 4242,
            username: Some("zoe_secret_handle".into()),
            photo_url: Some("https://t.me/i/userpic/320/zoe.svg".into()),
        })
    );
    // Telegram users are anonymous-free: a plain visitor is refused on this server.
    refused(&server, "?name=Plain", &[], "open the app from Telegram").await;
    // And the session brings Zoë back without initData.
    let back = connect_as(&server, &format!("?session={}", zoe.1)).await;
    assert_eq!(back.user.id, "tg_4242");
}

async fn telegram_refusals_say_why(backend: Backend) {
    let server = telegram_server(&backend).await;
    let genuine = init_data(TG_USER, unix_now());
    let tampered = genuine.replacen("4242", "4243", 1);
    refused(
        &server,
        &format!("?tg={}", encoded(&tampered)),
        &[],
        "bad signature",
    )
    .await;
    let stale = init_data(TG_USER, unix_now() - 25 * 3600);
    refused(&server, &format!("?tg={}", encoded(&stale)), &[], "expired").await;
    let (without_hash, _) = genuine.split_once("&hash=").unwrap();
    refused(
        &server,
        &format!("?tg={}", encoded(without_hash)),
        &[],
        "no hash",
    )
    .await;
    let twice = format!("user=x&{genuine}");
    refused(
        &server,
        &format!("?tg={}", encoded(&twice)),
        &[],
        "repeats a field",
    )
    .await;
    refused(&server, "?tg=", &[], "missing").await;
    // The age limit is a setting.
    let lenient = TestServer::with(&backend, |c| {
        c.telegram_bot_token = Some(TEST_BOT_TOKEN.into());
        c.telegram_max_age = std::time::Duration::from_secs(48 * 3600);
    })
    .await;
    let client = connect_as(&lenient, &format!("?tg={}", encoded(&stale))).await;
    assert_eq!(client.user.id, "tg_4242");
}

async fn api_me_explains_what_a_browser_cannot_see_of_a_refused_upgrade(backend: Backend) {
    let server = telegram_server(&backend).await;
    let genuine = init_data(TG_USER, unix_now());
    let (status, body) = server
        .get(&format!("/api/me?tg={}", encoded(&genuine)))
        .await;
    assert_eq!(status, 200, "{body}");
    let user: User = serde_json::from_str(&body).unwrap();
    assert_eq!(user.id, "tg_4242");
    assert!(!body.contains("zoe_secret_handle"), "{body}");
    let tampered = genuine.replacen("4242", "4243", 1);
    let (status, body) = server
        .get(&format!("/api/me?tg={}", encoded(&tampered)))
        .await;
    assert_eq!(
        (status, body.trim()),
        (401, "Telegram sign-in: bad signature")
    );
    let stale = init_data(TG_USER, unix_now() - 25 * 3600);
    let (status, body) = server.get(&format!("/api/me?tg={}", encoded(&stale))).await;
    assert_eq!(status, 401);
    assert!(body.contains("expired"), "{body}");
    let (status, body) = server.get("/api/me").await;
    assert_eq!(
        (status, body.trim()),
        (401, "sign-in required: open the app from Telegram")
    );
    // A session the socket handed out names its user too.
    let zoe = connect_as(&server, &format!("?tg={}", encoded(&genuine))).await;
    let (status, body) = server
        .get(&format!("/api/me?session={}", zoe.session))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("tg_4242"));
}

/// The next frame as raw text and parsed.
async fn recv_raw(client: &mut Client) -> (ServerFrame, String) {
    loop {
        match tokio::time::timeout(WAIT, client.ws.next()).await.unwrap() {
            Some(Ok(Message::Text(text))) => {
                let text = text.to_string();
                return (serde_json::from_str(&text).unwrap(), text);
            }
            Some(Ok(_)) => continue,
            other => panic!("{other:?}"),
        }
    }
}

on_each_database!(
    jwt_refusals_say_why,
    a_jwt_in_the_query_or_the_header_signs_in,
    a_session_resumes_a_signed_in_user_without_the_token,
    sessions_survive_a_restart_in_every_mode,
    anonymous_users_can_be_let_in_beside_tokens,
    with_no_secret_credentials_are_ignored_and_everyone_is_anonymous,
    telegram_init_data_signs_in_and_keeps_the_profile_private,
    telegram_refusals_say_why,
    api_me_explains_what_a_browser_cannot_see_of_a_refused_upgrade,
);
