//! The Lua scripts of the stranger line in Redis. Each runs atomically: of two nodes
//! whose users arrive at the same instant, one script runs first and sees the other's
//! ticket or nothing, so no ticket is ever taken twice, and a pair closes once.
//!
//! Keys under the namespace: `pq:line` (user id scored by arrival: `pq:arrivals`
//! counts them, so that two arrivals in one millisecond keep their order),
//! `pq:tickets` (user id to the ticket as JSON: the user, the node and connection that
//! asked, interests, whom to avoid, `since` in Redis' clock and `order`), `pairs` (open pair
//! room to its record as JSON), `pair_of` (user id to their open pair), `pair_absent`
//! (`room \x1f alias` scored by when that seat's grace ends; the presence scripts add
//! and remove them as the seat's last connection anywhere leaves or its first comes),
//! and `pairs_kept`, which exists for as long as Redis has kept the pairs (see
//! [`RESTORE`]).
//!
//! The rules are those of `pairing::queue` (one process): the longest waiting partner
//! who shares an interest, else the longest waiting of those who take anyone (a ticket
//! with interests does so once it has waited `widen` ms); never yourself, never
//! someone either avoids. A ticket whose node's lease is gone is dropped on the way.

use redis::Script;
use std::sync::LazyLock;

const FUNCTIONS: &str = r#"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function takes_anyone(t, now, widen)
  return #t.interests == 0 or now - t.since >= widen
end

local function avoids(a, b)
  for _, id in ipairs(a.avoid) do
    if id == b.user.id then return true end
  end
  return false
end

local function common(first, second)
  local shared = {}
  for _, tag in ipairs(first.interests) do
    for _, other in ipairs(second.interests) do
      if tag == other then table.insert(shared, tag) end
    end
  end
  return shared
end

-- The best partner waiting for ticket `t` (which may itself be in the line).
local function best(ns, t, now, widen)
  local line, tickets = ns .. ':pq:line', ns .. ':pq:tickets'
  local fallback = nil
  for _, id in ipairs(redis.call('ZRANGE', line, 0, -1)) do
    if id ~= t.user.id then
      local raw = redis.call('HGET', tickets, id)
      if not raw then
        redis.call('ZREM', line, id)
      else
        local o = cjson.decode(raw)
        if redis.call('EXISTS', ns .. ':lease:' .. o.node) == 0
          or redis.call('HEXISTS', ns .. ':pair_of', id) == 1 then
          -- Its node died, or it has a pair by now: the ticket is void.
          redis.call('ZREM', line, id)
          redis.call('HDEL', tickets, id)
        elseif not avoids(t, o) and not avoids(o, t) then
          if #common(t, o) > 0 then return o end
          if not fallback and takes_anyone(t, now, widen) and takes_anyone(o, now, widen) then
            fallback = o
          end
        end
      end
    end
  end
  return fallback
end

local function json_list(list)
  if #list == 0 then return '[]' end
  return cjson.encode(list)
end

-- Opens a pair of two tickets (the older first): both leave the line, both seats'
-- grace starts (it ends when each first joins the room), and the record is kept.
local function pair(ns, a, b, room, alias_a, alias_b, now, grace)
  local first, second, first_alias, second_alias = a, b, alias_a, alias_b
  if b.order < a.order then
    first, second, first_alias, second_alias = b, a, alias_b, alias_a
  end
  for _, t in ipairs({first, second}) do
    redis.call('ZREM', ns .. ':pq:line', t.user.id)
    redis.call('HDEL', ns .. ':pq:tickets', t.user.id)
    redis.call('HSET', ns .. ':pair_of', t.user.id, room)
  end
  local record = '{"room":' .. cjson.encode(room)
    .. ',"seats":[{"user":' .. cjson.encode(first.user) .. ',"alias":' .. cjson.encode(first_alias)
    .. '},{"user":' .. cjson.encode(second.user) .. ',"alias":' .. cjson.encode(second_alias)
    .. '}],"common":' .. json_list(common(first, second))
    .. ',"opened_ms":' .. string.format('%d', now) .. '}'
  redis.call('HSET', ns .. ':pairs', room, record)
  redis.call('ZADD', ns .. ':pair_absent', now + grace, room .. '\31' .. first_alias)
  redis.call('ZADD', ns .. ':pair_absent', now + grace, room .. '\31' .. second_alias)
  return {'matched', record, cjson.encode(first), cjson.encode(second)}
