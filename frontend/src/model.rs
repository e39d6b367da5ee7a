//! The client's state and the pure reducer that applies server frames to it.
//!
//! No web APIs here, so it is tested natively with plain `cargo test`. Time comes in as
//! an argument (`now_ms`) for the same reason.

use chat_protocol::{
    ClientFrame, ErrorCode, Message, PrivateRoom, RoomSummary, ServerFrame, SystemEvent, User,
};
use std::collections::BTreeMap;

/// How long a typing indicator lasts without a refresh.
pub const TYPING_TTL_MS: i64 = 5_000;

/// Everything the app shows, derived only from server frames and the user's actions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatState {
    pub me: Option<User>,
    pub session: Option<String>,
    /// Joined rooms by name.
    pub rooms: BTreeMap<String, RoomState>,
    /// The room on screen.
    pub current: Option<String>,
    /// On a phone, where one screen shows at a time: the room list is up instead of the
    /// current room (which stays current, so a rejoin does not pull the person back in).
    pub at_list: bool,
    /// Private rooms this user belongs to, joined or not: who is on the other side.
    pub private: BTreeMap<String, Private>,
    /// User ids this user blocked.
    pub blocked: Vec<String>,
    /// Since when (ms) this user waits for a stranger, if they do.
    pub waiting_since: Option<i64>,
    /// The newest seq read in each room (kept across visits), which unread counts and
    /// `welcome.rooms` are measured against.
    pub seen: ReadMarks,
    /// The page is hidden (another tab or window): the room on screen is not being read,
    /// so its new messages count as unread until the person looks again.
    pub away: bool,
    /// A room to show as soon as its `joined` arrives: a conversation the user opened.
    opening: Option<String>,
    next_ref: u64,
}

/// The newest seq read in each room, sorted by room name. A few dozen rooms at most: a
/// sorted `Vec` does it in less code than a map (the app's download is budgeted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadMarks(Vec<(String, u64)>);

impl ReadMarks {
    /// The newest seq read in `room`; 0 when none was.
    pub fn get(&self, room: &str) -> u64 {
        self.find(room).map_or(0, |at| self.0[at].1)
    }

    pub fn insert(&mut self, room: &str, seq: u64) {
        match self.find(room) {
            Ok(at) => self.0[at].1 = seq,
            Err(at) => self.0.insert(at, (room.to_owned(), seq)),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &(String, u64)> {
        self.0.iter()
    }

    fn find(&self, room: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(r, _)| r.as_str().cmp(room))
    }
}

/// A private room: the peer (the real user of a direct conversation, an alias in a
/// pair), and for a pair how this user appears there, whether it is open and the
/// interests both gave.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Private {
    pub peer: User,
    pub you: Option<User>,
    pub open: bool,
    pub common: Vec<String>,
}

/// One joined room.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoomState {
    /// Stored messages by seq: ordered, and a duplicate delivery replaces itself.
    pub messages: BTreeMap<u64, Message>,
    /// Join and leave notices, each placed after the messages it followed.
    pub notices: Vec<Notice>,
    /// Messages sent from this tab that the server has not confirmed yet (or refused).
    pub pending: Vec<Pending>,
    /// Online users as far as this tab knows them: everyone, or in a big room the first
    /// the server listed, those paged in since, and arrivals.
    pub members: Vec<User>,
    /// Everyone online in the room, wherever (`joined.online`, kept by `presence`).
    pub online: u32,
    /// In a big room whose list the server capped: the id after which the next page of
    /// members starts (`GET /api/rooms/{room}/members?after=`); `None` once all are in.
    pub member_cursor: Option<String>,
    /// Who is typing, sorted by user id (a stable order for the names), with when
    /// their indicator expires. A few people at most: a sorted `Vec` does it in less
    /// code than a map (the app's download is budgeted).
    pub typing: Vec<(User, i64)>,
    pub unread: u32,
    /// Older messages exist on the server.
    pub more: bool,
}

/// A presence notice in a room's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub user: User,
    pub event: SystemEvent,
    pub ts: i64,
    /// The newest message seq when the notice arrived: it is shown after that message.
    pub after_seq: u64,
}

/// A message on its way, identified by the `ref` the server echoes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub client_ref: String,
    pub text: String,
    /// `None` while sending; the reason once the server refused it.
    pub failed: Option<String>,
}

impl RoomState {
    /// Lists users not listed yet (arrivals, or a page of the member list).
    /// A user listed already takes the name given (it may have changed).
    pub fn add_members(&mut self, users: Vec<User>) {
        for user in users {
            match self.members.iter_mut().find(|m| m.id == user.id) {
                Some(known) => known.name = user.name,
                None => self.members.push(user),
            }
        }
    }

    /// The newest seq seen: what a reconnect passes as `since`.
    pub fn last_seq(&self) -> u64 {
        self.messages.keys().next_back().copied().unwrap_or(0)
    }

    /// The oldest seq held: where paging back continues from.
    pub fn first_seq(&self) -> Option<u64> {
        self.messages.keys().next().copied()
    }

