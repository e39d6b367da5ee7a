//! Two server nodes appending to the same rooms of one PostgreSQL database still assign
//! each room's seqs without gaps or duplicates: the seq comes from the database.
#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::{ClientFrame, ServerFrame};
use common::{Backend, Client, TestServer};

const PER_CLIENT: usize = 300;

async fn send_and_count(mut client: Client, room: &str) -> Vec<u64> {
    for i in 0..PER_CLIENT {
        client.say(room, &format!("{i}"), Some("mine")).await;
    }
    let mut mine = Vec::new();
    while mine.len() < PER_CLIENT {
        if let ServerFrame::Message {
            message,
            client_ref: Some(_),
        } = client.recv().await
        {
            mine.push(message.seq);
        }
    }
    mine
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_postgres_share_gapless_seqs() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let node_a = TestServer::start(&backend).await;
    let node_b = TestServer::start(&backend).await;
    let mut tasks = Vec::new();
    for (n, node) in [&node_a, &node_b, &node_a, &node_b].into_iter().enumerate() {
        let mut client = node.connect(&format!("c{n}")).await;
        client.join("shared").await;
        tasks.push(tokio::spawn(send_and_count(client, "shared")));
    }
    let mut all: Vec<u64> = Vec::new();
    for task in tasks {
        let mine = task.await.unwrap();
        assert!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "a sender's seqs increase"
        );
        all.extend(mine);
    }
    all.sort_unstable();
    let total = (4 * PER_CLIENT) as u64;
    assert_eq!(
        all,
        (1..=total).collect::<Vec<_>>(),
        "no gap, no duplicate across nodes"
    );

    // And the stored history agrees, read through either node (the newest 1000, the
    // most a `since` join replays).
    let mut reader = node_b.connect("reader").await;
    reader
        .send(&ClientFrame::Join {
            room: "shared".into(),
            since: Some(total - 1000),
        })
        .await;
    match reader
        .recv_until(|f| matches!(f, ServerFrame::Joined { .. }))
        .await
    {
        ServerFrame::Joined { history, .. } => {
            let seqs: Vec<u64> = history.iter().map(|m| m.seq).collect();
            assert_eq!(seqs, (total - 999..=total).collect::<Vec<_>>());
        }
        other => panic!("{other:?}"),
    }
}
