//! The browser app against the real server, in Debian's headless Chromium.
//!
//! Needs `dist/` (built by `trunk build --release`, which `just test` does first) and
//! `/usr/bin/chromium` + `/usr/bin/chromedriver` (which `.ci/run` installs).
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    Driver, Peer, SENT_BY_ME, TestServer, WAIT, click_text, count_text, enter, say, screenshot,
    wait_for_text, wait_until,
};
use fantoccini::Locator;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_chat_in_a_room() {
    let server = TestServer::start().await;
    let driver = Driver::start().await;
    let ada = driver.browser(390, 844).await;
    let bob = driver.browser(1280, 800).await;

    enter(&ada, &server.url(), "Ada", "lobby").await;
    enter(&bob, &server.url(), "Bob", "lobby").await;
    wait_for_text(&ada, ".notice", "Bob joined").await;
    wait_for_text(&bob, ".members .name", "Ada").await;

    say(&ada, "Hello Bob!").await;
    wait_for_text(&bob, ".message .text", "Hello Bob!").await;
    wait_for_text(&ada, ".message.mine .text", "Hello Bob!").await;

    // Typing shows on the other side.
    bob.find(Locator::Css("#message"))
        .await
        .unwrap()
        .send_keys("Hi")
        .await
        .unwrap();
    wait_for_text(&ada, ".typing", "Bob is typing…").await;
    bob.find(Locator::Css("#message"))
        .await
        .unwrap()
        .send_keys(" Ada, welcome!\u{E007}")
        .await
        .unwrap();
    wait_for_text(&ada, ".message .text", "Hi Ada, welcome!").await;

    // Markup in a message is text, never HTML.
    let attack = "<img src=x onerror=alert(1)>";
    say(&bob, attack).await;
    wait_for_text(&ada, ".message .text", attack).await;
    let images = ada.find_all(Locator::Css(".messages img")).await.unwrap();
    assert!(images.is_empty(), "the message was rendered as HTML");

    screenshot(&ada, "room-390x844").await;
    screenshot(&bob, "room-1280x800").await;

    // Bob closes his window: Ada sees him leave.
    bob.close().await.unwrap();
    wait_for_text(&ada, ".notice", "Bob left").await;
    ada.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_keeps_identity_rooms_and_history() {
    let server = TestServer::start().await;
    let driver = Driver::start().await;
    let ada = driver.browser(390, 844).await;
    enter(&ada, &server.url(), "Ada", "lobby").await;
    say(&ada, "before the reload").await;
    wait_for_text(&ada, ".message.mine .text", "before the reload").await;

    ada.refresh().await.unwrap();
    // No name dialog, the room rejoined, and the message is still this user's own.
    wait_for_text(&ada, ".room-title", "lobby").await;
    wait_for_text(&ada, ".message.mine .text", "before the reload").await;
    assert!(
        ada.find_all(Locator::Css("#name"))
            .await
            .unwrap()
            .is_empty()
    );
    ada.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_reconnects_after_a_server_restart_misses_nothing_and_sends_what_waited() {
    let server = TestServer::start().await;
    let driver = Driver::start().await;
    let ada = driver.browser(390, 844).await;
    enter(&ada, &server.url(), "Ada", "lobby").await;
    say(&ada, "first").await;
    wait_for_text(&ada, SENT_BY_ME, "first").await;

    let (addr, database) = server.stop().await;
    // The page notices: its status says it is offline and retrying.
    ada.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(".status.offline"))
        .await
        .unwrap();
    // Written while offline: shown as waiting, sent once the server is back.
    say(&ada, "written offline").await;
    wait_for_text(&ada, ".message.pending .text", "written offline").await;

    let server = TestServer::start_at(addr, database).await;
    // Someone else writes while the page is still waiting to reconnect.
    let mut bob = Peer::connect(addr, "Bob").await;
    bob.join("lobby").await;
    bob.say("lobby", "sent while you were away").await;
    wait_for_text(&ada, ".message .text", "sent while you were away").await;
    wait_for_text(&ada, ".status", "Online").await;

    // The queued message is confirmed on the page and stored once, as Ada's.
    wait_for_text(&ada, SENT_BY_ME, "written offline").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        count_text(&ada, ".message .text", "written offline").await,
        1
    );
    let history = Peer::connect(addr, "Cy").await.join("lobby").await;
    let copies: Vec<_> = history
        .iter()
        .filter(|m| m.text == "written offline")
        .collect();
    assert_eq!(copies.len(), 1, "stored {} times", copies.len());
    assert_eq!(copies[0].from.name, "Ada");
    drop(server);
    ada.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_one_screen_shows_at_a_time_with_a_way_back() {
    let server = TestServer::start().await;
    let driver = Driver::start().await;
    let phone = driver.browser(390, 844).await;
    let desk = driver.browser(1280, 800).await;
    let shown =
        |css: &str| format!("getComputedStyle(document.querySelector('{css}')).display != 'none'");
    let hidden =
        |css: &str| format!("getComputedStyle(document.querySelector('{css}')).display == 'none'");

    enter(&phone, &server.url(), "Pia", "lobby").await;
    wait_until(&phone, &hidden(".sidebar")).await;
    wait_until(&phone, &shown(".back")).await;
    click_text(&phone, ".back", "‹").await;
    wait_until(&phone, &shown(".sidebar")).await;
    wait_until(&phone, &hidden(".room")).await;
    screenshot(&phone, "phone-list-390x844").await;
    // The room is still joined: a tap on it comes back.
    click_text(&phone, ".rooms.joined .name", "lobby").await;
    wait_until(&phone, &shown(".room")).await;
    wait_until(&phone, &hidden(".sidebar")).await;

    // A wide window shows both, and no back control.
    enter(&desk, &server.url(), "Dev", "lobby").await;
    wait_until(&desk, &shown(".sidebar")).await;
    wait_until(&desk, &hidden(".back")).await;
    phone.close().await.unwrap();
    desk.close().await.unwrap();
}