end

-- Removes an open pair; returns its record, or nil when it was not open.
local function unpair(ns, room)
  local raw = redis.call('HGET', ns .. ':pairs', room)
  if not raw then return nil end
  redis.call('HDEL', ns .. ':pairs', room)
  local record = cjson.decode(raw)
  for _, seat in ipairs(record.seats) do
    if redis.call('HGET', ns .. ':pair_of', seat.user.id) == room then
      redis.call('HDEL', ns .. ':pair_of', seat.user.id)
    end
    redis.call('ZREM', ns .. ':pair_absent', room .. '\31' .. seat.alias)
  end
  return raw
end

-- Every reply ends with the line's length and a version of it (each script that may
-- change the line counts one up), so that a node reporting the length keeps the
-- newest whatever order the replies reach it in.
local function with_length(ns, reply)
  table.insert(reply, tostring(redis.call('INCR', ns .. ':pq:version')))
  table.insert(reply, tostring(redis.call('ZCARD', ns .. ':pq:line')))
  return reply
end
"#;

fn script(body: &str) -> Script {
    Script::new(&format!("{FUNCTIONS}\n{body}"))
}

/// ARGV: namespace, ticket JSON (`user`, `node`, `conn`, `interests`, `avoid`; `since`
/// and `order` are set here), widen ms, grace ms, then a fresh room name and two fresh
/// aliases.
/// Returns `busy` (the user has an open pair), `waiting` (they are in the line: the
/// place moved to this ticket's connection), `queued`, or `matched` with the record
/// and both tickets (older first); then the line's version and length.
pub static ENQUEUE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local ns = ARGV[1]
local t = cjson.decode(ARGV[2])
local widen, grace = tonumber(ARGV[3]), tonumber(ARGV[4])
local tickets = ns .. ':pq:tickets'
if redis.call('HEXISTS', ns .. ':pair_of', t.user.id) == 1 then
  return with_length(ns, {'busy'})
end
local now = now_ms()
local held = redis.call('HGET', tickets, t.user.id)
if held then
  local old = cjson.decode(held)
  old.node, old.conn = t.node, t.conn
  redis.call('HSET', tickets, t.user.id, cjson.encode(old))
  return with_length(ns, {'waiting'})
end
t.since = now
t.order = redis.call('INCR', ns .. ':pq:arrivals')
local partner = best(ns, t, now, widen)
if partner then
  return with_length(ns, pair(ns, partner, t, ARGV[5], ARGV[6], ARGV[7], now, grace))
end
redis.call('HSET', tickets, t.user.id, cjson.encode(t))
redis.call('ZADD', ns .. ':pq:line', t.order, t.user.id)
return with_length(ns, {'queued', tostring(now)})
"#,
    )
});

/// ARGV: namespace, user id, widen ms, grace ms, a fresh room and two aliases. The
/// user's ticket may have waited long enough to take anyone: pairs it if someone will
/// take it. Returns `matched` as [`ENQUEUE`] does, `gone`, or `waiting` with the Redis
/// time (ms) at which the ticket stops holding out (in the past once it has).
pub static WIDEN: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local ns, me = ARGV[1], ARGV[2]
local widen, grace = tonumber(ARGV[3]), tonumber(ARGV[4])
local raw = redis.call('HGET', ns .. ':pq:tickets', me)
if not raw then return with_length(ns, {'gone'}) end
local t = cjson.decode(raw)
local now = now_ms()
local partner = best(ns, t, now, widen)
if partner then
  return with_length(ns, pair(ns, t, partner, ARGV[5], ARGV[6], ARGV[7], now, grace))
end
return with_length(ns, {'waiting', string.format('%d', t.since + widen), string.format('%d', now)})
"#,
    )
});

