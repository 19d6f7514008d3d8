-- 014: Teams activity-feed notifications for Teams-primary users (issue #15). A posted Mattermost message is queued
-- once (a row without a recipient, from the hook) and later expanded into one row per Teams-primary recipient, each
-- unique per (post, recipient): a hook delivered twice or an expansion run again after a crash adds nothing. Rows
-- are claimed with a lease and kept once handled (sent, dropped as read or seen, failed), so nothing is sent twice;
-- old handled rows are purged. Each Teams-primary user's feed state: whether Microsoft refused to notify them (the
-- app not installed for them, or no consent), whether they were told, and the Mattermost email and push settings
-- they had before the bridge muted them (restored when Mattermost becomes their primary platform again).
CREATE TABLE msteams_feed (
    id             bigserial PRIMARY KEY,
    post_id        text NOT NULL,
    mm_user_id     text NOT NULL DEFAULT '',    -- '': the post itself, waiting to be expanded into its recipients
    kind           text NOT NULL CHECK (kind IN ('post', 'mention', 'channelMention', 'directMessage',
                                                 'groupMessage', 'threadReply')),
    payload        text NOT NULL,               -- JSON
    created_at     bigint NOT NULL,             -- Unix ms: when the post was made
    due_at         bigint NOT NULL,             -- Unix ms: not handled before
    state          text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sent', 'dropped', 'failed')),
    claimed_until  bigint NOT NULL DEFAULT 0,   -- Unix ms; a worker's lease
    attempts       integer NOT NULL DEFAULT 0,
    last_error     text NOT NULL DEFAULT '',
    done_at        bigint NOT NULL DEFAULT 0,   -- Unix ms; 0 while queued
    UNIQUE (post_id, mm_user_id)
);
CREATE INDEX msteams_feed_due_idx ON msteams_feed (due_at, id) WHERE state = 'queued';
CREATE INDEX msteams_feed_done_idx ON msteams_feed (done_at) WHERE state <> 'queued';

CREATE TABLE msteams_feed_users (
    mm_user_id     text PRIMARY KEY,
    blocked        boolean NOT NULL DEFAULT false,  -- Microsoft refused (403): the app is not installed, or no consent
    blocked_reason text NOT NULL DEFAULT '',
    told_at        bigint NOT NULL DEFAULT 0,       -- Unix ms the user was told what to do; 0: not yet
    muted          boolean NOT NULL DEFAULT false,  -- the bridge turned their email and push notifications off
    saved_email    text NOT NULL DEFAULT '',        -- their notify_props before, restored on unmuting
    saved_push     text NOT NULL DEFAULT '',
    updated_at     bigint NOT NULL                  -- Unix ms
);
CREATE INDEX msteams_feed_users_blocked_idx ON msteams_feed_users (mm_user_id) WHERE blocked;
