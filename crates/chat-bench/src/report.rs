//! Markdown rows for results.

use crate::fanout::{FanoutResult, SilentEnd};
use crate::idle::IdleResult;

pub const FANOUT_HEADER: &str = "| scenario | rooms x clients | msg/s offered | deliveries/s | min ms | p50 ms | p99 ms | p99.9 ms | max ms | lost | dup | server CPU µs/delivery | server core % | load gen core % | server peak RSS MB | clients that never read |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";

pub fn fanout_row(name: &str, r: &FanoutResult) -> String {
    let ms = |q: f64| format!("{:.2}", r.latency_us.value_at_quantile(q) as f64 / 1000.0);
    let silent = if r.silent_ends.is_empty() {
        "-".to_owned()
    } else {
        r.silent_ends
            .iter()
            .map(|end| match end {
                SilentEnd::Closed(code) => format!("closed {code}"),
                SilentEnd::Dropped => "dropped".to_owned(),
                SilentEnd::Open => "still open".to_owned(),
            })
            .collect::<Vec<_>>()
            .join(", ")
            + &r.slow_consumer_closes.map_or(String::new(), |n| {
                format!(" (server: {n} closed with 1013)")
            })
    };
    format!(
        "| {name} | {} x {} | {:.0} | {:.0} | {:.2} | {} | {} | {} | {:.2} | {} | {} | {} | {} | {:.0} | {} | {silent} |",
        r.args.rooms,
        r.args.clients_per_room,
        r.args.rate,
        r.deliveries as f64 / r.seconds.max(f64::EPSILON),
        r.latency_us.min() as f64 / 1000.0,
        ms(0.5),
        ms(0.99),
        ms(0.999),
        r.latency_us.max() as f64 / 1000.0,
        r.lost,
        r.duplicated,
        r.cpu_us_per_delivery()
            .map_or("-".to_owned(), |us| format!("{us:.2}")),
        r.server_load()
            .map_or("-".to_owned(), |l| format!("{:.0}", l * 100.0)),
        r.bench_load() * 100.0,
        r.server_rss_peak
            .map_or("-".to_owned(), |b| format!("{:.1}", b as f64 / 1e6)),
    )
}

pub const IDLE_HEADER: &str = "| scenario | connections | rooms | server RSS before MB | after MB | KB per connection |\n|---|---|---|---|---|---|";

pub fn idle_row(name: &str, r: &IdleResult) -> String {
    format!(
        "| {name} | {} | {} | {:.1} | {:.1} | {:.2} |",
        r.args.connections,
        r.args.rooms,
        r.rss_before as f64 / 1e6,
        r.rss_after as f64 / 1e6,
        r.bytes_per_connection() / 1024.0,
    )
}
