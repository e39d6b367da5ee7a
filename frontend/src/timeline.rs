//! A room's timeline as the reader sees it: messages grouped under their author, a
//! separator before each day, presence notices between, and the messages still on
//! their way at the end.
//!
//! Pure: the browser's clock and calendar come in as a [`Calendar`], so grouping and
//! day breaks are tested natively.

use crate::model::{ChatState, Notice, RoomState};
use chat_protocol::{Message, SystemEvent, User};

/// Consecutive messages of one author closer together than this share one heading.
pub const GROUP_WITHIN_MS: i64 = 5 * 60 * 1000;

/// What the timeline needs from the reader's clock and locale.
pub trait Calendar {
    /// The day `ts` falls on where the reader is, as a count of days.
    fn day(&self, ts: i64) -> i64;
    /// The day it is now where the reader is.
    fn today(&self) -> i64;
    /// The time of day of `ts` in the reader's locale ("14:05", "2:05 PM").
    fn time(&self, ts: i64) -> String;
    /// The date of `ts` in the reader's locale ("3 December 2026").
    fn date(&self, ts: i64) -> String;
}

/// The day `ts` falls on in a time zone `offset_min` minutes ahead of UTC.
pub fn local_day(ts: i64, offset_min: i64) -> i64 {
    (ts + offset_min * 60_000).div_euclid(86_400_000)
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// The first message of a day: "Today", "Yesterday" or the date.
    Day {
        key: String,
        label: String,
    },
    Message {
        id: String,
        author: User,
        /// Whether the author can be written to privately from here.
        direct: bool,
        text: String,
        time: String,
        mine: bool,
        /// Continues the previous message's group: no heading of its own.
        grouped: bool,
    },
    Notice {
        key: String,
        text: String,
    },
    Pending {
        client_ref: String,
        text: String,
        failed: Option<String>,
    },
}

impl Entry {
    /// Stable across updates, so the view keeps the rows it already drew.
    pub fn key(&self) -> String {
        match self {
            Entry::Day { key, .. } | Entry::Notice { key, .. } => key.clone(),
            Entry::Message { id, grouped, .. } => format!("{id}/{grouped}"),
            Entry::Pending {
                client_ref, failed, ..
            } => format!("{client_ref}/{}", failed.is_some()),
        }
    }
}

/// The entries of `room` (named `name`) in reading order.
pub fn entries(state: &ChatState, name: &str, room: &RoomState, cal: &impl Calendar) -> Vec<Entry> {
    let public = !state.private.contains_key(name);
    let today = cal.today();
    let notice = |index: usize, n: &Notice| Entry::Notice {
        key: format!("notice-{index}"),
        text: match n.event {
            SystemEvent::Join => format!("{} joined", n.user.name),
            SystemEvent::Leave => format!("{} left", n.user.name),
        },
    };
    let mut entries = Vec::new();
    let mut notices = room.notices.iter().enumerate().peekable();
    // The previous message, while nothing else came between: its author and time.
    let mut previous: Option<(&str, i64)> = None;
    let mut last_day = None;
    for message in room.messages.values() {
        while let Some((index, n)) = notices.next_if(|(_, n)| n.after_seq < message.seq) {
            entries.push(notice(index, n));
            previous = None;
        }
        let day = cal.day(message.ts);
        if last_day != Some(day) {
            last_day = Some(day);
            entries.push(Entry::Day {
                // With the label: after midnight "Today" becomes "Yesterday".
                key: format!("day-{day}-{}", today - day),
                label: match today - day {
                    0 => "Today".to_owned(),
                    1 => "Yesterday".to_owned(),
                    _ => cal.date(message.ts),
                },
            });
            previous = None;
        }
        let grouped = previous.is_some_and(|(author, ts)| continues(author, ts, message));
        previous = Some((&message.from.id, message.ts));
        let mine = state.is_mine(message);
        entries.push(Entry::Message {
            id: message.id.clone(),
            author: message.from.clone(),
            direct: public && !mine,
            text: message.text.clone(),
            time: cal.time(message.ts),
            mine,
            grouped,
        });
    }
    entries.extend(notices.map(|(index, n)| notice(index, n)));
    entries.extend(room.pending.iter().map(|p| Entry::Pending {
        client_ref: p.client_ref.clone(),
        text: p.text.clone(),
        failed: p.failed.clone(),
    }));
    entries
}

