//! A big room in the browser: the count of everyone online in the header, a member list
//! the server capped (paged in with "Show more"), and arrivals and departures applied
//! from coalesced `presence` frames.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Driver, Peer, TestServer, click_text, enter, wait_for_text, wait_until};

/// Users the server lists in `joined.members` of a big room (the protocol's cap).
const LISTED: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_room_shows_its_count_and_pages_in_its_members() {
    let server = TestServer::start().await;
    let mut crowd = Vec::new();
    for n in 0..LISTED + 5 {
        let mut peer = Peer::connect(server.addr, &format!("p{n:03}")).await;
        peer.join("stadium").await;
        crowd.push(peer);
    }
    let online = LISTED + 6; // the crowd and Ada
    let driver = Driver::start().await;
    let ada = driver.browser(1280, 800).await;
    enter(&ada, &server.url(), "Ada", "stadium").await;
    wait_for_text(&ada, ".room-head .online", &format!("{online} online")).await;
    let listed = "document.querySelectorAll('.members li').length";
    assert_eq!(
        common::script(&ada, &format!("return {listed};")).await,
        LISTED,
        "the list the server capped"
    );

    click_text(&ada, ".more-members", "Show more").await;
    wait_until(&ada, &format!("{listed} == {online}")).await;
    wait_until(&ada, "!document.querySelector('.more-members')").await;

    // Departures arrive coalesced: the count and the list follow.
    crowd.truncate(LISTED + 2);
    wait_for_text(
        &ada,
        ".room-head .online",
        &format!("{} online", online - 3),
    )
    .await;
    wait_until(&ada, &format!("{listed} == {}", online - 3)).await;
    ada.close().await.unwrap();
}
