-- 013: the user sync job (syncUsersInterval). Teams users known in Mattermost keep their userPrincipalName beside their
-- mail (tenants where they differ are common), whether the bridge deactivated their synthetic user (Teams account
-- disabled or deleted; a guest while guests are not synced), the Mattermost teams the bridge added them to, and the
-- last run whose listing of the tenant had them. One row holds the job's progress, so that a run interrupted by a
-- crash or a change of leader goes on from the page it reached.

ALTER TABLE msteams_users ADD COLUMN upn text NOT NULL DEFAULT '';
ALTER TABLE msteams_users ADD COLUMN deactivated_at bigint NOT NULL DEFAULT 0;   -- Unix ms; 0: active
ALTER TABLE msteams_users ADD COLUMN team_ids text NOT NULL DEFAULT '';          -- Mattermost team ids, comma-separated, sorted
ALTER TABLE msteams_users ADD COLUMN seen_run bigint NOT NULL DEFAULT 0;
CREATE INDEX msteams_users_synthetic_idx ON msteams_users (teams_user_id) WHERE synthetic;

CREATE TABLE msteams_user_sync (
    id           integer PRIMARY KEY CHECK (id = 1),
    run          bigint NOT NULL,                -- the current or last run, from 1
    phase        text NOT NULL CHECK (phase IN ('listing', 'sweeping', 'done')),
    next_link    text NOT NULL DEFAULT '',       -- listing: Graph's @odata.nextLink of the page to read next; '': the first
    sweep_after  text NOT NULL DEFAULT '',       -- sweeping: the Teams user id after which unlisted synthetic users are checked
    started_at   bigint NOT NULL,                -- Unix ms
    finished_at  bigint NOT NULL DEFAULT 0,      -- Unix ms; 0 while running
    listed       bigint NOT NULL DEFAULT 0,      -- Teams users read in this run
    changes      bigint NOT NULL DEFAULT 0       -- Mattermost users created or changed in this run (bounded)
);
