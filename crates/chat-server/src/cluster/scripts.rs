//! The Lua scripts that keep presence in Redis. Each runs atomically, so that of two
//! nodes racing for the same user exactly one sees them arrive first or leave last, and
//! only that one announces it.
//!
//! Presence is kept per room (`""` is the pseudo-room "online anywhere", which the bot
//! asks about) as four structures: `members:{room}` (user id to the user as JSON, what
//! `joined.members` lists), `ids:{room}` (the same ids in a sorted set, for the first
//! members of a big room and paging), `where:{room}` (user id to the nodes they are
//! present on), and per node `held:{node}` (every `room \x1f user` it registered), so
//! that the presence of a node that died can be removed by whichever node notices first.
//! The count of users per room lives in the sorted set `online` for `/api/rooms`.
//!
//! Arrivals and departures are published from inside the scripts, to the room's
//! channel, with the room's count after them: every node (the one that made the change
//! too) then sees the same changes with the same counts in the same order, which two
//! nodes publishing separately could not promise.

use redis::Script;
use std::sync::LazyLock;

/// Functions shared by the scripts: the one definition of arriving and departing.
const FUNCTIONS: &str = r#"
local function is_pair(room)
  return string.sub(room, 1, 6) == '~pair.'
end

-- Publishes a change to the room's channel (`channels` is the channel names' prefix;
-- '' publishes nothing) as an envelope from `from`: '' for every node, a node's name
-- for the others (that node announced it itself).
local function announce(ns, channels, from, room, change, json)
  if channels == '' or room == '' or is_pair(room) or not json then return end
  local online = redis.call('HLEN', ns .. ':members:' .. room)
  redis.call('PUBLISH', channels .. room, '{"node":' .. cjson.encode(from) ..
    ',"event":{"kind":"presence","room":' .. cjson.encode(room) .. ',"user":' .. json ..
    ',"change":"' .. change .. '","online":' .. online .. '}}')
end

local function arrive(ns, node, room, user, json, channels, from)
  local where_key = ns .. ':where:' .. room
  redis.call('SADD', ns .. ':held:' .. node, room .. '\31' .. user)
  redis.call('HSET', ns .. ':members:' .. room, user, json)
  local nodes = redis.call('HGET', where_key, user)
  if not nodes then
    redis.call('HSET', where_key, user, node)
    redis.call('ZADD', ns .. ':ids:' .. room, 0, user)
    redis.call('ZINCRBY', ns .. ':online', 1, room)
    announce(ns, channels, from, room, 'join', json)
    if is_pair(room) then
      -- Back in an anonymous pair (user is the seat's alias): its grace stops.
      redis.call('ZREM', ns .. ':pair_absent', room .. '\31' .. user)
    end
    return 1
  end
  for n in string.gmatch(nodes, '[^,]+') do
    if n == node then return 0 end
  end
  redis.call('HSET', where_key, user, nodes .. ',' .. node)
  return 0
end

local function depart(ns, node, room, user, grace, channels, from)
  redis.call('SREM', ns .. ':held:' .. node, room .. '\31' .. user)
  local where_key = ns .. ':where:' .. room
  local nodes = redis.call('HGET', where_key, user)
  if not nodes then return false end
  local rest, found = {}, false
  for n in string.gmatch(nodes, '[^,]+') do
    if n == node then found = true else table.insert(rest, n) end
  end
  if not found then return false end
  if #rest > 0 then
    redis.call('HSET', where_key, user, table.concat(rest, ','))
    return false
  end
  redis.call('HDEL', where_key, user)
  local members_key = ns .. ':members:' .. room
  local json = redis.call('HGET', members_key, user)
  redis.call('HDEL', members_key, user)
  redis.call('ZREM', ns .. ':ids:' .. room, user)
  announce(ns, channels, from, room, 'leave', json)
  if tonumber(redis.call('ZINCRBY', ns .. ':online', -1, room)) <= 0 then
    redis.call('ZREM', ns .. ':online', room)
  end
  if is_pair(room) and redis.call('HEXISTS', ns .. ':pairs', room) == 1 then
    -- The seat's last connection anywhere left an open pair: its grace starts.
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    redis.call('ZADD', ns .. ':pair_absent', now + tonumber(grace), room .. '\31' .. user)
  end
  return json or '{}'
end

-- Appends the room's count, then its members' JSON: all of them, or in a room of more
-- than `big` the first 100 by id.
local function listing(ns, room, big, reply)
  local members_key = ns .. ':members:' .. room
  local online = redis.call('HLEN', members_key)
  table.insert(reply, tostring(online))
  if online > tonumber(big) then
    local ids = redis.call('ZRANGE', ns .. ':ids:' .. room, 0, 99)
    if #ids > 0 then
      for _, json in ipairs(redis.call('HMGET', members_key, unpack(ids))) do
        if json then table.insert(reply, json) end
      end
    end
  else
    for _, json in ipairs(redis.call('HVALS', members_key)) do
      table.insert(reply, json)
    end
  end
end

local function split_entry(entry)
  local sep = string.find(entry, '\31', 1, true)
  return string.sub(entry, 1, sep - 1), string.sub(entry, sep + 1)
end
"#;

fn script(body: &str) -> Script {
    Script::new(&format!("{FUNCTIONS}\n{body}"))
}

/// ARGV: namespace, node, room, user id, user JSON, "1" to list the members, the room
/// channels' prefix, the big-room threshold. Returns "1" when the user is now present
/// in the room for the first time anywhere ("0" otherwise; the first time is published
/// to every node), then when asked the room's count and members (see `listing`).
pub static ARRIVE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local first = arrive(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[7], '')
local reply = {tostring(first)}
if ARGV[6] == '1' then listing(ARGV[1], ARGV[3], ARGV[8], reply) end
return reply
"#,
    )
});

