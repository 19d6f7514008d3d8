-- 002: the bridge. Teams users known on the Mattermost side, portals, the message map (whose unique keys make inbound
-- processing exactly once), reactions, the inbox of change notifications, subscriptions and cluster leases.

-- Teams users who have a Mattermost user without being connected: synthetic users the bridge created, and existing
-- Mattermost users matched by email. Connected users are in msteams_accounts.
CREATE TABLE msteams_users (
    teams_user_id  text PRIMARY KEY,
    mm_user_id     text NOT NULL UNIQUE,
    synthetic      boolean NOT NULL,
    display_name   text NOT NULL DEFAULT '',
    email          text NOT NULL DEFAULT '',
    created_at     bigint NOT NULL,       -- Unix ms
    promoted_at    bigint                 -- Unix ms; set when a synthetic user became a normal one
);

-- A conversation known on both sides: a Teams chat and a Mattermost DM/GM, or a linked channel pair.
CREATE TABLE msteams_portals (
    teams_thread_id    text PRIMARY KEY,  -- chat id, or channel id
    kind               text NOT NULL CHECK (kind IN ('chat', 'channel')),
    teams_team_id      text NOT NULL DEFAULT '',
    mm_channel_id      text NOT NULL UNIQUE,
    creator_mm_user_id text NOT NULL DEFAULT '',
    created_at         bigint NOT NULL,   -- Unix ms
    cursor_ms          bigint NOT NULL DEFAULT 0, -- lastModifiedDateTime of the newest Teams change applied
    version            bigint NOT NULL DEFAULT 0  -- bumped by every change the bridge makes in Teams
);

-- Which Teams chats have connected members, learned without reading messages.
CREATE TABLE msteams_chats (
    chat_id        text PRIMARY KEY,
    member_ids     text NOT NULL,          -- Teams user ids, comma-separated, sorted
    web_url        text NOT NULL DEFAULT '',
    checked_at     bigint NOT NULL         -- Unix ms
);

CREATE TABLE msteams_messages (
    teams_thread_id    text NOT NULL,
    teams_message_id   text NOT NULL,
    mm_post_id         text,               -- NULL while the post is being created
    mm_channel_id      text NOT NULL,
    origin             text NOT NULL CHECK (origin IN ('teams', 'mattermost')),
    teams_modified_at  bigint NOT NULL DEFAULT 0,
    pending_since      bigint,             -- Unix ms; set while mm_post_id is NULL
    deleted            boolean NOT NULL DEFAULT false,
    PRIMARY KEY (teams_thread_id, teams_message_id)
);
CREATE UNIQUE INDEX msteams_messages_post_idx ON msteams_messages (mm_post_id);

-- Reactions present on both sides, so that each side's change is applied once and echoes end here.
CREATE TABLE msteams_reactions (
    mm_post_id     text NOT NULL,
    mm_user_id     text NOT NULL,
    emoji_name     text NOT NULL,
    teams_user_id  text NOT NULL,
    reaction_type  text NOT NULL,
    PRIMARY KEY (mm_post_id, mm_user_id, emoji_name)
);

-- Bot notifications sent in notifications-only mode (one per message and recipient).
CREATE TABLE msteams_notified (
    teams_thread_id   text NOT NULL,
    teams_message_id  text NOT NULL,
    mm_user_id        text NOT NULL,
    PRIMARY KEY (teams_thread_id, teams_message_id, mm_user_id)
);

-- Change notifications received and not yet applied.
CREATE TABLE msteams_inbox (
    id               bigserial PRIMARY KEY,
    received_at      bigint NOT NULL,     -- Unix ms
    subscription_id  text NOT NULL,
    change_type      text NOT NULL,       -- created, updated, deleted, catchup
    thread_id        text NOT NULL,       -- the chat or channel: the ordering key
    message_id       text NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    not_before       bigint NOT NULL DEFAULT 0,
    last_error       text
);
CREATE INDEX msteams_inbox_thread_idx ON msteams_inbox (thread_id, id);

-- Mattermost events not yet sent to Teams. event_key makes the shim's at-least-once replay harmless.
CREATE TABLE msteams_outbox (
    id           bigserial PRIMARY KEY,
    created_at   bigint NOT NULL,         -- Unix ms
    channel_id   text NOT NULL,           -- the ordering key
    kind         text NOT NULL CHECK (kind IN ('post', 'edit', 'delete', 'react', 'unreact')),
    post_id      text NOT NULL,
    user_id      text NOT NULL,
    payload      text NOT NULL,           -- JSON
    event_key    text NOT NULL UNIQUE,
    sort_at      bigint NOT NULL,         -- when it happened in Mattermost (Unix ms): the sending order
    attempts     integer NOT NULL DEFAULT 0,
    not_before   bigint NOT NULL DEFAULT 0,
    last_error   text
);
CREATE INDEX msteams_outbox_channel_idx ON msteams_outbox (channel_id, sort_at, id);

CREATE TABLE msteams_subscriptions (
    id            text PRIMARY KEY,
    kind          text NOT NULL,          -- chats (the global subscription), user, channel
    resource      text NOT NULL,
    owner         text NOT NULL DEFAULT '',
    expires_at    bigint NOT NULL,        -- Unix ms
    created_at    bigint NOT NULL,        -- Unix ms
    state         text NOT NULL DEFAULT 'active',  -- active, reauthorize, removed, missed
    client_state_hash text NOT NULL DEFAULT ''     -- SHA-256 of the clientState it was created with (hex)
);

-- Cluster leadership: one holder per name, kept alive by renewing before expires_at (database time).
CREATE TABLE msteams_leases (
    name        text PRIMARY KEY,
    holder      text NOT NULL,
    expires_at  timestamptz NOT NULL
);
