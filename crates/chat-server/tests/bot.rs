//! The Telegram bot against a stand-in Bot API in the test process, which records every
//! call and answers as the Bot API does (a `429` with `retry_after`, a `403` for a user
//! who blocked the bot, when told to).
#![allow(clippy::unwrap_used)]

mod common;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use chat_server::auth::telegram::{sign_init_data, url_encode};
use common::{Backend, Client, TestServer, WAIT, http_request};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::Notify;

const BOT: &str = "4242:bot-test-token";
const SECRET: &str = "webhook-secret-for-tests";
const PUBLIC: &str = "https://chat.example";

/// The stand-in: records `(method, body)`, answers from a script, then `ok`.
#[derive(Default)]
struct StandIn {
    calls: Mutex<Vec<(String, Value)>>,
    script: Mutex<VecDeque<(StatusCode, Value)>>,
    settings: Mutex<std::collections::HashMap<String, Value>>,
    called: Notify,
}

impl StandIn {
    async fn start() -> (Arc<StandIn>, String) {
        let stand_in = Arc::new(StandIn::default());
        let router = axum::Router::new()
            .route("/{bot}/{method}", post(answer))
            .with_state(stand_in.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        (stand_in, url)
    }

    fn then_answer(&self, status: u16, body: Value) {
        self.script
            .lock()
            .unwrap()
            .push_back((StatusCode::from_u16(status).unwrap(), body));
    }

    /// Waits until `n` calls were made and returns them all.
    async fn calls(&self, n: usize) -> Vec<(String, Value)> {
        tokio::time::timeout(WAIT * 2, async {
            loop {
                let notified = self.called.notified();
                {
                    let calls = self.calls.lock().unwrap();
                    if calls.len() >= n {
                        return calls.clone();
                    }
                }
                notified.await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("never {n} Bot API calls"))
    }
}

async fn answer(
    State(stand_in): State<Arc<StandIn>>,
    Path((bot, method)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    assert_eq!(bot, format!("bot{BOT}"));
    // The answer is chosen before the call is recorded: a test that scripts the next
    // answer once it has seen a call must not have it given to that call.
    let scripted = stand_in.script.lock().unwrap().pop_front();
    let answer = match scripted {
        Some((status, body)) => (status, Json(body)),
        None => (
            StatusCode::OK,
            Json(json!({"ok": true, "result": stand_in.settings(&method, &body)})),
        ),
    };
    stand_in.calls.lock().unwrap().push((method, body));
    stand_in.called.notify_waiters();
    answer
}

impl StandIn {
    /// The Bot API's settings methods, remembered as Telegram remembers them (the
    /// webhook's secret is never shown back).
    fn settings(&self, method: &str, body: &Value) -> Value {
        let mut settings = self.settings.lock().unwrap();
        let mut set = |key: &str, value: Value| {
            settings.insert(key.to_owned(), value);
            json!(true)
        };
        match method {
            "setWebhook" => set(
                "webhook",
                json!({"url": body["url"], "allowed_updates": body["allowed_updates"], "pending_update_count": 0}),
            ),
            "setChatMenuButton" => set("menu", body["menu_button"].clone()),
            "setMyCommands" => set("commands", body["commands"].clone()),
            "getWebhookInfo" => settings
                .get("webhook")
                .cloned()
                .unwrap_or(json!({"url": "", "pending_update_count": 0})),
            "getChatMenuButton" => settings
                .get("menu")
                .cloned()
                .unwrap_or(json!({"type": "default"})),
            "getMyCommands" => settings.get("commands").cloned().unwrap_or(json!([])),
            _ => json!({"message_id": 1}),
        }
    }
}

async fn bot_server(backend: &Backend, api_url: &str) -> TestServer {
    let api_url = api_url.to_owned();
    TestServer::with(backend, move |c| {
        c.telegram_bot_token = Some(BOT.into());
        c.public_url = Some(PUBLIC.into());
        c.telegram_webhook_secret = Some(SECRET.into());
        c.telegram_api_url = api_url;
        c.allow_anonymous = Some(true);
    })
    .await
}

/// Posts an Update to the webhook, with `secret` in the header (or none): the status.
async fn post_update(addr: SocketAddr, secret: Option<&str>, update: &Value) -> u16 {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(secret) = secret {
        headers.push(("X-Telegram-Bot-Api-Secret-Token", secret));
    }
    http_request(
        addr,
        "POST",
        "/telegram/webhook",
        &headers,
        &update.to_string(),
    )
    .await
    .0
}

/// Waits until `/metrics` holds `line`.
async fn wait_for_metric(server: &TestServer, line: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_, metrics) = server.get("/metrics").await;
        if metrics.contains(line) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never {line}: {metrics}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

fn command(from: i64, text: &str) -> Value {
    json!({
        "update_id": 1,
        "message": {
            "message_id": 7,
            "from": {"id": from, "is_bot": false, "first_name": "Tess"},
            "chat": {"id": from, "type": "private"},
            "date": 1_700_000_000,
            "text": text,
        }
    })
}

fn button(call: &(String, Value)) -> String {
    assert_eq!(call.0, "sendMessage");
    call.1["reply_markup"]["inline_keyboard"][0][0]["web_app"]["url"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn the_webhook_needs_the_secret(backend: Backend) {
    let (stand_in, api) = StandIn::start().await;
    let server = bot_server(&backend, &api).await;
    assert_eq!(
        post_update(server.addr, None, &command(1, "/start")).await,
        401
    );
    assert_eq!(
        post_update(server.addr, Some("wrong"), &command(1, "/start")).await,
        401
    );
    // Nothing came of those: the first call the bot makes answers the next update.
    assert_eq!(
        post_update(server.addr, Some(SECRET), &command(1, "/help")).await,
        200
    );
    let calls = stand_in.calls(1).await;
    assert!(
        calls[0].1["text"].as_str().unwrap().contains("/mute"),
        "{calls:?}"
    );
    let (_, metrics) = server.get("/metrics").await;
    assert!(
        metrics.contains("chat_telegram_updates_total 1\n"),
        "{metrics}"
    );
}

async fn each_command_answers_with_a_button_to_the_app(backend: Backend) {
    let (stand_in, api) = StandIn::start().await;
    let server = bot_server(&backend, &api).await;
    let texts = [
        "/start",
        "/start lobby",
        "/chat",
        "/mute",
        "/help",
        "/unmute",
    ];
    for (n, text) in texts.iter().enumerate() {
        assert_eq!(
            post_update(server.addr, Some(SECRET), &command(9, text)).await,
            200
        );
        // One at a time, so the replies are in order.
        stand_in.calls(n + 1).await;
    }
    let calls = stand_in.calls(texts.len()).await;
    let urls: Vec<String> = calls.iter().map(button).collect();
    assert_eq!(
        urls,
        [
            "https://chat.example/",
            "https://chat.example/?startapp=lobby",
            "https://chat.example/?startapp=stranger",
            "https://chat.example/",
            "https://chat.example/",
            "https://chat.example/",
        ]
    );
    assert!(calls.iter().all(|(_, body)| body["chat_id"] == 9));
    assert!(calls[3].1["text"].as_str().unwrap().contains("off"));
    let store = chat_server::store::open(&backend.url).await.unwrap();
    let user = store.bot_user(9).await.unwrap().unwrap();
    assert!(user.started && !user.muted, "{user:?}");
}

async fn a_429_is_retried_after_retry_after(backend: Backend) {
    let (stand_in, api) = StandIn::start().await;
    let server = bot_server(&backend, &api).await;
    stand_in.then_answer(
        429,
        json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1",
               "parameters": {"retry_after": 1}}),
    );
    post_update(server.addr, Some(SECRET), &command(5, "/start")).await;
    let calls = stand_in.calls(2).await;
    assert_eq!(calls[0], calls[1], "the same call again");
    // Counted once the worker has the answer, just after the stand-in gave it.
    wait_for_metric(&server, "chat_telegram_calls_total{outcome=\"sent\"} 1\n").await;
}

async fn a_user_who_blocked_the_bot_is_remembered(backend: Backend) {
    let (stand_in, api) = StandIn::start().await;
    let server = bot_server(&backend, &api).await;
    let n = started(&server, &stand_in, &[901]).await;
    stand_in.then_answer(
        403,
        json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}),
    );
    post_update(server.addr, Some(SECRET), &command(6, "/start")).await;
    stand_in.calls(n + 1).await;
    wait_for_metric(
        &server,
        "chat_telegram_calls_total{outcome=\"unreachable\"} 1\n",
    )
    .await;
    // Not tried again: a message to them is not notified (the one after it is).
    let mut ada = server.known_user("Ada").await;
    gone_telegram_user(&server, 6, 1).await;
    gone_telegram_user(&server, 901, 1).await;
    ada.dm("tg_6", "are you there?", None).await;
    ada.dm("tg_901", "probe", None).await;
    let calls = stand_in.calls(n + 2).await;
    assert_eq!(calls[n + 1].1["chat_id"], 901, "{calls:?}");
    // Talking to the bot again makes them reachable again.
    post_update(server.addr, Some(SECRET), &command(6, "/help")).await;
    stand_in.calls(n + 3).await;
    ada.dm("tg_6", "now?", None).await;
    let calls = stand_in.calls(n + 4).await;
    assert_eq!(calls[n + 3].1["chat_id"], 6, "{calls:?}");
    assert_eq!(calls[n + 3].1["text"], "Ada: now?");
    wait_for_metric(
        &server,
        "chat_telegram_notifications_total{outcome=\"sent\"} 2\n",
    )
    .await;
    wait_for_metric(
        &server,
        "chat_telegram_notifications_total{outcome=\"suppressed\"} 1\n",
    )
    .await;
}

/// A Telegram user, signed in with initData for the test bot.
async fn telegram_user(server: &TestServer, id: i64, name: &str) -> Client {
    let user = format!(r#"{{"id":{id},"first_name":"{name}"}}"#);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let init_data = sign_init_data(BOT, &[("user", &user), ("auth_date", &now)]);
    server
        .connect_query(&format!("?tg={}", url_encode(&init_data)))
        .await
}

/// A Telegram user who has been in the app and closed it again.
async fn gone_telegram_user(server: &TestServer, id: i64, online_after: usize) {
    let client = telegram_user(server, id, &format!("T{id}")).await;
    drop(client);
    server.wait_for_connections(online_after).await;
}

async fn started(server: &TestServer, stand_in: &StandIn, ids: &[i64]) -> usize {
    let before = stand_in.calls.lock().unwrap().len();
    for id in ids {
        post_update(server.addr, Some(SECRET), &command(*id, "/start")).await;
    }
    stand_in.calls(before + ids.len()).await;
    before + ids.len()
}

async fn a_dm_to_an_offline_telegram_user_is_notified_once_until_they_come_back(backend: Backend) {
    let (stand_in, api) = StandIn::start().await;
    let server = bot_server(&backend, &api).await;
    let mut n = started(&server, &stand_in, &[901, 902]).await;
    let mut ada = server.known_user("Ada").await;
    gone_telegram_user(&server, 901, 1).await;
    gone_telegram_user(&server, 902, 1).await;
    for text in ["hello there", "are you there?", "hello?"] {
        ada.dm("tg_901", text, None).await;
    }
    // The notifier works in order: Zed's notification after Tess's proves there was one
    // for Tess, not three.
    ada.dm("tg_902", "probe", None).await;
    let calls = stand_in.calls(n + 2).await;
    assert_eq!(calls[n].1["chat_id"], 901);
    assert_eq!(calls[n].1["text"], "Ada: hello there");
    let room = chat_protocol::validate::direct_room(&ada.user.id, "tg_901");
    assert_eq!(
        button(&calls[n]),
        format!("{PUBLIC}/?startapp={}", url_encode(&room))
    );
    assert_eq!(calls[n + 1].1["chat_id"], 902, "{calls:?}");
    n += 2;
    // Tess opens the app and closes it: the next message is notified again.
    gone_telegram_user(&server, 901, 1).await;
    ada.dm("tg_901", "back again", None).await;
    let calls = stand_in.calls(n + 1).await;
    assert_eq!(calls[n].1["chat_id"], 901);
    assert_eq!(calls[n].1["text"], "Ada: back again");
}

async fn no_notification_while_online_muted_or_never_started(backend: Backend) {
    let (stand_in, api) = StandIn::start().await;
    let server = bot_server(&backend, &api).await;
    let n = started(&server, &stand_in, &[901, 902]).await;
    post_update(server.addr, Some(SECRET), &command(903, "/mute")).await;
    stand_in.calls(n + 1).await;
    let n = n + 1;
    let mut ada = server.known_user("Ada").await;
    let _tess_online = telegram_user(&server, 901, "Tess").await;
    gone_telegram_user(&server, 902, 2).await;
    gone_telegram_user(&server, 903, 2).await;
    gone_telegram_user(&server, 904, 2).await;
    for to in ["tg_901", "tg_903", "tg_904"] {
        ada.dm(to, "psst", None).await;
    }
    ada.dm("tg_902", "probe", None).await;
    let calls = stand_in.calls(n + 1).await;
    assert_eq!(calls[n].1["chat_id"], 902, "only the probe: {calls:?}");
    let (_, metrics) = server.get("/metrics").await;
    assert!(
        metrics.contains("chat_telegram_notifications_total{outcome=\"suppressed\"} 3\n"),
        "{metrics}"
    );
}

async fn a_stranger_is_notified_without_a_name_or_a_word(backend: Backend) {
    let (stand_in, api) = StandIn::start().await;
    let server = bot_server(&backend, &api).await;
    let n = started(&server, &stand_in, &[901]).await;
    let mut ada = server.known_user("Ada").await;
    let mut tess = telegram_user(&server, 901, "Tess").await;
    tess.queue(&[]).await;
    ada.queue(&[]).await;
    let pair = ada.matched().await;
    tess.matched().await;
    drop(tess);
    server.wait_for_connections(1).await;
    ada.say(&pair.room, "my secret words", None).await;
    let calls = stand_in.calls(n + 1).await;
    let body = &calls[n].1;
    assert_eq!(body["chat_id"], 901);
    assert_eq!(body["text"], "The stranger wrote to you.");
    let shown = body.to_string();
    assert!(
        !shown.contains("Ada") && !shown.contains("secret"),
        "{shown}"
    );
}

#[tokio::test]
async fn telegram_setup_sets_what_differs_and_a_second_run_changes_nothing() {
    let (stand_in, api_url) = StandIn::start().await;
    let api = chat_server::bot::api::BotApi::new(&api_url, BOT).unwrap();
    let first = chat_server::bot::setup::run(&api, PUBLIC, SECRET)
        .await
        .unwrap();
    let calls = stand_in.calls(6).await;
    let methods: Vec<&str> = calls.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(
        methods,
        [
            "getWebhookInfo",
            "setWebhook",
            "getChatMenuButton",
            "setChatMenuButton",
            "getMyCommands",
            "setMyCommands"
        ]
    );
    assert_eq!(calls[1].1["secret_token"], SECRET);
    assert!(
        calls[1].1["url"]
            .as_str()
            .unwrap()
            .starts_with("https://chat.example/telegram/webhook?v=")
    );
    assert_eq!(
        calls[3].1["menu_button"]["web_app"]["url"],
        "https://chat.example/"
    );
    assert!(first.iter().all(|line| line.contains("set")), "{first:?}");

    let second = chat_server::bot::setup::run(&api, PUBLIC, SECRET)
        .await
        .unwrap();
    let calls = stand_in.calls(9).await;
    let methods: Vec<&str> = calls[6..].iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(
        methods,
        ["getWebhookInfo", "getChatMenuButton", "getMyCommands"]
    );
    assert!(
        second.iter().all(|line| line.contains("already")),
        "{second:?}"
    );

    // A new secret is registered again (Telegram never shows the old one back).
    chat_server::bot::setup::run(&api, PUBLIC, "another-secret")
        .await
        .unwrap();
    let calls = stand_in.calls(13).await;
    assert_eq!(calls[10].0, "setWebhook");
    assert_eq!(calls[10].1["secret_token"], "another-secret");
}

async fn without_a_bot_the_webhook_is_not_there(backend: Backend) {
    let server = TestServer::start(&backend).await;
    assert_eq!(
        post_update(server.addr, Some(SECRET), &command(1, "/start")).await,
        404
    );
}

on_each_database!(
    the_webhook_needs_the_secret,
    each_command_answers_with_a_button_to_the_app,
    a_429_is_retried_after_retry_after,
    a_user_who_blocked_the_bot_is_remembered,
    without_a_bot_the_webhook_is_not_there,
    a_dm_to_an_offline_telegram_user_is_notified_once_until_they_come_back,
    no_notification_while_online_muted_or_never_started,
    a_stranger_is_notified_without_a_name_or_a_word,
);

/// With several nodes "online" is the cluster's: a Telegram user with the app open on
/// another node than the one that stores the message is not notified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_notification_while_online_on_another_node() {
    let Some(backend) = Backend::cluster_node().await else {
        return;
    };
    let (stand_in, api) = StandIn::start().await;
    let node_a = bot_server(&backend, &api).await;
    let node_b = bot_server(&backend, &api).await;
    let n = started(&node_a, &stand_in, &[901, 902]).await;
    let mut ada = node_a.known_user("Ada").await;
    let mut tess = telegram_user(&node_b, 901, "Tess").await;
    // Joining waits for this node's presence work in order, so Tess's being online
    // (queued first) is in Redis once `joined` comes.
    tess.join("lobby").await;
    gone_telegram_user(&node_a, 902, 1).await;
    ada.dm("tg_901", "psst", None).await;
    ada.dm("tg_902", "probe", None).await;
    let calls = stand_in.calls(n + 1).await;
    assert_eq!(calls[n].1["chat_id"], 902, "only the probe: {calls:?}");
    // And Tess got the message on her node (live, or in the history of the `joined`
    // her node's join brought, when that read came after the commit).
    let room = chat_protocol::validate::direct_room(&ada.user.id, "tg_901");
    tess.expect_text(&room, "psst").await;
}

/// With several nodes "told once" is the cluster's too: messages of one conversation
/// stored by two nodes (the sender has a tab on each) give one notification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_is_notified_once_whichever_nodes_store_it() {
    let Some(backend) = Backend::cluster_node().await else {
        return;
    };
    let (stand_in, api) = StandIn::start().await;
    let node_a = bot_server(&backend, &api).await;
    let node_b = bot_server(&backend, &api).await;
    let n = started(&node_a, &stand_in, &[901, 902]).await;
    let ada = node_a.known_user("Ada").await;
    let mut ada_here = ada;
    let mut ada_there = node_b
        .connect_query(&format!("?session={}", ada_here.session))
        .await;
    gone_telegram_user(&node_a, 901, 1).await;
    gone_telegram_user(&node_a, 902, 1).await;
    ada_here.dm("tg_901", "from one tab", None).await;
    // That one is told before Ada writes again: the next call is the notification.
    let calls = stand_in.calls(n + 1).await;
    assert_eq!(calls[n].1["text"], "Ada: from one tab");
    ada_there.dm("tg_901", "from the other", None).await;
    // The notifiers work in order, each on its node: the probe through node B comes
    // after any second notification B would have sent.
    ada_there.dm("tg_902", "probe", None).await;
    let calls = stand_in.calls(n + 2).await;
    assert_eq!(calls[n + 1].1["chat_id"], 902, "told once: {calls:?}");
}