/// ARGV: namespace, pair room, then the tickets (as [`ENQUEUE`] returned them) of the
/// members whose connections are still there. Undoes a match one of whose asking
/// connections had gone by the time it was made (as one process does: nobody has been
/// told yet): the pair is removed and the others wait again in their old places.
/// Returns `undone` or `open` (it was gone already), then the line's version and length.
pub static UNDO: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local ns, room = ARGV[1], ARGV[2]
if not unpair(ns, room) then return with_length(ns, {'open'}) end
for i = 3, #ARGV do
  local t = cjson.decode(ARGV[i])
  if redis.call('HEXISTS', ns .. ':pair_of', t.user.id) == 0
    and redis.call('HEXISTS', ns .. ':pq:tickets', t.user.id) == 0 then
    redis.call('HSET', ns .. ':pq:tickets', t.user.id, ARGV[i])
    redis.call('ZADD', ns .. ':pq:line', t.order, t.user.id)
  end
end
return with_length(ns, {'undone'})
"#,
    )
});

/// ARGV: namespace, user id, node, connection. Gives a waiting user's place to this
/// connection; returns 1 when they were waiting.
pub static MOVE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local tickets = ARGV[1] .. ':pq:tickets'
local raw = redis.call('HGET', tickets, ARGV[2])
if not raw then return 0 end
local t = cjson.decode(raw)
t.node, t.conn = ARGV[3], tonumber(ARGV[4])
redis.call('HSET', tickets, ARGV[2], cjson.encode(t))
return 1
"#,
    )
});

/// ARGV: namespace, user id, then node and connection to take out only the ticket that
/// connection holds (empty: whichever). Returns `cancelled` or `absent`, then the
/// line's version and length.
pub static CANCEL: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local ns, me = ARGV[1], ARGV[2]
local tickets, line = ns .. ':pq:tickets', ns .. ':pq:line'
local raw = redis.call('HGET', tickets, me)
if not raw then return with_length(ns, {'absent'}) end
if ARGV[3] ~= '' then
  local t = cjson.decode(raw)
  if t.node ~= ARGV[3] or t.conn ~= tonumber(ARGV[4]) then
    return with_length(ns, {'absent'})
  end
end
redis.call('HDEL', tickets, me)
redis.call('ZREM', line, me)
return with_length(ns, {'cancelled'})
"#,
    )
});

/// ARGV: namespace, room, closer's user id. Closes the pair when it is open and the
/// closer sits in it; returns its record, or nil.
pub static CLOSE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local ns, room, closer = ARGV[1], ARGV[2], ARGV[3]
local raw = redis.call('HGET', ns .. ':pairs', room)
if not raw then return false end
local record = cjson.decode(raw)
if record.seats[1].user.id ~= closer and record.seats[2].user.id ~= closer then
  return false
end
return unpair(ns, room)
"#,
    )
});

/// ARGV: namespace. Closes the pairs a seat of which has been away longer than the
/// grace: returns room, absent alias, record triples (each pair once, to whichever
/// node asks first), then the line's version and length (so that every node's report
/// of it is at most one tick old).
pub static CLOSE_DUE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local ns = ARGV[1]
local out = {}
local due = redis.call('ZRANGEBYSCORE', ns .. ':pair_absent', '-inf', now_ms(), 'LIMIT', 0, 100)
for _, entry in ipairs(due) do
  redis.call('ZREM', ns .. ':pair_absent', entry)
  local sep = string.find(entry, '\31', 1, true)
  local room, alias = string.sub(entry, 1, sep - 1), string.sub(entry, sep + 1)
  local raw = unpair(ns, room)
  if raw then
    table.insert(out, room); table.insert(out, alias); table.insert(out, raw)
  end
end
return with_length(ns, out)
"#,
    )
});