    /// Users whose indicator has not expired at `now_ms`, in a stable order.
    pub fn typing_names(&self, now_ms: i64) -> Vec<String> {
        self.typing
            .iter()
            .filter(|(_, until)| *until > now_ms)
            .map(|(user, _)| user.name.clone())
            .collect()
    }

    fn start_typing(&mut self, user: User, until: i64) {
        match self.typing.binary_search_by(|(u, _)| u.id.cmp(&user.id)) {
            Ok(at) => self.typing[at].1 = until,
            Err(at) => self.typing.insert(at, (user, until)),
        }
    }

    fn stop_typing(&mut self, id: &str) {
        self.typing.retain(|(user, _)| user.id != id);
    }

    fn insert(&mut self, message: Message) -> bool {
        let is_new = !self.messages.contains_key(&message.seq);
        self.stop_typing(&message.from.id);
        self.messages.insert(message.seq, message);
        is_new
    }
}

impl ChatState {
    /// Applies one frame from the server.
    pub fn apply(&mut self, frame: ServerFrame, now_ms: i64) {
        match frame {
            ServerFrame::Welcome {
                user,
                session,
                rooms,
                blocked,
            } => {
                self.me = Some(user);
                self.session = Some(session);
                self.blocked = blocked;
                // A new connection waits in no queue: the button is offered again.
                self.waiting_since = None;
                for PrivateRoom {
                    room,
                    peer,
                    you,
                    open,
                    ..
                } in rooms
                {
                    let known = self.private.remove(&room).unwrap_or_default();
                    let open = open.unwrap_or(false);
                    self.private.insert(
                        room,
                        Private {
                            peer,
                            you,
                            open,
                            ..known
                        },
                    );
                }
            }
            ServerFrame::Joined {
                room,
                members,
                online,
                history,
                more,
                recovered,
                you,
            } => {
                if let (Some(you), Some(private)) = (you, self.private.get_mut(&room)) {
                    private.you = Some(you);
                }
                // A conversation someone else started: the peer is in the room's name,
                // and their name among the members or the authors.
                if let (Some(ids), Some(me)) = (room.strip_prefix("~dm."), &self.me)
                    && !self.private.contains_key(&room)
                {
                    let peer_id = ids.split('.').find(|id| *id != me.id).unwrap_or(&me.id);
                    let peer = members
                        .iter()
                        .chain(history.iter().map(|m| &m.from))
                        .find(|u| u.id == peer_id)
                        .cloned()
                        .unwrap_or_else(|| User {
                            id: peer_id.to_owned(),
                            name: peer_id.to_owned(),
                        });
                    self.private.insert(
                        room.clone(),
                        Private {
                            peer,
                            ..Private::default()
                        },
                    );
                }
                let seen = self.seen.get(&room);
                let me = self.me_in(&room).map(|u| u.id.clone());
                let is_current = self.reading(&room);
                let state = self.rooms.entry(room.clone()).or_default();
                // A big room lists its first members by id: the rest are paged in on request.
                state.member_cursor = (members.len() < online as usize)
                    .then(|| members.iter().map(|u| u.id.clone()).max())
                    .flatten();
                state.members = members;
                state.online = online;
                // A full recovery continues the timeline; otherwise older history has a
                // hole in it, so start again from what the server sent.
                if recovered == Some(false) {
                    state.messages.clear();
                    state.notices.clear();
                }
                if recovered.is_none() || state.messages.is_empty() {
                    state.more = more;
                }
                // A message sent just before a connection dropped may have been stored
                // with only its echo lost: if the recovered history has it, it is sent.
                // (The protocol has no idempotency key; same author and text is the test.)
                state.pending.retain(|p| {
                    !history
                        .iter()
                        .any(|m| Some(&m.from.id) == me.as_ref() && m.text == p.text)
                });
                for message in history {
                    let unread =
                        !is_current && message.seq > seen && Some(&message.from.id) != me.as_ref();
                    if state.insert(message) && unread {
                        state.unread += 1;
                    }
                }
                if self.current.is_none() || self.opening.as_ref() == Some(&room) {
                    self.opening = None;
                    self.open(&room);
                }
            }
            ServerFrame::Left { room } => self.forget(&room),
            ServerFrame::Message {
                message,
                client_ref,
            } => self.receive(message, client_ref),
            ServerFrame::System {
                room,
                event,
                user,
                ts,
            } => {
                if let Some(state) = self.rooms.get_mut(&room) {
                    match event {
                        SystemEvent::Join => {
                            match state.members.iter_mut().find(|m| m.id == user.id) {
                                // Back under a new name (a rename reconnects).
                                Some(known) => known.name.clone_from(&user.name),
                                None => {
                                    state.members.push(user.clone());
                                    state.online += 1;
                                }
                            }
                        }
                        SystemEvent::Leave => {
                            state.members.retain(|m| m.id != user.id);
                            state.online = state.online.saturating_sub(1);
                            state.stop_typing(&user.id);
                            // A pair's only notice: the stranger ended it.
                            if let Some(private) = self.private.get_mut(&room) {
                                private.open = false;
                            }
                        }
                    }
                    let after_seq = state.last_seq();
                    state.notices.push(Notice {
                        user,
                        event,
                        ts,
                        after_seq,
                    });
                }
            }
            // A big room: no notice per person, only the list and the count.
            ServerFrame::Presence {
                room,
                joined,
                left,
                online,
            } => {
                if let Some(state) = self.rooms.get_mut(&room) {
                    state.add_members(joined);
                    for user in &left {
                        state.stop_typing(&user.id);
                    }
                    state.members.retain(|m| !left.iter().any(|l| l.id == m.id));
                    state.online = online;
                }
            }
            ServerFrame::Typing { room, user, active } => {
                if let Some(state) = self.rooms.get_mut(&room) {
                    if active {
                        state.start_typing(user, now_ms + TYPING_TTL_MS);
                    } else {
                        state.stop_typing(&user.id);
                    }
                }
            }
            ServerFrame::History {
                room,
                messages,
                more,
            } => {
                if let Some(state) = self.rooms.get_mut(&room) {
                    state.more = more;
                    for message in messages {
                        state.insert(message);
                    }
                }
            }
            ServerFrame::Error {
                code,
                message,
                client_ref: Some(client_ref),
                ..
            } => self.fail(&client_ref, code, message),
            ServerFrame::Queued => {
                self.waiting_since.get_or_insert(now_ms);
            }
            ServerFrame::Unqueued => self.waiting_since = None,
            ServerFrame::Matched {
                room,
                peer,
                you,
                common,
            } => {
                self.waiting_since = None;
                self.private.insert(
                    room.clone(),
                    Private {
                        peer,
                        you: Some(you),
                        open: true,
                        common,
                    },
                );
                self.opening = Some(room);
            }
            ServerFrame::Blocked {
                user: Some(user), ..
            } => self.blocked.push(user),
            ServerFrame::Unblocked { user, .. } => self.blocked.retain(|b| *b != user),
            _ => {}
        }
    }

