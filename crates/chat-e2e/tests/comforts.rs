//! The everyday comforts in the browser, each on its own: leaving a room, changing one's
//! name, the unread count in the title and the list, links and mentions, groups and day
//! separators, switching rooms from the keyboard, and an accessibility check of the main
//! screens (axe-core) with screenshots of a busy room.
#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::ServerFrame;
use common::{
    Driver, Peer, SENT_BY_ME, TempDir, TestServer, WAIT, before_every_page, click_text, enter,
    join_room, say, screenshot, script, texts, wait_for_text, wait_until,
};
use fantoccini::{Client, Locator};

/// Names in the list of joined rooms.
const JOINED: &str = ".rooms.joined .name";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_a_room_takes_it_off_the_list_for_good() {
    let server = TestServer::start().await;
    let mut bob = Peer::connect(server.addr, "Bob").await;
    bob.join("alpha").await;
    let driver = Driver::start().await;
    let ada = driver.browser(1280, 800).await;
    enter(&ada, &server.url(), "Ada", "zulu").await;
    join_room(&ada, "alpha").await;
    wait_for_text(&ada, ".room-title", "alpha").await;
    bob.until(|f| matches!(f, ServerFrame::System { user, .. } if user.name == "Ada"))
        .await;

    click_css(&ada, "[aria-label='Leave alpha']").await;
    // The server was told: Bob sees her go.
    bob.until(|f| {
        matches!(f, ServerFrame::System { event: chat_protocol::SystemEvent::Leave, user, .. } if user.name == "Ada")
    })
    .await;
    assert_eq!(texts(&ada, JOINED).await, ["zulu"]);
    wait_for_text(&ada, ".room-title", "zulu").await;

    // A reload rejoins the stored rooms in name order, in one go: once "zulu" is back,
    // "alpha" would have been answered before it.
    ada.goto(&server.url()).await.unwrap();
    wait_for_text(&ada, JOINED, "zulu").await;
    assert_eq!(texts(&ada, JOINED).await, ["zulu"], "alpha came back");

    // The room header's Leave does the same.
    click_text(&ada, ".room-head .leave", "Leave").await;
    wait_until(
        &ada,
        "document.querySelectorAll('.rooms.joined .name').length == 0",
    )
    .await;
    // The last room left stays left too (the stored list is then empty): after a reload
    // the page is connected with no room joined.
    ada.goto(&server.url()).await.unwrap();
    wait_for_text(&ada, ".status", "Online").await;
    wait_for_text(&ada, ".room.empty p", "Join a room to start chatting.").await;
    assert_eq!(
        script(&ada, "return localStorage.getItem('chat.rooms');").await,
        ""
    );
    ada.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_name_reaches_another_browser() {
    let server = TestServer::start().await;
    let driver = Driver::start().await;
    let ada = driver.browser(1280, 800).await;
    let bob = driver.browser(1280, 800).await;
    enter(&ada, &server.url(), "Ada", "lobby").await;
    enter(&bob, &server.url(), "Bob", "lobby").await;
    say(&ada, "before").await;
    wait_for_text(&bob, ".message .author", "Ada").await;

    click_css(&ada, ".profile summary").await;
    let field = ada.find(Locator::Css("#rename")).await.unwrap();
    // The server's rules, checked before anything is sent.
    field.send_keys("   ").await.unwrap();
    click_text(&ada, ".profile button", "Save").await;
    wait_for_text(&ada, ".profile .problem", "name is empty").await;
    field.clear().await.unwrap();
    field.send_keys("Ada Lovelace").await.unwrap();
    click_text(&ada, ".profile button", "Save").await;
    wait_for_text(&ada, ".profile summary", "Ada Lovelace").await;
    say(&ada, "after").await;
    wait_for_text(&bob, ".message .author", "Ada Lovelace").await;
    wait_for_text(&bob, ".members .name", "Ada Lovelace").await;
    // And it sticks: a reload comes back under the new name.
    ada.goto(&server.url()).await.unwrap();
    wait_for_text(&ada, ".profile summary", "Ada Lovelace").await;
    ada.close().await.unwrap();
    bob.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn news_in_another_room_shows_in_the_title_and_the_list_until_read() {
    let server = TestServer::start().await;
    let mut bob = Peer::connect(server.addr, "Bob").await;
    bob.join("news").await;
    let driver = Driver::start().await;
    let ada = driver.browser(1280, 800).await;
    enter(&ada, &server.url(), "Ada", "news").await;
    join_room(&ada, "other").await;
    wait_for_text(&ada, ".room-title", "other").await;
    assert_eq!(script(&ada, "return document.title;").await, "Chat");

    bob.say("news", "one").await;
    bob.say("news", "two").await;
    wait_until(&ada, "document.title == '(2) Chat'").await;
    let marked = "document.querySelectorAll('.rooms.joined button.unread').length";
    assert_eq!(script(&ada, &format!("return {marked};")).await, 1);
    wait_for_text(&ada, ".rooms.joined .unread .badge", "2").await;

    click_text(&ada, JOINED, "news").await;
    wait_until(&ada, &format!("document.title == 'Chat' && {marked} == 0")).await;
    ada.close().await.unwrap();
}

/// Stands in for the browser's notification service and page visibility, which headless
/// Chromium has no screen for: every notification the page raises is recorded in
/// `window.shown`, and `window.setHidden(bool)` hides or shows the page.
const FAKE_DESKTOP: &str = r#"
window.shown = [];
window.Notification = class {
  static permission = "default";
  static requestPermission() { window.Notification.permission = "granted"; return Promise.resolve("granted"); }
  constructor(title, options) { this.title = title; this.body = options.body; this.tag = options.tag; window.shown.push(this); }
  close() {}
};
Object.defineProperty(document, "hidden", { get: () => window.pageHidden === true });
window.setHidden = (hidden) => { window.pageHidden = hidden; document.dispatchEvent(new Event("visibilitychange")); };
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hidden_page_counts_and_notifies_private_messages_and_mentions() {
    let server = TestServer::start().await;
    let mut bob = Peer::connect(server.addr, "Bob").await;
    bob.join("lobby").await;
    let driver = Driver::start().await;
    let ada = driver.browser(1280, 800).await;
    before_every_page(&ada, FAKE_DESKTOP).await;
    enter(&ada, &server.url(), "Ada", "lobby").await;
    let ada_id = match bob
        .until(|f| matches!(f, ServerFrame::System { user, .. } if user.name == "Ada"))
        .await
    {
        ServerFrame::System { user, .. } => user.id,
        _ => unreachable!("until returns the frame it matched"),
    };
    // Turned on in the profile panel; the browser asks once.
    click_css(&ada, ".profile summary").await;
    click_css(&ada, ".profile input[type=checkbox]").await;
    wait_until(&ada, "localStorage.getItem('chat.notify') == 'on'").await;

    script(&ada, "window.setHidden(true); return true;").await;
    bob.say("lobby", "just chatting").await;
    bob.say("lobby", "@Ada have a look").await;
    // The open room is not being read while the page is hidden.
    wait_until(&ada, "document.title == '(2) Chat'").await;
    // In order: the plain message came first and raised nothing.
    assert_eq!(
        script(
            &ada,
            "return window.shown.map(n => [n.title, n.body, n.tag]);"
        )
        .await,
        serde_json::json!([["Bob in lobby", "@Ada have a look", "lobby"]])
    );

    bob.send(&chat_protocol::ClientFrame::Dm {
        to: ada_id,
        text: "psst".into(),
        client_ref: None,
    })
    .await;
    wait_until(&ada, "window.shown.length == 2").await;
    assert_eq!(
        script(
            &ada,
            "return [window.shown[1].title, window.shown[1].body];"
        )
        .await,
        serde_json::json!(["Bob", "psst"])
    );
    // A click opens the conversation; looking again reads it.
    script(
        &ada,
        "window.shown[1].onclick(); window.setHidden(false); return true;",
    )
    .await;
    wait_for_text(&ada, ".room-title", "Bob").await;
    wait_until(&ada, "document.title == '(2) Chat'").await;
    click_text(&ada, JOINED, "lobby").await;
    wait_until(&ada, "document.title == 'Chat'").await;
    ada.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_addresses_become_links_and_mentions_stand_out() {
    let server = TestServer::start().await;
    let mut bob = Peer::connect(server.addr, "Bob").await;
    bob.join("lobby").await;
    let driver = Driver::start().await;
    let ada = driver.browser(1280, 800).await;
    enter(&ada, &server.url(), "Ada", "lobby").await;
    bob.until(|f| matches!(f, ServerFrame::System { user, .. } if user.name == "Ada"))
        .await;
    bob.say(
        "lobby",
        "see https://example.com/a?b=1. not javascript:alert(1) nor <a href=\"https://x.org\">x</a> @ada and @Bob",
    )
    .await;
    wait_until(&ada, "document.querySelector('.message .text a')").await;
    let links = script(
        &ada,
        "return Array.from(document.querySelectorAll('.message .text a'), a => \
         [a.getAttribute('href'), a.target, a.rel, a.innerText]);",
    )
    .await;
    assert_eq!(
        links,
        serde_json::json!([
            [
                "https://example.com/a?b=1",
                "_blank",
                "noopener noreferrer",
                "https://example.com/a?b=1"
            ],
            [
                "https://x.org",
                "_blank",
                "noopener noreferrer",
                "https://x.org"
            ]
        ]),
        "only the two web addresses are links"
    );
    // Text is never HTML: the typed tag is shown as typed.
    let text = texts(&ada, ".message .text").await;
    assert!(
        text[0].contains("<a href=\"https://x.org\">x</a>"),
        "{text:?}"
    );
    assert_eq!(
        texts(&ada, ".message .text mark.mention.me").await,
        ["@ada"]
    );
    assert_eq!(
        texts(&ada, ".message .text mark.mention:not(.me)").await,
        ["@Bob"]
    );

    // Typing `@` offers the people here; Tab takes the first.
    let composer = ada.find(Locator::Css("#message")).await.unwrap();
    composer.send_keys("thanks @b").await.unwrap();
    wait_for_text(&ada, ".suggest button", "@Bob").await;
    composer.send_keys("\u{E004}").await.unwrap(); // Tab
    wait_until(
        &ada,
        "document.querySelector('#message').value == 'thanks @Bob '",
    )
    .await;
    wait_until(&ada, "!document.querySelector('.suggest')").await;
    ada.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_conversation_is_grouped_by_author_and_day() {
    let server = TestServer::start().await;
    let (addr, dir) = server.stop().await;
    let driver = Driver::start().await;
    let ada = driver.browser(1280, 800).await;
    // Noon today in the browser's time zone: a minute either side is the same day.
    let noon = script(
        &ada,
        "const d = new Date(); d.setHours(12, 0, 0, 0); return d.getTime();",
    )
    .await
    .as_i64()
    .unwrap();
    let day = 24 * 3_600_000;
    seed(
        &dir,
        "history",
        &[
            ("bob", "Bob", "three days ago", noon - 3 * day),
            ("bob", "Bob", "and a minute later", noon - 3 * day + 60_000),
            ("cy", "Cy", "hello Bob", noon - 3 * day + 120_000),
            ("bob", "Bob", "yesterday", noon - day),
            ("bob", "Bob", "today", noon),
            ("bob", "Bob", "still today, in the same minute", noon + 1),
        ],
    )
    .await;
    let server = TestServer::start_at(addr, dir).await;
    enter(&ada, &server.url(), "Ada", "history").await;
    wait_for_text(&ada, ".message .text", "still today, in the same minute").await;
    let shape = script(
        &ada,
        "return Array.from(document.querySelectorAll('.messages > *'), e => \
         e.classList.contains('day') ? 'day:' + e.innerText.trim() \
         : e.classList.contains('grouped') ? '+' \
         : e.querySelector('.author').innerText.trim());",
    )
    .await;
    let date = script(
        &ada,
        &format!(
            "return new Date({}).toLocaleDateString([], {{day: 'numeric', month: 'long', \
             year: new Date({0}).getFullYear() == new Date().getFullYear() ? undefined : 'numeric'}});",
            noon - 3 * day
        ),
    )
    .await;
    let date = date.as_str().unwrap();
    assert_eq!(
        shape,
        serde_json::json!([
            format!("day:{date}"),
            "Bob",
            "+",
            "Cy",
            "day:Yesterday",
            "Bob",
            "day:Today",
            "Bob",
            "+"
        ])
    );
    // Times are the reader's locale's, as the page formats them.
    let time = script(
        &ada,
        &format!("return new Date({noon}).toLocaleTimeString([], {{hour: '2-digit', minute: '2-digit'}});"),
    )
    .await;
    let times = texts(&ada, ".message time").await;
    assert_eq!(times.last().map(String::as_str), time.as_str());
    ada.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alt_arrows_switch_rooms_and_escape_closes_panels() {
    let server = TestServer::start().await;
    let driver = Driver::start().await;
    let ada = driver.browser(1280, 800).await;
    enter(&ada, &server.url(), "Ada", "aa").await;
    for room in ["bb", "cc"] {
        join_room(&ada, room).await;
        wait_for_text(&ada, ".room-title", room).await;
    }
    // A room that opens puts the cursor in its composer.
    wait_until(
        &ada,
        "document.activeElement && document.activeElement.id == 'message'",
    )
    .await;

    // From "cc": down wraps to "aa", down again "bb", up back to "aa".
    // U+E00A is Alt (held until U+E000 releases it), U+E015 Down, U+E013 Up.
    for (key, room) in [("\u{E015}", "aa"), ("\u{E015}", "bb"), ("\u{E013}", "aa")] {
        let composer = ada.find(Locator::Css("#message")).await.unwrap();
        composer
            .send_keys(&format!("\u{E00A}{key}\u{E000}"))
            .await
            .unwrap();
        wait_for_text(&ada, ".room-title", room).await;
        wait_until(
            &ada,
            "document.activeElement && document.activeElement.id == 'message'",
        )
        .await;
    }

    click_css(&ada, ".profile summary").await;
    wait_until(&ada, "document.querySelector('.profile').open").await;
    let field = ada.find(Locator::Css("#rename")).await.unwrap();
    field.send_keys("\u{E00C}").await.unwrap(); // Escape
    wait_until(&ada, "!document.querySelector('.profile').open").await;
    ada.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_main_screens_pass_an_accessibility_check() {
    let server = TestServer::start().await;
    let mut bob = Peer::connect(server.addr, "Bob").await;
    bob.join("lobby").await;
    for text in [
        "Morning all! The notes are at https://example.com/notes",
        "@Ada can you look at section 2?",
        "Also: the demo moved to 3 pm.",
    ] {
        bob.say("lobby", text).await;
    }
    let driver = Driver::start().await;
    for (width, height) in [(1280, 800), (390, 844)] {
        for dark in [false, true] {
            let ada = driver.browser(width, height).await;
            if dark {
                emulate_dark(&ada).await;
            }
            ada.goto(&server.url()).await.unwrap();
            ada.wait()
                .at_most(WAIT)
                .for_element(Locator::Css("#name"))
                .await
                .unwrap();
            assert_accessible(&ada, "the name dialog").await;
            enter(&ada, &server.url(), "Ada", "lobby").await;
            wait_for_text(&ada, ".message .text mark", "@Ada").await;
            say(&ada, "On it, thanks Bob").await;
            wait_for_text(&ada, SENT_BY_ME, "On it, thanks Bob").await;
            let scheme = if dark { "dark" } else { "light" };
            screenshot(&ada, &format!("busy-room-{width}x{height}-{scheme}")).await;
            assert_accessible(&ada, "a busy room").await;
            click_css(&ada, ".profile summary").await;
            assert_accessible(&ada, "the profile panel").await;
            ada.close().await.unwrap();
        }
    }
}

/// Runs axe-core (from npm) in the page and fails on any serious or critical violation.
async fn assert_accessible(browser: &Client, screen: &str) {
    let axe = common::workspace_dir().join("node_modules/axe-core/axe.min.js");
    let source = std::fs::read_to_string(&axe)
        .unwrap_or_else(|e| panic!("{}: {e} (just setup-web installs it)", axe.display()));
    browser
        .execute(&format!("{source}\nreturn true;"), vec![])
        .await
        .unwrap();
    let found = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] }).then(r => done(r.violations
               .filter(v => v.impact == 'serious' || v.impact == 'critical')
               .map(v => `${v.id} (${v.impact}): ${v.help}: ` +
                 v.nodes.map(n => n.target.join(' ') + ' ' + n.failureSummary).join('; '))));",
            vec![],
        )
        .await
        .unwrap();
    let violations: Vec<String> = serde_json::from_value(found).unwrap();
    assert!(violations.is_empty(), "{screen}: {}", violations.join("\n"));
}

/// Makes the page prefer the dark colour scheme (DevTools' media emulation).
async fn emulate_dark(browser: &Client) {
    let dark = serde_json::json!({"name": "prefers-color-scheme", "value": "dark"});
    common::devtools(
        browser,
        "Emulation.setEmulatedMedia",
        serde_json::json!({"features": [dark]}),
    )
    .await;
}

/// Clicks the first element matching `css`, once there is one.
async fn click_css(browser: &Client, css: &str) {
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Writes messages into a stopped server's database, with the times given: how a test
/// gets a history that spans days. Each is `(user id, name, text, ts)`.
async fn seed(dir: &TempDir, room: &str, messages: &[(&str, &str, &str, i64)]) {
    let url = format!("sqlite://{}", dir.path().join("chat.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    for (index, (user_id, name, text, ts)) in messages.iter().enumerate() {
        sqlx::query(
            "INSERT INTO messages (room, seq, id, user_id, user_name, text, ts) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(room)
        .bind(index as i64 + 1)
        .bind(format!("seeded-{index:04}"))
        .bind(user_id)
        .bind(name)
        .bind(text)
        .bind(ts)
        .execute(&pool)
        .await
        .unwrap();
    }
    let last = messages.last().map_or(0, |m| m.3);
    sqlx::query("INSERT INTO rooms (name, last_seq, last_ts) VALUES (?, ?, ?)")
        .bind(room)
        .bind(messages.len() as i64)
        .bind(last)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}
