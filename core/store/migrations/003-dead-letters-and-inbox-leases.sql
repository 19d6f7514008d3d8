-- 003: items that kept failing are set aside instead of blocking their conversation or being dropped; inbox items
-- are claimed with a lease instead of a lock held by an open transaction.

CREATE TABLE msteams_dead_letters (
    id               bigserial PRIMARY KEY,
    direction        text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    thread_id        text NOT NULL,       -- the Teams chat (inbound) or the Mattermost channel (outbound)
    payload          text NOT NULL,       -- JSON: what to put back in the inbox or outbox
    error            text NOT NULL DEFAULT '',
    attempts         integer NOT NULL DEFAULT 0,
    first_failed_at  bigint NOT NULL,     -- Unix ms
    last_failed_at   bigint NOT NULL      -- Unix ms
);
CREATE INDEX msteams_dead_letters_last_idx ON msteams_dead_letters (last_failed_at);

ALTER TABLE msteams_inbox ADD COLUMN claimed_until bigint NOT NULL DEFAULT 0;  -- Unix ms; a worker's lease
ALTER TABLE msteams_inbox ADD COLUMN first_failed_at bigint;                 -- Unix ms
ALTER TABLE msteams_outbox ADD COLUMN first_failed_at bigint;                -- Unix ms
