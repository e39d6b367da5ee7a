//! The roster of a cluster: this node's connections, plus a channel per user that is
//! online here, so that a control for a user reaches their connections on every node.

use super::bus::Bus;
use super::envelope::{ConnTarget, Event};
use super::keys::Keys;
use super::presence::{ONLINE, Presence};
use super::publisher::Publisher;
use crate::hub::ConnId;
use crate::roster::{Control, ControlSender, LocalRoster, Roster};
use chat_protocol::User;
use redis::aio::ConnectionManager;
use std::sync::Arc;

pub struct ClusterRoster {
    pub node: Arc<str>,
    pub keys: Keys,
    pub local: Arc<LocalRoster>,
    pub bus: Bus,
    pub publisher: Publisher,
    pub presence: Presence,
    pub connection: ConnectionManager,
    pub health: Arc<super::health::RedisHealth>,
}

#[async_trait::async_trait]
impl Roster for ClusterRoster {
    async fn connect(&self, user: &User, conn: ConnId, tx: ControlSender) {
        if self.local.add(&user.id, conn, tx) {
            self.bus.watch(self.keys.user_channel(&user.id)).await;
            self.presence.arrive_later(ONLINE, user);
        }
    }

    fn disconnect(&self, user_id: &str, conn: ConnId) {
        if self.local.remove(user_id, conn) {
            self.bus.unwatch(self.keys.user_channel(user_id));
            // The online pseudo-room keeps no name: only the id matters there.
            self.presence.depart(ONLINE, &User::alias(user_id));
        }
    }

    fn tell_user(&self, user_id: &str, control: &Control, except: Option<ConnId>) {
        self.local.tell_user(user_id, control, except);
        self.publisher.publish(
            self.keys.user_channel(user_id),
            Event::Control {
                target: None,
                control: control.clone(),
                except: except.map(|conn| ConnTarget {
                    node: self.node.to_string(),
                    conn,
                }),
            },
        );
    }

    fn tell_conn(&self, user_id: &str, conn: ConnId, control: Control) -> bool {
        self.local.tell_conn(user_id, conn, control)
    }

    fn is_connected(&self, user_id: &str, conn: ConnId) -> bool {
        self.local.is_connected(user_id, conn)
    }

    async fn is_online(&self, user_id: &str) -> bool {
        if self.local.is_here(user_id) {
            return true;
        }
        if !self.health.is_up() {
            // Redis away: nobody elsewhere can be seen, so nobody is assumed there.
            return false;
        }
        let mut connection = self.connection.clone();
        redis::cmd("HEXISTS")
            .arg(self.keys.whereabouts(ONLINE))
            .arg(user_id)
            .query_async::<bool>(&mut connection)
            .await
            .unwrap_or(false)
    }
}
