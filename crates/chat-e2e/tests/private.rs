//! Private conversations in the browser: direct messages, and a stranger at the press of
//! a button.
#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::{ClientFrame, ServerFrame};
use common::{
    Driver, Peer, TestServer, click_text, enter, http_get, say, screenshot, wait_for_text,
    wait_until,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_write_direct_messages_both_ways_and_see_unread_counts() {
    let server = TestServer::start().await;
    let driver = Driver::start().await;
    let ada = driver.browser(1280, 800).await;
    let bob = driver.browser(390, 844).await;
    enter(&ada, &server.url(), "Ada", "lobby").await;
    enter(&bob, &server.url(), "Bob", "lobby").await;
    wait_for_text(&bob, ".members .name", "Ada").await;

    // Bob opens a private conversation from the member list.
    click_text(&bob, ".members button.dm", "Message privately").await;
    wait_for_text(&bob, ".room-title", "Ada").await;
    say(&bob, "psst, Ada").await;
    wait_for_text(&bob, ".message.mine .text", "psst, Ada").await;

    // Ada, still in the lobby, sees the conversation with one unread message.
    wait_for_text(&ada, ".rooms.joined .name", "Bob").await;
    wait_for_text(&ada, ".rooms.joined .badge", "1").await;
    click_text(&ada, ".rooms.joined .name", "Bob").await;
    wait_for_text(&ada, ".room-title", "Bob").await;
    wait_for_text(&ada, ".message .text", "psst, Ada").await;
    say(&ada, "hi Bob").await;
    wait_for_text(&bob, ".message .text", "hi Bob").await;

    // Bob looks at the lobby; Ada's next message counts as unread for him.
    click_text(&bob, ".rooms.joined .name", "lobby").await;
    say(&ada, "still there?").await;
    wait_for_text(&bob, ".rooms.joined .badge", "1").await;
    screenshot(&bob, "direct-390x844").await;

    // A reload keeps the conversation (from `welcome.rooms`).
    ada.refresh().await.unwrap();
    wait_for_text(&ada, ".rooms.joined .name", "Bob").await;
    ada.close().await.unwrap();
    bob.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_chat_one_presses_next_and_a_report_reaches_the_moderators() {
    let server = TestServer::start_with(|c| c.admin_token = Some("mod-token".into())).await;
    let driver = Driver::start().await;
    let ada = driver.browser(1280, 800).await;
    let bob = driver.browser(390, 844).await;
    enter(&ada, &server.url(), "Ada", "lobby").await;
    enter(&bob, &server.url(), "Bob", "lobby").await;

    click_text(&ada, ".stranger button", "Talk to a stranger").await;
    wait_until(
        &ada,
        "document.querySelector('.stranger').innerText.includes('Looking for a stranger')",
    )
    .await;
    click_text(&bob, ".stranger button", "Talk to a stranger").await;
    wait_for_text(&ada, ".room-title", "Stranger").await;
    wait_for_text(&bob, ".room-title", "Stranger").await;
    say(&ada, "hello, stranger").await;
    wait_for_text(&bob, ".message .text", "hello, stranger").await;
    let authors = common::texts(&bob, ".message .author").await;
    assert!(
        authors.iter().all(|a| a == "Stranger"),
        "the stranger's name shows: {authors:?}"
    );
    screenshot(&ada, "pair-1280x800").await;

    // Bob wants someone else: Ada is told, and cannot write there any more.
    click_text(&bob, ".private-bar button", "Next").await;
    wait_for_text(&ada, ".private-bar span", "The stranger left this chat.").await;
    wait_until(&ada, "document.querySelector('#message').disabled").await;
    screenshot(&ada, "pair-closed-1280x800").await;

    // Carol (a plain socket) meets Bob, who waited; Bob reports her.
    let mut carol = Peer::connect(server.addr, "Carol").await;
    carol.send(&ClientFrame::Match { interests: vec![] }).await;
    let room = match carol
        .until(|f| matches!(f, ServerFrame::Matched { .. }))
        .await
    {
        ServerFrame::Matched { room, .. } => room,
        _ => unreachable!(),
    };
    carol
        .until(|f| matches!(f, ServerFrame::Joined { .. }))
        .await;
    carol.say(&room, "buy my stuff").await;
    wait_for_text(&bob, ".message .text", "buy my stuff").await;
    // The reason is asked with `window.prompt`; answer it the way a person would.
    common::script(&bob, "window.prompt = () => 'spam'; return true;").await;
    click_text(&bob, ".private-bar button", "Report").await;
    carol
        .until(|f| matches!(f, ServerFrame::System { room: r, .. } if *r == room))
        .await;

    let (status, body) = http_get(
        server.addr,
        "/api/admin/reports",
        &[("Authorization", "Bearer mod-token")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let reports: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reports[0]["reason"], "spam");
    assert_eq!(reports[0]["reporter"]["name"], "Bob");
    assert_eq!(reports[0]["transcript"][0]["from"]["name"], "Carol");
    ada.close().await.unwrap();
    bob.close().await.unwrap();
}
