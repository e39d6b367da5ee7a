//! Per-room `seq` is gapless and strictly increasing in delivery order, for everyone,
//! while many clients send at once.
#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::ServerFrame;
use common::{Backend, Client, TestServer};
use std::collections::HashMap;

const SENDERS: usize = 10;
const PER_SENDER: usize = 200;
const TOTAL: u64 = (SENDERS * PER_SENDER) as u64;

/// Reads every message of the room until seq TOTAL; returns (seq, text) in arrival order.
async fn collect(mut client: Client) -> Vec<(u64, String)> {
    let mut seen = Vec::new();
    while seen.len() < TOTAL as usize {
        if let ServerFrame::Message { message, .. } = client.recv().await {
            seen.push((message.seq, message.text));
        }
    }
    seen
}

async fn ten_concurrent_senders_get_one_gapless_order(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut observer = server.connect("observer").await;
    observer.join("race").await;
    let mut senders = Vec::new();
    for s in 0..SENDERS {
        let mut client = server.connect(&format!("sender{s}")).await;
        client.join("race").await;
        senders.push(client);
    }
    let mut tasks = Vec::new();
    for (s, mut client) in senders.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for i in 0..PER_SENDER {
                client.say("race", &format!("{s}:{i}"), None).await;
            }
            collect(client).await
        }));
    }
    let mut all = vec![collect(observer).await];
    for task in tasks {
        all.push(task.await.unwrap());
    }
    for seen in &all {
        let seqs: Vec<u64> = seen.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(
            seqs,
            (1..=TOTAL).collect::<Vec<_>>(),
            "gapless and in order"
        );
        let mut next_of_sender: HashMap<usize, usize> = HashMap::new();
        for (_, text) in seen {
            let (s, i) = text.split_once(':').unwrap();
            let (s, i): (usize, usize) = (s.parse().unwrap(), i.parse().unwrap());
            let next = next_of_sender.entry(s).or_default();
            assert_eq!(i, *next, "each sender's messages keep their order");
            *next += 1;
        }
    }
    // Every receiver saw the same interleaving.
    assert!(all.windows(2).all(|w| w[0] == w[1]));
}

on_every_backend!(ten_concurrent_senders_get_one_gapless_order,);
