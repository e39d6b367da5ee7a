-- Everyone who ever had a stored session: a `dm` to an id that is not here is
-- `no_such_user`, and the name here is how a direct conversation shows its peer.
CREATE TABLE users (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO users (id, name, updated_ms)
    SELECT user_id, user_name, MAX(updated_ms) FROM sessions GROUP BY user_id;

-- Direct conversations `~dm.<a>.<b>`; their messages are in `messages` like any room's.
CREATE TABLE direct_rooms (
    room       TEXT PRIMARY KEY NOT NULL,
    user_a     TEXT NOT NULL,
    user_b     TEXT NOT NULL,
    created_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX direct_rooms_a ON direct_rooms (user_a);
CREATE INDEX direct_rooms_b ON direct_rooms (user_b);

-- Anonymous pairs `~pair.<id>`. The members only ever see each other's alias; the real
-- ids and names stay here, for moderation.
CREATE TABLE pairs (
    room         TEXT PRIMARY KEY NOT NULL,
    user_a       TEXT NOT NULL,
    name_a       TEXT NOT NULL,
    alias_a      TEXT NOT NULL,
    user_b       TEXT NOT NULL,
    name_b       TEXT NOT NULL,
    alias_b      TEXT NOT NULL,
    -- Interests both gave, comma-separated.
    common       TEXT NOT NULL,
    opened_ms    INTEGER NOT NULL,
    closed_ms    INTEGER,
    close_reason TEXT
) WITHOUT ROWID;
CREATE INDEX pairs_a ON pairs (user_a, opened_ms);
CREATE INDEX pairs_b ON pairs (user_b, opened_ms);
CREATE INDEX pairs_open ON pairs (closed_ms) WHERE closed_ms IS NULL;

CREATE TABLE blocks (
    user_id    TEXT NOT NULL,
    blocked_id TEXT NOT NULL,
    -- Made through a pair room: the blocker never learned this id, so it is not listed
    -- back to them and cannot be lifted by id.
    anonymous  INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (user_id, blocked_id)
) WITHOUT ROWID;
CREATE INDEX blocks_blocked ON blocks (blocked_id);

CREATE TABLE reports (
    -- A ULID, so newest first is the descending id.
    id            TEXT PRIMARY KEY NOT NULL,
    room          TEXT NOT NULL,
    reporter_id   TEXT NOT NULL,
    reporter_name TEXT NOT NULL,
    reason        TEXT NOT NULL,
    ts            INTEGER NOT NULL,
    -- The room's last messages with real identities, as a JSON array of Messages.
    transcript    TEXT NOT NULL
) WITHOUT ROWID;
