//! The timeline in the browser: paging back through a long history, the "new messages"
//! button for a reader who scrolled up, and retrying a message the server refused.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    Driver, Peer, SENT_BY_ME, TestServer, WAIT, count_text, enter, say, script, texts,
    wait_for_text,
};
use fantoccini::Locator;
use std::time::{Duration, Instant};

/// Pixels between the bottom of the visible timeline and the bottom of its content.
const DISTANCE_FROM_BOTTOM: &str = "const l = document.querySelector('.messages'); \
     return l.scrollHeight - l.scrollTop - l.clientHeight;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrolling_up_pages_in_history_and_new_messages_wait_behind_a_button() {
    let server = TestServer::start_with(|config| config.rate_per_sec = 10_000).await;
    let mut bob = Peer::connect(server.addr, "Bob").await;
    bob.join("archive").await;
    // More than two pages of history (a join brings 50, each page 50 more).
    for n in 1..=120 {
        bob.say("archive", &format!("old {n}")).await;
    }

    let driver = Driver::start().await;
    let ada = driver.browser(390, 844).await;
    enter(&ada, &server.url(), "Ada", "archive").await;
    wait_for_text(&ada, ".message .text", "old 120").await;
    assert_eq!(count_text(&ada, ".message .text", "old 1").await, 0);

    // Scroll to the top until the very first message has been paged in.
    let deadline = Instant::now() + WAIT;
    while !texts(&ada, ".message .text")
        .await
        .contains(&"old 1".to_owned())
    {
        assert!(Instant::now() < deadline, "the oldest message never came");
        script(&ada, "document.querySelector('.messages').scrollTop = 0;").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let texts = texts(&ada, ".message .text").await;
    let expected: Vec<String> = (1..=120).map(|n| format!("old {n}")).collect();
    assert_eq!(texts, expected, "every message once, in order");

    // Reading old messages: a new one does not yank the view down, it offers a button.
    script(&ada, "document.querySelector('.messages').scrollTop = 0;").await;
    bob.say("archive", "fresh news").await;
    wait_for_text(&ada, ".message .text", "fresh news").await;
    let button = ada
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(".new-messages"))
        .await
        .unwrap();
    assert!(distance_from_bottom(&ada).await > 100.0, "the view moved");
    button.click().await.unwrap();
    let deadline = Instant::now() + WAIT;
    while distance_from_bottom(&ada).await > 48.0 {
        assert!(Instant::now() < deadline, "the button did not scroll down");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        ada.find_all(Locator::Css(".new-messages"))
            .await
            .unwrap()
            .is_empty(),
        "the button stayed after use"
    );
    ada.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_message_shows_why_and_retry_sends_it() {
    // One frame a second with a burst of two: a quick volley is partly refused.
    let server = TestServer::start_with(|config| {
        config.rate_per_sec = 1;
        config.rate_burst = 2;
    })
    .await;
    let driver = Driver::start().await;
    let ada = driver.browser(390, 844).await;
    enter(&ada, &server.url(), "Ada", "lobby").await;
    let volley = ["one", "two", "three", "four"];
    for text in volley {
        say(&ada, text).await;
        // The app has taken the text (the composer is empty again) before the next is
        // typed: keys typed while it clears would land in, or vanish with, this one.
        composer_emptied(&ada).await;
    }
    let why = ada
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(".message.failed .why"))
        .await
        .unwrap();
    let reason = why.text().await.unwrap();
    assert!(reason.contains("rate_limited"), "{reason}");

    // Retry each failed message, paced under the limit, until all are sent.
    let deadline = Instant::now() + WAIT;
    loop {
        let buttons = ada.find_all(Locator::Css(".retry")).await.unwrap();
        let pending = ada
            .find_all(Locator::Css(".message.pending"))
            .await
            .unwrap();
        if buttons.is_empty() && pending.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "messages still unsent");
        tokio::time::sleep(Duration::from_millis(1200)).await;
        if let Some(button) = buttons.first() {
            // The row may have been re-rendered meanwhile; the next round finds it again.
            let _ = button.click().await;
        }
    }
    for text in volley {
        assert_eq!(count_text(&ada, SENT_BY_ME, text).await, 1, "{text}");
    }
    let stored = Peer::connect(server.addr, "Bob").await.join("lobby").await;
    for text in volley {
        let copies = stored.iter().filter(|m| m.text == text).count();
        assert_eq!(copies, 1, "{text} stored {copies} times");
    }
    ada.close().await.unwrap();
}

async fn distance_from_bottom(browser: &fantoccini::Client) -> f64 {
    script(browser, DISTANCE_FROM_BOTTOM)
        .await
        .as_f64()
        .unwrap_or(f64::MAX)
}

/// Waits until the composer is empty (what was typed has been sent).
async fn composer_emptied(browser: &fantoccini::Client) {
    let deadline = Instant::now() + WAIT;
    loop {
        let composer = browser.find(Locator::Css("#message")).await.unwrap();
        let value = composer.prop("value").await.unwrap().unwrap_or_default();
        if value.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "the composer kept {value:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