/// ARGV: namespace, grace ms, then room, record JSON, first user id, second user id,
/// first alias, second alias for every pair the database has open. When Redis does not
/// have the pairs (it lost its data, or this is the cluster's first start), puts them
/// back: each seat not present anywhere gets the grace to come back. Once they are
/// there (`pairs_kept`) it does nothing, so that a node that read the database just
/// before a pair closed cannot open it again. Returns how many came back.
pub static RESTORE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local ns, grace = ARGV[1], tonumber(ARGV[2])
if redis.call('SET', ns .. ':pairs_kept', '1', 'NX') == false then return 0 end
local now, restored = now_ms(), 0
for i = 3, #ARGV, 6 do
  local room = ARGV[i]
  if redis.call('HSETNX', ns .. ':pairs', room, ARGV[i + 1]) == 1 then
    restored = restored + 1
    for k = 0, 1 do
      redis.call('HSETNX', ns .. ':pair_of', ARGV[i + 2 + k], room)
      local alias = ARGV[i + 4 + k]
      if redis.call('HEXISTS', ns .. ':where:' .. room, alias) == 0 then
        redis.call('ZADD', ns .. ':pair_absent', 'NX', now + grace, room .. '\31' .. alias)
      end
    end
  end
end
return restored
"#,
    )
});

#[cfg(test)]
mod tests {
    //! The rules that differ from one process's (arrival order, void tickets, restoring
    //! once), checked against a real Redis under a namespace of their own.
    use super::*;

    const WIDEN_MS: u64 = 10_000;
    const GRACE_MS: u64 = 30_000;

    /// A connection and a namespace of the test's own (`test` names it).
    async fn redis(test: &str) -> Option<(redis::aio::MultiplexedConnection, String)> {
        let url = std::env::var("CHAT_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        let connected = async {
            redis::Client::open(url.as_str())?
                .get_multiplexed_async_connection()
                .await
        };
        match tokio::time::timeout(std::time::Duration::from_secs(2), connected).await {
            Ok(Ok(connection)) => {
                let ns = format!(
                    "unit{}x{}:{test}",
                    std::process::id(),
                    crate::clock::now_ms()
                );
                Some((connection, ns))
            }
            failed => {
                let why = format!("{failed:?}");
                assert!(
                    std::env::var_os("CI").is_none_or(|v| v.is_empty()),
                    "Redis at {url} is required when CI is set: {why}"
                );
                eprintln!("skipping: no Redis at {url} ({why})");
                None
            }
        }
    }

    async fn enqueue(
        c: &mut redis::aio::MultiplexedConnection,
        ns: &str,
        id: &str,
        avoid: &[&str],
    ) -> Vec<String> {
        let ticket = serde_json::json!({
            "user": {"id": id, "name": id},
            "node": "n1",
            "conn": 1,
            "interests": [],
            "avoid": avoid,
        });
        let mut invocation = ENQUEUE.prepare_invoke();
        invocation
            .arg(ns)
            .arg(ticket.to_string())
            .arg(WIDEN_MS)
            .arg(GRACE_MS)
            .arg(format!("~pair.{id}"))
            .arg(format!("anon_{id}1"))
            .arg(format!("anon_{id}2"));
        invocation.invoke_async(c).await.unwrap_or_default()
    }

    async fn live_node(c: &mut redis::aio::MultiplexedConnection, ns: &str) {
        let _: Result<(), _> = redis::cmd("SET")
            .arg(format!("{ns}:lease:n1"))
            .arg(1)
            .arg("EX")
            .arg(60)
            .query_async(c)
            .await;
    }