/// ARGV: namespace, room, the big-room threshold. Returns the room's count and members
/// (see `listing`).
pub static LIST: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local reply = {}
listing(ARGV[1], ARGV[2], ARGV[3], reply)
return reply
"#,
    )
});

/// ARGV: namespace, room, the id to start after ('' for the first), how many. Returns
/// the room's count, "1" when more members follow ("0" otherwise), then their JSON in
/// id order.
pub static PAGE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local ns, room, after, limit = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local members_key = ns .. ':members:' .. room
local start = '-'
if after ~= '' then start = '(' .. after end
local ids = redis.call('ZRANGEBYLEX', ns .. ':ids:' .. room, start, '+', 'LIMIT', 0, limit + 1)
local reply = {tostring(redis.call('HLEN', members_key)), '0'}
if #ids > limit then
  reply[2] = '1'
  table.remove(ids)
end
if #ids > 0 then
  for _, json in ipairs(redis.call('HMGET', members_key, unpack(ids))) do
    if json then table.insert(reply, json) end
  end
end
return reply
"#,
    )
});

/// ARGV: namespace, node, room, user id, a pair's grace in ms, the room channels'
/// prefix. Returns the user's JSON when they are now present nowhere in the room
/// (published to every node), nil otherwise.
pub static DEPART: LazyLock<Script> = LazyLock::new(|| {
    script("return depart(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], '')")
});

/// ARGV: namespace, node, lease in ms. Renews the node's lease and registration.
/// Returns 2 × (the lease still existed) + (Redis still has its data): 3 is the normal
/// answer; anything else means this node's presence must be registered again.
pub static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local lease = ARGV[1] .. ':lease:' .. ARGV[2]
local had = redis.call('EXISTS', lease)
local epoch = redis.call('EXISTS', ARGV[1] .. ':epoch')
redis.call('SET', lease, '1', 'PX', ARGV[3])
redis.call('SADD', ARGV[1] .. ':nodes', ARGV[2])
return had * 2 + epoch
"#,
    )
});

/// ARGV: namespace, node that may be dead, a pair's grace in ms, the room channels'
/// prefix. When its lease is gone: removes all its presence and the node itself, and
/// publishes the departures of the users who are now present nowhere in a room (once:
/// a second sweep finds nothing). Returns them as room, user JSON pairs.
pub static SWEEP: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local ns, dead, grace, channels = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', ns .. ':lease:' .. dead) == 1 then return {} end
local left = {}
for _, entry in ipairs(redis.call('SMEMBERS', ns .. ':held:' .. dead)) do
  local room, user = split_entry(entry)
  local json = depart(ns, dead, room, user, grace, channels, '')
  if json then
    table.insert(left, room)
    table.insert(left, json)
  end
end
redis.call('DEL', ns .. ':held:' .. dead)
redis.call('SREM', ns .. ':nodes', dead)
return left
"#,
    )
});

/// ARGV: namespace, node, a pair's grace in ms, the room channels' prefix, then room,
/// user id, user JSON for everything the node holds now. Makes Redis agree with it
/// (after Redis was away, lost its data, or swept this node), publishing to the other
/// nodes (this one announced them when they happened) `leave` for users who left
/// meanwhile and `join` for users who arrived meanwhile (not when Redis lost its data:
/// then everyone would seem to arrive). Returns how many changes it published.
pub static RECONCILE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local ns, node, grace, channels = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local loud = redis.call('EXISTS', ns .. ':epoch') == 1
redis.call('SET', ns .. ':epoch', '1')
local want = {}
for i = 5, #ARGV, 3 do
  want[ARGV[i] .. '\31' .. ARGV[i + 1]] = {ARGV[i], ARGV[i + 1], ARGV[i + 2], false}
end
local published = 0
for _, entry in ipairs(redis.call('SMEMBERS', ns .. ':held:' .. node)) do
  local wanted = want[entry]
  if wanted then
    wanted[4] = true
  else
    local room, user = split_entry(entry)
    if depart(ns, node, room, user, grace, channels, node) then
      published = published + 1
    end
  end
end
local joins = ''
if loud then joins = channels end
for _, w in pairs(want) do
  if not w[4] and arrive(ns, node, w[1], w[2], w[3], joins, node) == 1 and loud then
    published = published + 1
  end
end
return published
"#,
    )
});
