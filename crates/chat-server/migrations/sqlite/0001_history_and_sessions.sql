-- Rooms hold the last assigned seq, so appends are gapless and listings are cheap.
CREATE TABLE rooms (
    name     TEXT PRIMARY KEY NOT NULL,
    last_seq INTEGER NOT NULL,
    last_ts  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE messages (
    room      TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    id        TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    user_name TEXT NOT NULL,
    text      TEXT NOT NULL,
    ts        INTEGER NOT NULL,
    PRIMARY KEY (room, seq)
) WITHOUT ROWID;

CREATE UNIQUE INDEX messages_id ON messages (id);

CREATE TABLE sessions (
    token      TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL,
    user_name  TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
) WITHOUT ROWID;