    fn receive(&mut self, message: Message, client_ref: Option<String>) {
        let mine = self.is_mine(&message);
        let is_current = self.reading(&message.room);
        if is_current {
            self.seen.insert(&message.room, message.seq);
        }
        let Some(state) = self.rooms.get_mut(&message.room) else {
            return;
        };
        if let Some(r) = &client_ref {
            state.pending.retain(|p| &p.client_ref != r);
        }
        if state.insert(message) && !is_current && !mine {
            state.unread += 1;
        }
    }

    /// No longer in `room`: off the list, and another room on screen if it was.
    fn forget(&mut self, room: &str) {
        self.rooms.remove(room);
        if let Some(private) = self.private.get_mut(room) {
            private.open = false;
        }
        if self.current.as_deref() == Some(room) {
            self.current = self.rooms.keys().next().cloned();
            self.read_current();
        }
    }

    /// Leaves a joined room (the server confirms with `left`): it is off the list at once.
    /// Direct conversations stay (the server would bring them back on the next
    /// connection); a pair is ended this way.
    pub fn leave(&mut self, room: &str) -> Option<ClientFrame> {
        if !self.can_leave(room) {
            return None;
        }
        self.forget(room);
        Some(ClientFrame::Leave {
            room: room.to_owned(),
        })
    }

    /// Whether `room` is joined and may be left from the list: not a direct conversation.
    pub fn can_leave(&self, room: &str) -> bool {
        self.rooms.contains_key(room) && self.private.get(room).is_none_or(|p| p.you.is_some())
    }

    /// Opens the room `step` places after (or before) the current one in the list,
    /// wrapping around (Alt+Down, Alt+Up).
    pub fn open_adjacent(&mut self, step: isize) {
        let count = self.rooms.len() as isize;
        let at = self
            .current
            .as_ref()
            .and_then(|current| self.rooms.keys().position(|room| room == current))
            .map_or(if step > 0 { -1 } else { 0 }, |at| at as isize);
        if let Some(room) = self
            .rooms
            .keys()
            .nth((at + step).rem_euclid(count.max(1)) as usize)
            .cloned()
        {
            self.open(&room);
        }
    }

    /// Adds a page of a big room's member list; `more` when another page follows.
    pub fn add_member_page(&mut self, room: &str, page: Vec<User>, more: bool) {
        if let Some(state) = self.rooms.get_mut(room) {
            state.member_cursor = page.last().filter(|_| more).map(|u| u.id.clone());
            state.add_members(page);
        }
    }

    /// Whether the person is reading `room`: it is on screen and the page is not hidden.
    fn reading(&self, room: &str) -> bool {
        !self.away && self.current.as_deref() == Some(room)
    }

    /// The page was hidden or shown again; coming back reads the room on screen.
    pub fn set_away(&mut self, away: bool) {
        self.away = away;
        if !away {
            self.read_current();
        }
    }

    /// The room on screen is read (unless the page is hidden): its count cleared, its
    /// newest message marked seen.
    fn read_current(&mut self) {
        if let Some(room) = self.current.as_ref().filter(|_| !self.away)
            && let Some(state) = self.rooms.get_mut(room)
        {
            state.unread = 0;
            self.seen.insert(room, state.last_seq());
        }
    }

