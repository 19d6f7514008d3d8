-- 007: notices the bridge sent once and must not send again (e.g. "the client secret expires in 7 days"), by key,
-- whichever node sent them.

CREATE TABLE msteams_notices (
    key      text PRIMARY KEY,
    sent_at  bigint NOT NULL  -- Unix ms
);
