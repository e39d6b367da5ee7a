-- Telegram users as the bot knows them: whether they started it (only then may it
-- write to them), muted its notifications, or blocked it (then it stops trying).
CREATE TABLE bot_users (
    telegram_id BIGINT PRIMARY KEY NOT NULL,
    started     BOOLEAN NOT NULL,
    muted       BOOLEAN NOT NULL,
    unreachable BOOLEAN NOT NULL,
    updated_ms  BIGINT NOT NULL
);
