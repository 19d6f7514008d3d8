-- 012: rollout controls and per-user choices. Each Mattermost user's choices (primary platform for selective sync,
-- notifications-only mode) live in their own row, written by /msteams primary and /msteams notifications; a user
-- without a row has the defaults (Mattermost primary, full bridging). The invite pool lists who a system admin
-- invited to connect. A connection's health (ok, refresh failed, needs reconnect) and when the bridge last acted
-- for it are kept on the account, for the connected-users report.
CREATE TABLE msteams_user_choices (
    mm_user_id        text PRIMARY KEY,
    primary_platform  text NOT NULL DEFAULT 'mattermost' CHECK (primary_platform IN ('mattermost', 'teams')),
    notifications     boolean NOT NULL DEFAULT false,
    updated_at        bigint NOT NULL          -- Unix ms
);

CREATE TABLE msteams_invites (
    mm_user_id   text PRIMARY KEY,
    invited_by   text NOT NULL,
    invited_at   bigint NOT NULL               -- Unix ms
);

ALTER TABLE msteams_accounts ADD COLUMN last_active_at bigint;
ALTER TABLE msteams_accounts ADD COLUMN token_health text
    CHECK (token_health IN ('ok', 'refresh_failed', 'needs_reconnect'));
