-- 004: outbox items are claimed with a lease, and a sender announces its writes to a Teams conversation, instead of
-- holding a transaction (and a lock) open across the Graph requests.

ALTER TABLE msteams_outbox ADD COLUMN claimed_until bigint NOT NULL DEFAULT 0;   -- Unix ms; a worker's lease
ALTER TABLE msteams_portals ADD COLUMN writing_until bigint NOT NULL DEFAULT 0;  -- Unix ms; a write to Teams in flight