    /// Unread messages in all rooms (the document title shows it).
    pub fn unread_total(&self) -> u32 {
        self.rooms.values().map(|room| room.unread).sum()
    }

    /// Whether a newly arrived message deserves a notification when the reader looks
    /// elsewhere: someone else's, in a private conversation or naming the reader.
    pub fn wants_attention(&self, message: &Message) -> bool {
        !self.is_mine(message)
            && (message.room.starts_with('~')
                || self
                    .me_in(&message.room)
                    .is_some_and(|me| crate::rich::mentions(&message.text, &me.name)))
    }

    /// How this user appears in a room: their alias in a pair, themself elsewhere.
    pub fn me_in(&self, room: &str) -> Option<&User> {
        self.private
            .get(room)
            .and_then(|p| p.you.as_ref())
            .or(self.me.as_ref())
    }

    /// What a room is called on screen: the peer's name for a private room.
    pub fn title(&self, room: &str) -> String {
        self.private
            .get(room)
            .map_or_else(|| room.to_owned(), |p| p.peer.name.clone())
    }

    /// The direct conversation with `peer`: shown at once if joined, else joined (the
    /// returned frame) and shown when the server says so.
    pub fn open_direct(&mut self, peer: User) -> Option<ClientFrame> {
        let me = self.me.as_ref()?;
        let room = chat_protocol::validate::direct_room(&me.id, &peer.id);
        self.private.entry(room.clone()).or_insert(Private {
            peer,
            ..Private::default()
        });
        if self.rooms.contains_key(&room) {
            self.open(&room);
            return None;
        }
        self.opening = Some(room.clone());
        Some(ClientFrame::Join { room, since: None })
    }

    fn fail(&mut self, client_ref: &str, code: ErrorCode, message: String) {
        for state in self.rooms.values_mut() {
            if let Some(pending) = state
                .pending
                .iter_mut()
                .find(|p| p.client_ref == client_ref)
            {
                pending.failed = Some(format!("{message} ({code})"));
            }
        }
    }

    /// Records a message the user is sending and returns the frame to send.
    pub fn send(&mut self, room: &str, text: &str) -> Option<ClientFrame> {
        let text = chat_protocol::validate::text(text).ok()?.to_owned();
        let state = self.rooms.get_mut(room)?;
        self.next_ref += 1;
        let client_ref = format!("c{}", self.next_ref);
        state.pending.push(Pending {
            client_ref: client_ref.clone(),
            text: text.clone(),
            failed: None,
        });
        Some(ClientFrame::Send {
            room: room.to_owned(),
            text,
            client_ref: Some(client_ref),
        })
    }

    /// Sends a failed message again, under a fresh `ref`.
    pub fn retry(&mut self, room: &str, client_ref: &str) -> Option<ClientFrame> {
        let state = self.rooms.get_mut(room)?;
        let index = state
            .pending
            .iter()
            .position(|p| p.client_ref == client_ref && p.failed.is_some())?;
        let pending = state.pending.remove(index);
        self.send(room, &pending.text)
    }

    /// Shows a room and clears its unread count.
    pub fn open(&mut self, room: &str) {
        if self.rooms.contains_key(room) {
            self.current = Some(room.to_owned());
            self.at_list = false;
            let away = std::mem::take(&mut self.away);
            self.read_current();
            self.away = away;
        }
    }

    /// Joins a public room and shows it once it is joined.
    pub fn join(&mut self, room: String) -> ClientFrame {
        self.opening = Some(room.clone());
        ClientFrame::Join { room, since: None }
    }

    /// Shows a room (a conversation the app was opened for) as soon as it is joined.
    pub fn show_when_joined(&mut self, room: String) {
        self.opening = Some(room);
    }

    /// Back from the open room to the room list (the phone layout's back control).
    pub fn back(&mut self) {
        self.at_list = true;
    }

    /// Whether a room is on screen rather than the list, on a phone.
    pub fn in_room(&self) -> bool {
        self.current.is_some() && !self.at_list
    }

    /// The frames that bring a fresh connection back to where this one was: every room
    /// rejoined from the last seq seen, every conversation `welcome` listed (but closed
    /// pairs) joined, then every unconfirmed message again.
    pub fn resume_frames(&self) -> Vec<ClientFrame> {
        let joins = self.rooms.iter().map(|(room, state)| ClientFrame::Join {
            room: room.clone(),
            since: Some(state.last_seq()),
        });
        let conversations = self
            .private
            .iter()
            .filter(|(room, p)| !self.rooms.contains_key(*room) && (p.you.is_none() || p.open))
            .map(|(room, _)| ClientFrame::Join {
                room: room.clone(),
                since: None,
            });
        let joins = joins.chain(conversations);
        let resends = self.rooms.iter().flat_map(|(room, state)| {
            state
                .pending
                .iter()
                .filter(|p| p.failed.is_none())
                .map(|p| ClientFrame::Send {
                    room: room.clone(),
                    text: p.text.clone(),
                    client_ref: Some(p.client_ref.clone()),
                })
        });
        joins.chain(resends).collect()
    }