/// Whether `message` continues a group whose last message `author` wrote at `ts`.
fn continues(author: &str, ts: i64, message: &Message) -> bool {
    message.from.id == author && (0..GROUP_WITHIN_MS).contains(&(message.ts - ts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_protocol::ServerFrame;

    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;

    /// UTC+2, "now" on day 20 000; times and dates as plain numbers.
    struct Fixed;

    impl Calendar for Fixed {
        fn day(&self, ts: i64) -> i64 {
            local_day(ts, 120)
        }
        fn today(&self) -> i64 {
            20_000
        }
        fn time(&self, ts: i64) -> String {
            format!("t{ts}")
        }
        fn date(&self, ts: i64) -> String {
            format!("day {}", self.day(ts))
        }
    }

    fn said(seq: u64, from: &str, ts: i64) -> Message {
        Message {
            room: "r".into(),
            seq,
            id: format!("m{seq}"),
            from: User {
                id: from.into(),
                name: from.to_uppercase(),
            },
            text: format!("text {seq}"),
            ts,
        }
    }

    fn room_with(messages: Vec<Message>) -> ChatState {
        let mut state = ChatState::default();
        state.apply(
            ServerFrame::Joined {
                room: "r".into(),
                members: vec![],
                online: 0,
                history: messages,
                more: false,
                recovered: None,
                you: None,
            },
            0,
        );
        state
    }

    /// Each entry in short: "day:<label>", "<author>" (heading) or "+" (grouped), "notice".
    fn shape(state: &ChatState) -> Vec<String> {
        entries(state, "r", &state.rooms["r"], &Fixed)
            .into_iter()
            .map(|e| match e {
                Entry::Day { label, .. } => format!("day:{label}"),
                Entry::Message { grouped: true, .. } => "+".to_owned(),
                Entry::Message { author, .. } => author.id,
                Entry::Notice { .. } => "notice".to_owned(),
                Entry::Pending { .. } => "pending".to_owned(),
            })
            .collect()
    }

    #[test]
    fn local_days_follow_the_offset() {
        assert_eq!(local_day(0, 0), 0);
        assert_eq!(local_day(DAY - 1, 0), 0);
        assert_eq!(
            local_day(DAY - HOUR, 60),
            1,
            "23:00 UTC is tomorrow at UTC+1"
        );
        assert_eq!(local_day(HOUR, -120), -1, "01:00 UTC is yesterday at UTC-2");
    }

    #[test]
    fn one_author_within_minutes_is_one_group() {
        // 22:00 UTC on day 19 999 is midnight local: today.
        let today = 20_000 * DAY - 2 * HOUR;
        let state = room_with(vec![
            said(1, "ann", today),
            said(2, "ann", today + 60_000),
            said(3, "ann", today + 60_000 + GROUP_WITHIN_MS - 1),
            said(4, "ann", today + 2 * 60_000 + 2 * GROUP_WITHIN_MS),
            said(5, "bob", today + 2 * 60_000 + 2 * GROUP_WITHIN_MS + 1),
            said(6, "ann", today + 2 * 60_000 + 2 * GROUP_WITHIN_MS + 2),
        ]);
        assert_eq!(
            shape(&state),
            ["day:Today", "ann", "+", "+", "ann", "bob", "ann"]
        );
    }

    #[test]
    fn each_day_starts_with_its_name_and_breaks_the_group() {
        let midnight = 20_000 * DAY - 2 * HOUR; // local midnight starting today
        let state = room_with(vec![
            said(1, "ann", midnight - 3 * DAY),
            said(2, "ann", midnight - 2 * 60_000),
            said(3, "ann", midnight - 60_000),
            said(4, "ann", midnight + 60_000),
        ]);
        assert_eq!(
            shape(&state),
            [
                "day:day 19997",
                "ann",
                "day:Yesterday",
                "ann",
                "+",
                "day:Today",
                "ann"
            ]
        );
    }

    #[test]
    fn a_notice_between_messages_breaks_the_group() {
        let now = 20_000 * DAY;
        let mut state = room_with(vec![said(1, "ann", now)]);
        state.apply(
            ServerFrame::System {
                room: "r".into(),
                event: SystemEvent::Join,
                user: User {
                    id: "cy".into(),
                    name: "Cy".into(),
                },
                ts: now + 1,
            },
            0,
        );
        state.apply(
            ServerFrame::Message {
                message: said(2, "ann", now + 2),
                client_ref: None,
            },
            0,
        );
        assert_eq!(shape(&state), ["day:Today", "ann", "notice", "ann"]);
    }

    #[test]
    fn keys_change_when_a_message_joins_or_leaves_a_group() {
        let now = 20_000 * DAY;
        let state = room_with(vec![said(1, "ann", now), said(2, "ann", now + 1)]);
        let keys: Vec<String> = entries(&state, "r", &state.rooms["r"], &Fixed)
            .iter()
            .map(Entry::key)
            .collect();
        assert_eq!(keys, ["day-20000-0", "m1/false", "m2/true"]);
    }
}
