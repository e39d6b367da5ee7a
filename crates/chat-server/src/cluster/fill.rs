//! Reads from the database what Redis did not bring: one task takes the hub's gaps in
//! turn and hands what it read back to the hub, which delivers it in order.

use crate::hub::{Gap, Hub};
use crate::metrics::Metrics;
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Messages read per query.
const PAGE: usize = 1000;
/// Wait before reading again after the database failed.
const RETRY_AFTER: Duration = Duration::from_millis(500);

pub async fn run(
    mut gaps: mpsc::UnboundedReceiver<Gap>,
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    loop {
        let gap = tokio::select! {
            () = stop.cancelled() => return,
            gap = gaps.recv() => match gap {
                Some(gap) => gap,
                None => return,
            },
        };
        let mut after = gap.after;
        loop {
            match store.after(&gap.room, after, PAGE).await {
                Ok(messages) => {
                    metrics.gap_fills.inc();
                    let full = messages.len() == PAGE;
                    after = messages.last().map_or(after, |m| m.seq);
                    if full {
                        // Delivered page by page; the hub asks again for the rest if
                        // it still misses messages after the last page.
                        hub.deliver_remote(&messages);
                        continue;
                    }
                    if messages.is_empty() {
                        // Nothing to read although something is known to be missing:
                        // not yet visible here. Asking again at once would only spin.
                        tokio::select! {
                            () = stop.cancelled() => return,
                            () = tokio::time::sleep(RETRY_AFTER) => {}
                        }
                    }
                    hub.deliver_filled(&gap.room, &messages);
                    break;
                }
                Err(err) => {
                    tracing::warn!(error = %err, room = %gap.room, "cannot read missed messages; trying again");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(RETRY_AFTER) => {}
                    }
                }
            }
        }
    }
}