    fn seat_ids(reply: &[String]) -> (String, String) {
        let record: serde_json::Value =
            serde_json::from_str(reply.get(1).map_or("", String::as_str)).unwrap_or_default();
        let id = |i: usize| {
            record["seats"][i]["user"]["id"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        };
        (id(0), id(1))
    }

    #[tokio::test]
    async fn arrivals_keep_their_order_even_within_a_millisecond() {
        let Some((mut c, ns)) = redis("order").await else {
            return;
        };
        live_node(&mut c, &ns).await;
        // "a" and "b" may not meet; all three arrive within a millisecond or two, and
        // "c" must meet "a", who came first, whatever their ids sort as.
        assert_eq!(enqueue(&mut c, &ns, "zz_a", &["b"]).await[0], "queued");
        assert_eq!(enqueue(&mut c, &ns, "b", &["zz_a"]).await[0], "queued");
        let made = enqueue(&mut c, &ns, "c", &[]).await;
        assert_eq!(made[0], "matched", "{made:?}");
        assert_eq!(seat_ids(&made), ("zz_a".to_owned(), "c".to_owned()));
        assert_eq!(made.last().map(String::as_str), Some("1"), "b waits");
    }

    #[tokio::test]
    async fn a_ticket_of_someone_in_a_pair_or_of_a_dead_node_is_void() {
        let Some((mut c, ns)) = redis("void").await else {
            return;
        };
        live_node(&mut c, &ns).await;
        assert_eq!(enqueue(&mut c, &ns, "a", &[]).await[0], "queued");
        // "a" got a pair meanwhile (say, a restored one): nobody is matched with them.
        let _: Result<(), _> = redis::cmd("HSET")
            .arg(format!("{ns}:pair_of"))
            .arg("a")
            .arg("~pair.x")
            .query_async(&mut c)
            .await;
        assert_eq!(enqueue(&mut c, &ns, "b", &[]).await[0], "queued");
        // "b"'s node dies: "c" meets nobody.
        let _: Result<(), _> = redis::cmd("DEL")
            .arg(format!("{ns}:lease:n1"))
            .query_async(&mut c)
            .await;
        let reply = enqueue(&mut c, &ns, "c", &[]).await;
        assert_eq!(reply[0], "queued", "{reply:?}");
        assert_eq!(reply.last().map(String::as_str), Some("1"), "only c waits");
    }

    #[tokio::test]
    async fn open_pairs_are_restored_once_so_a_closed_one_stays_closed() {
        let Some((mut c, ns)) = redis("restore").await else {
            return;
        };
        let record = r#"{"room":"~pair.r","seats":[{"user":{"id":"a","name":"A"},"alias":"anon_a"},{"user":{"id":"b","name":"B"},"alias":"anon_b"}],"common":[],"opened_ms":1}"#;
        let restore = |c: &mut redis::aio::MultiplexedConnection| {
            let mut invocation = RESTORE.prepare_invoke();
            invocation.arg(&ns).arg(GRACE_MS);
            invocation
                .arg("~pair.r")
                .arg(record)
                .arg("a")
                .arg("b")
                .arg("anon_a")
                .arg("anon_b");
            let mut c = c.clone();
            async move { invocation.invoke_async::<u64>(&mut c).await.unwrap_or(99) }
        };
        assert_eq!(restore(&mut c).await, 1);
        let mut close = CLOSE.prepare_invoke();
        close.arg(&ns).arg("~pair.r").arg("a");
        let closed: Option<String> = close.invoke_async(&mut c).await.unwrap_or_default();
        assert_eq!(closed.as_deref(), Some(record));
        // A node that read the database before the close landed there restores again.
        assert_eq!(restore(&mut c).await, 0);
        let open: bool = redis::cmd("HEXISTS")
            .arg(format!("{ns}:pairs"))
            .arg("~pair.r")
            .query_async(&mut c)
            .await
            .unwrap_or(true);
        assert!(!open);
    }

    #[tokio::test]
    async fn an_undone_match_puts_the_live_one_back_in_its_place() {
        let Some((mut c, ns)) = redis("undo").await else {
            return;
        };
        live_node(&mut c, &ns).await;
        assert_eq!(enqueue(&mut c, &ns, "a", &[]).await[0], "queued");
        let made = enqueue(&mut c, &ns, "b", &[]).await;
        assert_eq!(made[0], "matched", "{made:?}");
        // "b"'s connection had gone: the match is undone, "a" waits again.
        let mut undo = UNDO.prepare_invoke();
        undo.arg(&ns).arg("~pair.b").arg(&made[2]);
        let reply: Vec<String> = undo.invoke_async(&mut c).await.unwrap_or_default();
        assert_eq!(reply.first().map(String::as_str), Some("undone"));
        assert_eq!(reply.last().map(String::as_str), Some("1"), "a is back");
        let again = enqueue(&mut c, &ns, "c", &[]).await;
        assert_eq!(seat_ids(&again), ("a".to_owned(), "c".to_owned()));
        assert_eq!(
            enqueue(&mut c, &ns, "b", &[]).await[0],
            "queued",
            "b is free"
        );
    }
}
