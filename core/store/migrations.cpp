// The msteams_ schema, as numbered steps embedded in the binary. Database::migrate() applies the missing ones, each
// in its own transaction, and records them in msteams_schema_migrations. Released steps are never edited.
#include <array>

#include "store/detail/migrations.hpp"

namespace msteams::store::detail {
namespace {

// 001: account links and pending OAuth flows.
constexpr std::string_view k_001_accounts = R"sql(
CREATE TABLE msteams_accounts (
    mm_user_id          text PRIMARY KEY,
    teams_user_id       text NOT NULL UNIQUE,
    teams_email         text,
    teams_display_name  text,
    token_sealed        text,            -- NULL while disconnected
    connected_at        bigint,          -- Unix ms
    disconnected_at     bigint           -- Unix ms; NULL if never disconnected
);

-- count(*) over connected accounts (the connected-users limit) reads this small partial index only.
CREATE INDEX msteams_accounts_connected_idx ON msteams_accounts (mm_user_id) WHERE token_sealed IS NOT NULL;

CREATE TABLE msteams_oauth_states (
    state            text PRIMARY KEY,
    mm_user_id       text NOT NULL,
    verifier_sealed  text NOT NULL,
    purpose          text NOT NULL CHECK (purpose IN ('user', 'bot')),
    expires_at       bigint NOT NULL  -- Unix ms
);

CREATE INDEX msteams_oauth_states_expires_idx ON msteams_oauth_states (expires_at);
)sql";

// 002: the bridge. Teams users known on the Mattermost side, portals, the message map (whose unique keys make inbound
// processing exactly once), reactions, the inbox of change notifications, subscriptions and cluster leases.
constexpr std::string_view k_002_bridge = R"sql(
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
)sql";

// 003: items that kept failing are set aside instead of blocking their conversation or being dropped; inbox items
// are claimed with a lease instead of a lock held by an open transaction.
constexpr std::string_view k_003_dead_letters = R"sql(
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
)sql";

// 004: outbox items are claimed with a lease, and a sender announces its writes to a Teams conversation, instead of
// holding a transaction (and a lock) open across the Graph requests.
constexpr std::string_view k_004_outbox_leases = R"sql(
ALTER TABLE msteams_outbox ADD COLUMN claimed_until bigint NOT NULL DEFAULT 0;   -- Unix ms; a worker's lease
ALTER TABLE msteams_portals ADD COLUMN writing_until bigint NOT NULL DEFAULT 0;  -- Unix ms; a write to Teams in flight
)sql";

// 005: Teams people's profile photos become their avatars: when each was last read from Graph, and a digest of what
// was set, so an unchanged photo is not uploaded again.
constexpr std::string_view k_005_user_photos = R"sql(
ALTER TABLE msteams_users ADD COLUMN photo_checked_at bigint NOT NULL DEFAULT 0;  -- Unix ms; 0: never
ALTER TABLE msteams_users ADD COLUMN photo_digest text NOT NULL DEFAULT '';       -- SHA-256 hex; '': no photo set
)sql";

constexpr std::array k_migrations{
    Migration{1, "001-accounts-and-oauth-states", k_001_accounts},
    Migration{2, "002-bridge", k_002_bridge},
    Migration{3, "003-dead-letters-and-inbox-leases", k_003_dead_letters},
    Migration{4, "004-outbox-leases-and-thread-writes", k_004_outbox_leases},
    Migration{5, "005-user-photos", k_005_user_photos},
};

}  // namespace

std::span<Migration const> migrations() noexcept { return k_migrations; }

}  // namespace msteams::store::detail
