-- Telegram users as the bot knows them: whether they started it (only then may it
-- write to them), muted its notifications, or blocked it (then it stops trying).
CREATE TABLE bot_users (
    telegram_id INTEGER PRIMARY KEY NOT NULL,
    started     INTEGER NOT NULL,
    muted       INTEGER NOT NULL,
    unreachable INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL
) WITHOUT ROWID;
