-- Rooms hold the last assigned seq. Appends lock the room's row to reserve seqs, so
-- several server nodes sharing this database still assign them without gaps.
CREATE TABLE rooms (
    name     TEXT PRIMARY KEY,
    last_seq BIGINT NOT NULL,
    last_ts  BIGINT NOT NULL
);

CREATE TABLE messages (
    room      TEXT NOT NULL,
    seq       BIGINT NOT NULL,
    id        TEXT NOT NULL UNIQUE,
    user_id   TEXT NOT NULL,
    user_name TEXT NOT NULL,
    text      TEXT NOT NULL,
    ts        BIGINT NOT NULL,
    PRIMARY KEY (room, seq)
);

CREATE TABLE sessions (
    token      TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    user_name  TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);
