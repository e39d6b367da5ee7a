//! What arrives from the other nodes, applied to this one: messages to the hub in their
//! turn, typing and notices to a room's subscribers, controls to a user's connections.

use super::bus::Inbound;
use super::envelope::{Envelope, Event};
use super::keys::Keys;
use super::presence::Presence;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::roster::{LocalRoster, Roster};
use std::sync::{Arc, OnceLock};

pub struct Applier {
    pub node: Arc<str>,
    pub keys: Keys,
    pub hub: Arc<Hub>,
    pub roster: Arc<LocalRoster>,
    pub metrics: Arc<Metrics>,
    /// Set once presence has started (it needs the publisher, which needs this).
    pub presence: OnceLock<Presence>,
}

impl Inbound for Applier {
    fn received(&self, channel: &str, payload: &[u8]) {
        let envelope: Envelope = match serde_json::from_slice(payload) {
            Ok(envelope) => envelope,
            Err(err) => {
                tracing::warn!(error = %err, %channel, "an event from Redis did not decode");
                return;
            }
        };
        if *envelope.node == *self.node {
            // This node applied its own events when it made them.
            return;
        }
        match envelope.event {
            Event::Messages { messages } => {
                let delivered = self.hub.deliver_remote(&messages);
                self.metrics.remote_deliveries.inc_by(delivered as u64);
            }
            Event::Head { room, seq } => self.hub.announce_head(&room, seq),
            Event::Typing { room, user, active } => self.hub.typing(&room, &user, active),
            Event::Presence {
                room,
                user,
                change,
                online,
            } => self.hub.presence_change(&room, change, &user, Some(online)),
            Event::Notice {
                room,
                frame,
                except,
            } => self.hub.announce(&room, &frame, &except),
            Event::Control {
                target,
                control,
                except,
            } => {
                let Some(user) = self.keys.user_of_channel(channel) else {
                    return;
                };
                match target {
                    Some(target) if *target.node == *self.node => {
                        self.roster.tell_conn(user, target.conn, control);
                    }
                    Some(_) => {}
                    None => {
                        let except = except.filter(|e| *e.node == *self.node).map(|e| e.conn);
                        self.roster.tell_user(user, &control, except);
                    }
                }
            }
        }
    }

    fn resubscribed(&self) {
        self.hub.catch_up_all();
        if let Some(presence) = self.presence.get() {
            presence.reconcile();
        }
    }
}