    /// Whether a message is the user's own (under their alias, in a pair).
    pub fn is_mine(&self, message: &Message) -> bool {
        self.me_in(&message.room)
            .is_some_and(|me| me.id == message.from.id)
    }

    /// The public room list with live online counts for the rooms this tab has joined:
    /// their members are known from `joined` and `system` frames, while the list itself
    /// is only fetched every few seconds.
    pub fn with_live_counts(&self, mut rooms: Vec<RoomSummary>) -> Vec<RoomSummary> {
        for summary in &mut rooms {
            if let Some(room) = self.rooms.get(&summary.room) {
                summary.online = room.online;
            }
        }
        rooms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> User {
        User {
            id: id.into(),
            name: id.to_uppercase(),
        }
    }

    fn message(room: &str, seq: u64, from: &str, text: &str) -> Message {
        Message {
            room: room.into(),
            seq,
            id: format!("id{seq}"),
            from: user(from),
            text: text.into(),
            ts: 1,
        }
    }

    fn joined(room: &str, history: Vec<Message>, recovered: Option<bool>) -> ServerFrame {
        ServerFrame::Joined {
            room: room.into(),
            members: vec![user("me")],
            online: 1,
            history,
            more: false,
            recovered,
            you: None,
        }
    }

    fn live(m: Message, client_ref: Option<&str>) -> ServerFrame {
        ServerFrame::Message {
            message: m,
            client_ref: client_ref.map(str::to_owned),
        }
    }

    fn state_in(room: &str) -> ChatState {
        let mut state = ChatState::default();
        state.apply(
            ServerFrame::Welcome {
                user: user("me"),
                session: "s".into(),
                rooms: vec![],
                blocked: vec![],
            },
            0,
        );
        state.apply(joined(room, vec![], None), 0);
        state
    }

    #[test]
    fn messages_are_ordered_by_seq_and_deduplicated() {
        let mut state = state_in("r");
        state.apply(live(message("r", 2, "bob", "b"), None), 0);
        state.apply(live(message("r", 1, "bob", "a"), None), 0);
        state.apply(live(message("r", 2, "bob", "b"), None), 0);
        let texts: Vec<&str> = state.rooms["r"]
            .messages
            .values()
            .map(|m| m.text.as_str())
            .collect();
        assert_eq!(texts, ["a", "b"]);
        assert_eq!(state.rooms["r"].last_seq(), 2);
    }

    #[test]
    fn a_pending_message_becomes_sent_when_its_ref_comes_back() {
        let mut state = state_in("r");
        let frame = state.send("r", "  hello  ").expect("a frame");
        let ClientFrame::Send {
            client_ref, text, ..
        } = frame
        else {
            panic!("send frame");
        };
        assert_eq!(text, "hello");
        assert_eq!(state.rooms["r"].pending.len(), 1);
        state.apply(
            live(message("r", 1, "me", "hello"), client_ref.as_deref()),
            0,
        );
        assert!(state.rooms["r"].pending.is_empty());
        assert_eq!(state.rooms["r"].messages.len(), 1);
        assert!(state.is_mine(&state.rooms["r"].messages[&1]));
    }

    #[test]
    fn an_error_for_a_ref_marks_it_failed_and_retry_sends_it_again() {
        let mut state = state_in("r");
        let Some(ClientFrame::Send {
            client_ref: Some(r),
            ..
        }) = state.send("r", "hi")
        else {
            panic!("send frame");
        };
        state.apply(
            ServerFrame::Error {
                code: ErrorCode::RateLimited,
                message: "slow down".into(),
                client_ref: Some(r.clone()),
                retry_ms: Some(100),
            },
            0,
        );
        let failed = state.rooms["r"].pending[0].failed.clone().expect("failed");
        assert!(
            failed.contains("slow down") && failed.contains("rate_limited"),
            "{failed}"
        );
        let again = state.retry("r", &r).expect("retry frame");
        assert!(matches!(again, ClientFrame::Send { client_ref: Some(new), .. } if new != r));
        assert_eq!(state.rooms["r"].pending.len(), 1);
        assert_eq!(state.rooms["r"].pending[0].failed, None);
    }

    #[test]
    fn blank_text_is_not_sent() {
        let mut state = state_in("r");
        assert_eq!(state.send("r", "   "), None);
        assert_eq!(state.send("not-joined", "hi"), None);
    }

    #[test]
    fn unread_counts_other_rooms_only_and_opening_clears_it() {
        let mut state = state_in("a");
        state.apply(joined("b", vec![], None), 0);
        assert_eq!(state.current.as_deref(), Some("a"));
        state.apply(live(message("b", 1, "bob", "x"), None), 0);
        state.apply(live(message("b", 2, "me", "mine"), None), 0);
        state.apply(live(message("a", 1, "bob", "here"), None), 0);
        assert_eq!(state.rooms["b"].unread, 1);
        assert_eq!(state.rooms["a"].unread, 0);
        state.open("b");
        assert_eq!(state.rooms["b"].unread, 0);
        assert_eq!(state.current.as_deref(), Some("b"));
    }

    #[test]
    fn leaving_takes_a_room_off_the_list_and_shows_another() {
        let mut state = state_in("a");
        state.apply(joined("b", vec![], None), 0);
        assert_eq!(
            state.leave("a"),
            Some(ClientFrame::Leave { room: "a".into() })
        );
        assert_eq!(state.rooms.keys().collect::<Vec<_>>(), ["b"]);
        assert_eq!(state.current.as_deref(), Some("b"));
        assert_eq!(state.leave("a"), None, "not joined any more");
        state.apply(ServerFrame::Left { room: "a".into() }, 0);
        assert_eq!(state.rooms.len(), 1, "the confirmation changes nothing");
        state.open_direct(user("bob"));
        state.apply(joined("~dm.bob.me", vec![], None), 0);
        assert_eq!(state.leave("~dm.bob.me"), None, "a conversation stays");
    }

    #[test]
    fn leaving_the_open_room_reads_the_one_shown_next() {
        let mut state = state_in("a");
        state.apply(joined("b", vec![], None), 0);
        state.apply(live(message("b", 1, "bob", "x"), None), 0);
        assert_eq!(state.unread_total(), 1);
        state.leave("a");
        assert_eq!(state.current.as_deref(), Some("b"));
        assert_eq!(state.unread_total(), 0, "b is on screen now");
    }

    #[test]
    fn while_the_page_is_hidden_the_open_room_gathers_unread_messages() {
        let mut state = state_in("r");
        state.set_away(true);
        state.apply(live(message("r", 1, "bob", "while away"), None), 0);
        state.apply(
            joined("r", vec![message("r", 2, "bob", "rejoined")], Some(true)),
            0,
        );
        assert_eq!(state.unread_total(), 2);
        assert_eq!(state.seen.get("r"), 0);
        state.set_away(false);
        assert_eq!(state.unread_total(), 0, "looking again reads it");
        assert_eq!(state.seen.get("r"), 2);
    }

    #[test]
    fn a_known_member_under_a_new_name_is_renamed() {
        let mut state = state_in("r");
        state.apply(system_join("bob"), 0);
        let renamed = ServerFrame::System {
            room: "r".into(),
            event: SystemEvent::Join,
            user: User {
                id: "bob".into(),
                name: "Robert".into(),
            },
            ts: 6,
        };
        state.apply(renamed, 0);
        let room = &state.rooms["r"];
        assert_eq!(room.online, 2, "the same person");
        assert_eq!(room.members[1].name, "Robert");
        state.apply(
            ServerFrame::Presence {
                room: "r".into(),
                joined: vec![User {
                    id: "bob".into(),
                    name: "Bobby".into(),
                }],
                left: vec![],
                online: 2,
            },
            0,
        );
        assert_eq!(state.rooms["r"].members[1].name, "Bobby");
    }

    #[test]
    fn alt_arrows_walk_the_room_list_around() {
        let mut state = state_in("a");
        for room in ["b", "c"] {
            state.apply(joined(room, vec![], None), 0);
        }
        let mut visited = Vec::new();
        for step in [1, 1, 1, -1, -1] {
            state.open_adjacent(step);
            visited.push(state.current.clone().unwrap_or_default());
        }
        assert_eq!(visited, ["b", "c", "a", "c", "b"]);
        state.apply(live(message("a", 1, "bob", "x"), None), 0);
        assert_eq!(state.unread_total(), 1);
        state.open_adjacent(-1);
        assert_eq!(state.unread_total(), 0, "opening a room reads it");
    }

    #[test]
    fn unread_totals_add_up_over_rooms() {
        let mut state = state_in("a");
        state.apply(joined("b", vec![], None), 0);
        state.apply(joined("c", vec![], None), 0);
        for (room, seq) in [("b", 1), ("b", 2), ("c", 1), ("a", 1)] {
            state.apply(live(message(room, seq, "bob", "x"), None), 0);
        }
        assert_eq!(state.unread_total(), 3, "the open room's message is read");
        state.open("b");
        assert_eq!(state.unread_total(), 1);
    }

    #[test]
    fn mentions_and_private_messages_want_attention() {
        let mut state = state_in("r");
        let from_bob = |text: &str| message("r", 1, "bob", text);
        assert!(state.wants_attention(&from_bob("hey @me, look")));
        assert!(state.wants_attention(&from_bob("@ME")));
        assert!(!state.wants_attention(&from_bob("hey everyone")));
        assert!(!state.wants_attention(&from_bob("email me@example.org")));
        assert!(!state.wants_attention(&message("r", 1, "me", "talking to @me")));
        state.open_direct(user("bob"));
        assert!(state.wants_attention(&message("~dm.bob.me", 1, "bob", "psst")));
    }

    #[test]
    fn typing_expires_and_a_message_clears_it() {
        let mut state = state_in("r");
        let typing = |active| ServerFrame::Typing {
            room: "r".into(),
            user: user("bob"),
            active,
        };
        state.apply(typing(true), 1_000);
        assert_eq!(state.rooms["r"].typing_names(1_000), ["BOB"]);
        assert!(
            state.rooms["r"]
                .typing_names(1_000 + TYPING_TTL_MS)
                .is_empty()
        );
        state.apply(typing(true), 2_000);
        state.apply(live(message("r", 1, "bob", "done"), None), 2_100);
        assert!(state.rooms["r"].typing_names(2_100).is_empty());
        state.apply(typing(true), 3_000);
        state.apply(typing(false), 3_100);
        assert!(state.rooms["r"].typing_names(3_100).is_empty());
    }

    #[test]
    fn presence_follows_system_notices() {
        let mut state = state_in("r");
        state.apply(live(message("r", 1, "me", "first"), None), 0);
        let system = |event| ServerFrame::System {
            room: "r".into(),
            event,
            user: user("bob"),
            ts: 5,
        };
        state.apply(system(SystemEvent::Join), 0);
        assert_eq!(state.rooms["r"].members.len(), 2);
        assert_eq!(state.rooms["r"].notices[0].after_seq, 1);
        state.apply(system(SystemEvent::Leave), 0);
        assert_eq!(state.rooms["r"].members, vec![user("me")]);
        assert_eq!(state.rooms["r"].notices.len(), 2);
    }

    #[test]
    fn a_big_rooms_presence_updates_members_and_count_without_notices() {
        let mut state = state_in("r");
        state.apply(system_join("bob"), 0);
        assert_eq!(state.rooms["r"].online, 2);
        state.apply(
            ServerFrame::Presence {
                room: "r".into(),
                joined: vec![user("cy"), user("di")],
                left: vec![user("bob")],
                online: 340,
            },
            0,
        );
        let room = &state.rooms["r"];
        assert_eq!(room.members, vec![user("me"), user("cy"), user("di")]);
        assert_eq!(
            room.online, 340,
            "the count is the server's, not the list's"
        );
        assert_eq!(room.notices.len(), 1, "no notice per person in a big room");
        let listed = state.with_live_counts(vec![RoomSummary {
            room: "r".into(),
            online: 1,
            last_seq: 0,
            last_ts: None,
        }]);
        assert_eq!(listed[0].online, 340);
    }

    #[test]
    fn a_capped_member_list_pages_on_from_its_last_id() {
        let mut state = ChatState::default();
        state.apply(
            ServerFrame::Joined {
                room: "big".into(),
                members: vec![user("a"), user("c"), user("b")],
                online: 250,
                history: vec![],
                more: false,
                recovered: None,
                you: None,
            },
            0,
        );
        assert_eq!(state.rooms["big"].member_cursor.as_deref(), Some("c"));
        state.add_member_page("big", vec![user("d"), user("c"), user("e")], true);
        let room = &state.rooms["big"];
        assert_eq!(room.members.len(), 5, "each user once");
        assert_eq!(room.member_cursor.as_deref(), Some("e"));
        state.add_member_page("big", vec![user("f")], false);
        assert_eq!(state.rooms["big"].member_cursor, None, "the last page");
        state.apply(joined("small", vec![], None), 0);
        assert_eq!(state.rooms["small"].member_cursor, None, "everyone listed");
    }

    fn system_join(id: &str) -> ServerFrame {
        ServerFrame::System {
            room: "r".into(),
            event: SystemEvent::Join,
            user: user(id),
            ts: 5,
        }
    }

    #[test]
    fn resuming_rejoins_from_the_last_seq_and_resends_unconfirmed_messages() {
        let mut state = state_in("r");
        state.apply(live(message("r", 7, "bob", "x"), None), 0);
        state.send("r", "queued while offline");
        let frames = state.resume_frames();
        assert_eq!(
            frames[0],
            ClientFrame::Join {
                room: "r".into(),
                since: Some(7)
            }
        );
        assert!(
            matches!(&frames[1], ClientFrame::Send { text, .. } if text == "queued while offline")
        );
    }

    #[test]
    fn a_recovered_join_confirms_a_message_whose_echo_was_lost() {
        let mut state = state_in("r");
        state.send("r", "did it arrive?");
        state.apply(
            joined(
                "r",
                vec![message("r", 1, "me", "did it arrive?")],
                Some(true),
            ),
            0,
        );
        assert!(state.rooms["r"].pending.is_empty());
        assert_eq!(state.rooms["r"].messages.len(), 1);
    }

    #[test]
    fn an_unrecovered_join_replaces_the_timeline() {
        let mut state = state_in("r");
        state.apply(live(message("r", 1, "bob", "old"), None), 0);
        state.apply(
            joined("r", vec![message("r", 2000, "bob", "new")], Some(false)),
            0,
        );
        let seqs: Vec<u64> = state.rooms["r"].messages.keys().copied().collect();
        assert_eq!(seqs, [2000]);
    }

    #[test]
    fn joined_rooms_show_their_live_member_count_in_the_public_list() {
        let mut state = ChatState::default();
        state.apply(joined("r", vec![], None), 0);
        state.apply(
            ServerFrame::System {
                room: "r".into(),
                event: SystemEvent::Join,
                user: user("bob"),
                ts: 1,
            },
            1,
        );
        let fetched = |room: &str| RoomSummary {
            room: room.into(),
            online: 1,
            last_seq: 0,
            last_ts: None,
        };
        let list = state.with_live_counts(vec![fetched("r"), fetched("other")]);
        let counts: Vec<u32> = list.iter().map(|r| r.online).collect();
        assert_eq!(counts, [2, 1], "joined room live, the other as fetched");
    }

    fn welcome_with(rooms: Vec<PrivateRoom>) -> ChatState {
        let mut state = ChatState::default();
        state.apply(
            ServerFrame::Welcome {
                user: user("me"),
                session: "s".into(),
                rooms,
                blocked: vec!["pest".into()],
            },
            0,
        );
        state
    }

    #[test]
    fn conversations_from_welcome_are_joined_with_their_peer_as_title() {
        let dm = PrivateRoom {
            room: "~dm.bob.me".into(),
            peer: user("bob"),
            last_seq: 3,
            you: None,
            open: None,
        };
        let closed_pair = PrivateRoom {
            room: "~pair.old".into(),
            peer: User::alias("anon_a"),
            last_seq: 9,
            you: Some(User::alias("anon_b")),
            open: Some(false),
        };
        let mut state = welcome_with(vec![dm, closed_pair]);
        state.seen.insert("~dm.bob.me", 1);
        assert_eq!(state.blocked, ["pest"]);
        let joins: Vec<String> = state
            .resume_frames()
            .into_iter()
            .filter_map(|f| match f {
                ClientFrame::Join { room, .. } => Some(room),
                _ => None,
            })
            .collect();
        assert_eq!(joins, ["~dm.bob.me"], "a closed pair is not rejoined");
        assert_eq!(state.title("~dm.bob.me"), "BOB");
        state.apply(joined("lobby", vec![], None), 0);
        let history = (1..=3)
            .map(|seq| message("~dm.bob.me", seq, "bob", "x"))
            .collect();
        state.apply(joined("~dm.bob.me", history, None), 0);
        assert_eq!(state.rooms["~dm.bob.me"].unread, 2, "seq 2 and 3 are new");
    }

    #[test]
    fn a_pair_is_shown_when_matched_and_closes_when_the_stranger_leaves() {
        let mut state = welcome_with(vec![]);
        state.apply(joined("lobby", vec![], None), 0);
        state.apply(ServerFrame::Queued, 100);
        state.apply(ServerFrame::Queued, 200);
        assert_eq!(state.waiting_since, Some(100));
        state.apply(
            ServerFrame::Matched {
                room: "~pair.p".into(),
                peer: User::alias("anon_peer"),
                you: User::alias("anon_me"),
                common: vec!["cats".into()],
            },
            300,
        );
        assert_eq!(state.waiting_since, None);
        state.apply(joined("~pair.p", vec![], None), 300);
        assert_eq!(
            state.current.as_deref(),
            Some("~pair.p"),
            "opened when joined"
        );
        assert_eq!(state.title("~pair.p"), "Stranger");
        assert!(state.is_mine(&Message {
            from: User::alias("anon_me"),
            ..message("~pair.p", 1, "x", "mine under my alias")
        }));
        state.apply(
            ServerFrame::System {
                room: "~pair.p".into(),
                event: SystemEvent::Leave,
                user: User::alias("anon_peer"),
                ts: 5,
            },
            400,
        );
        assert!(!state.private["~pair.p"].open);
    }

    #[test]
    fn opening_a_direct_conversation_joins_it_once() {
        let mut state = welcome_with(vec![]);
        let frame = state.open_direct(user("bob"));
        assert_eq!(
            frame,
            Some(ClientFrame::Join {
                room: "~dm.bob.me".into(),
                since: None
            })
        );
        state.apply(joined("~dm.bob.me", vec![], None), 0);
        assert_eq!(state.current.as_deref(), Some("~dm.bob.me"));
        assert_eq!(state.open_direct(user("bob")), None, "already joined");
    }

    #[test]
    fn back_shows_the_list_until_a_room_is_opened_and_a_rejoin_does_not_leave_it() {
        let mut state = ChatState::default();
        assert!(!state.in_room(), "nothing to show yet");
        state.apply(joined("a", vec![], None), 0);
        assert!(state.in_room(), "the first room opens by itself");
        state.back();
        assert!(!state.in_room());
        // A reconnect rejoins the room: the list stays up.
        state.apply(joined("a", vec![], Some(true)), 0);
        assert!(!state.in_room());
        assert_eq!(state.current.as_deref(), Some("a"));
        // Joining another room from the list opens it.
        let frame = state.join("b".into());
        assert_eq!(
            frame,
            ClientFrame::Join {
                room: "b".into(),
                since: None
            }
        );
        state.apply(joined("b", vec![], None), 0);
        assert!(state.in_room());
        assert_eq!(state.current.as_deref(), Some("b"));
        state.back();
        state.open("a");
        assert!(state.in_room());
        assert_eq!(state.current.as_deref(), Some("a"));
    }
}
