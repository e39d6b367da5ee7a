//! Big rooms: above the threshold `joined.members` is capped (with `online`, the total),
//! `GET /api/rooms/{room}/members` pages through everyone, and arrivals and departures
//! come as at most one `presence` frame per room per second instead of a `system`
//! frame each. On one node and across two (in-process, on one PostgreSQL and Redis).
#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::{ClientFrame, MAX_LISTED_MEMBERS, ServerFrame, SystemEvent, User};
use common::{Backend, Client, TestServer};
use std::collections::BTreeSet;

/// A small threshold, so that a handful of users make a big room.
const THRESHOLD: usize = 3;

/// One node, or two of one cluster when the backend has Redis.
async fn nodes(backend: &Backend) -> Vec<TestServer> {
    let count = if backend.redis.is_some() { 2 } else { 1 };
    let mut nodes = Vec::new();
    for _ in 0..count {
        let node = TestServer::with(backend, |c| c.big_room_threshold = THRESHOLD).await;
        nodes.push(node);
    }
    nodes
}

fn listed(joined: &ServerFrame) -> (Vec<User>, u32) {
    match joined {
        ServerFrame::Joined {
            members, online, ..
        } => (members.clone(), *online),
        other => panic!("expected joined, got {other:?}"),
    }
}

/// Reads `presence` frames until they have announced every arrival and departure
/// wanted and the newest says `online`; anything else (a `system` frame) fails.
/// Returns how many frames it took.
async fn presence_until(
    client: &mut Client,
    mut arrivals: BTreeSet<String>,
    mut departures: BTreeSet<String>,
    online_at_end: u32,
) -> usize {
    let mut frames = 0;
    loop {
        match client.recv().await {
            ServerFrame::Presence {
                room,
                joined,
                left,
                online,
            } => {
                assert_eq!(room, "big");
                frames += 1;
                for user in &joined {
                    arrivals.remove(&user.id);
                }
                for user in &left {
                    departures.remove(&user.id);
                }
                if arrivals.is_empty() && departures.is_empty() && online == online_at_end {
                    return frames;
                }
            }
            other => panic!("in a big room only presence frames announce anyone: {other:?}"),
        }
    }
}

async fn above_the_threshold_arrivals_and_departures_are_coalesced(backend: Backend) {
    let nodes = nodes(&backend).await;
    let mut watcher = nodes[0].connect("Watcher").await;
    let (members, online) = listed(&watcher.join("big").await);
    assert_eq!((members.len(), online), (1, 1));

    // Up to the threshold, each arrival is a `system` frame, as in any room.
    let mut others = Vec::new();
    for i in 1..THRESHOLD {
        let mut client = nodes[i % nodes.len()].connect(&format!("Small{i}")).await;
        let (_, online) = listed(&client.join("big").await);
        assert_eq!(online as usize, i + 1);
        match watcher.recv().await {
            ServerFrame::System { event, user, .. } => {
                assert_eq!((event, user), (SystemEvent::Join, client.user.clone()));
            }
            other => panic!("expected a system join, got {other:?}"),
        }
        others.push(client);
    }

    // Beyond it, arrivals come as `presence` frames, coalesced.
    let mut arrivals = BTreeSet::new();
    for i in 0..5 {
        let mut client = nodes[i % nodes.len()].connect(&format!("Big{i}")).await;
        let (members, online) = listed(&client.join("big").await);
        assert_eq!(online as usize, THRESHOLD + i + 1, "online counts everyone");
        assert_eq!(members.len(), online as usize, "fewer than 100: all listed");
        arrivals.insert(client.user.id.clone());
        others.push(client);
    }
    let everyone = THRESHOLD + 5;
    let frames = presence_until(&mut watcher, arrivals, BTreeSet::new(), everyone as u32).await;
    assert!(frames <= 5, "five arrivals in {frames} frames");

    // Departures too; and someone who comes and goes within the second is not news.
    let leaving: Vec<Client> = others.drain(THRESHOLD - 1..).collect();
    let mut departures = BTreeSet::new();
    for mut client in leaving {
        departures.insert(client.user.id.clone());
        client
            .send(&ClientFrame::Leave { room: "big".into() })
            .await;
        client
            .recv_until(|f| matches!(f, ServerFrame::Left { .. }))
            .await;
    }
    presence_until(&mut watcher, BTreeSet::new(), departures, THRESHOLD as u32).await;

    // Back at the threshold, and nothing pending: a departure is a `system` frame again.
    let last = others.pop().unwrap();
    let last_id = last.user.id.clone();
    drop(last);
    match watcher.recv().await {
        ServerFrame::System { event, user, .. } => {
            assert_eq!((event, user.id), (SystemEvent::Leave, last_id));
        }
        other => panic!("expected a system leave, got {other:?}"),
    }
    watcher.assert_nothing_before_pong().await;
}

