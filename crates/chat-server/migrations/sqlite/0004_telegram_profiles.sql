-- Telegram users' username and photo, from verified initData: kept for the bot and for
-- moderators, never sent to other users.
CREATE TABLE telegram_profiles (
    user_id     TEXT PRIMARY KEY NOT NULL,
    telegram_id INTEGER NOT NULL,
    username    TEXT,
    photo_url   TEXT,
    updated_ms  INTEGER NOT NULL
) WITHOUT ROWID;