#[derive(serde::Deserialize)]
struct MembersBody {
    members: Vec<User>,
    online: u32,
    more: bool,
}

async fn a_big_room_lists_its_first_members_and_pages_the_rest(backend: Backend) {
    let nodes = nodes(&backend).await;
    let total = MAX_LISTED_MEMBERS + 20;
    let mut clients = Vec::new();
    for i in 0..total {
        let mut client = nodes[i % nodes.len()].connect(&format!("P{i}")).await;
        client.join("crowd").await;
        clients.push(client);
    }
    let everyone: BTreeSet<String> = clients.iter().map(|c| c.user.id.clone()).collect();

    // A newcomer's `joined` holds the first 100 by id, and the count of all.
    let mut newcomer = nodes[0].connect("Newcomer").await;
    let (members, online) = listed(&newcomer.join("crowd").await);
    assert_eq!(online as usize, total + 1);
    assert_eq!(members.len(), MAX_LISTED_MEMBERS);
    let mut all = everyone.clone();
    all.insert(newcomer.user.id.clone());
    let first: Vec<String> = all.iter().take(MAX_LISTED_MEMBERS).cloned().collect();
    let got: Vec<String> = members.iter().map(|u| u.id.clone()).collect();
    assert_eq!(got, first, "the first members by id, in id order");

    // The endpoint pages through everyone, each once, in id order, from either node.
    let mut paged = Vec::new();
    let mut after = String::new();
    for page in 0.. {
        let node = &nodes[page % nodes.len()];
        let path = format!("/api/rooms/crowd/members?limit=50&after={after}");
        let (status, body) = node.get(&path).await;
        assert_eq!(status, 200, "{body}");
        let body: MembersBody = serde_json::from_str(&body).unwrap();
        assert_eq!(body.online as usize, total + 1);
        assert!(body.members.len() <= 50);
        paged.extend(body.members.iter().map(|u| u.id.clone()));
        if !body.more {
            break;
        }
        after = body.members.last().unwrap().id.clone();
    }
    assert_eq!(paged, all.iter().cloned().collect::<Vec<_>>());

    // Bad limits are refused; a private room is not listed to a stranger.
    let (status, _) = nodes[0].get("/api/rooms/crowd/members?limit=101").await;
    assert_eq!(status, 400);
    let (status, _) = nodes[0].get("/api/rooms/crowd/members?limit=0").await;
    assert_eq!(status, 400);
    let mut pair = [clients[0].user.id.clone(), clients[1].user.id.clone()];
    pair.sort();
    let dm = format!("/api/rooms/~dm.{}.{}/members", pair[0], pair[1]);
    let (status, _) = nodes[0].get(&dm).await;
    assert_eq!(status, 404);

    // Everyone in the room learns of the arrivals as `presence` frames (lists capped at
    // 100: more than that arrived within a second here), the last with everyone's count.
    let online = (total + 1) as u32;
    for client in clients.iter_mut().rev().take(3) {
        presence_until_counted(client, online).await;
    }
}

/// Reads until a `presence` frame says `online`, checking each list's cap; `system`
/// frames may come first (the arrivals while the room was small).
async fn presence_until_counted(client: &mut Client, online: u32) {
    loop {
        match client.recv().await {
            ServerFrame::Presence {
                joined,
                left,
                online: n,
                ..
            } => {
                assert!(joined.len() <= MAX_LISTED_MEMBERS && left.len() <= MAX_LISTED_MEMBERS);
                if n == online {
                    return;
                }
            }
            ServerFrame::System { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

on_each_database!(
    above_the_threshold_arrivals_and_departures_are_coalesced,
    a_big_room_lists_its_first_members_and_pages_the_rest,
);
mod two_nodes {
    crate::on_a_cluster_node!(
        above_the_threshold_arrivals_and_departures_are_coalesced,
        a_big_room_lists_its_first_members_and_pages_the_rest,
    );
}
