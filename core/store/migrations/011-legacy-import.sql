-- 011: the import of the official Mattermost MS Teams plugin's data (its msteamssync_ tables, which stay as they are)
-- on the first activation after it was replaced by this plugin (docs/upgrade.md). One row per step: where it stands,
-- so that a crash or a stop continues from the last batch committed and a finished import never runs again, and
-- what it did, for the log, the admins' direct message and /msteams status.
CREATE TABLE msteams_legacy_import (
    step         text PRIMARY KEY CHECK (step IN ('settings', 'accounts', 'users', 'links', 'messages')),
    after_key    text NOT NULL DEFAULT '',   -- the source key of the last row done; rows are read in key order
    done         boolean NOT NULL DEFAULT false,
    imported     bigint NOT NULL DEFAULT 0,
    skipped      bigint NOT NULL DEFAULT 0,  -- present already, or nothing left in Mattermost to attach it to
    failed       bigint NOT NULL DEFAULT 0,  -- could not be read (a token that does not decrypt)
    note         text NOT NULL DEFAULT '',   -- settings: what was carried over
    started_at   bigint NOT NULL,            -- Unix ms
    finished_at  bigint NOT NULL DEFAULT 0   -- Unix ms; 0 while not done
);

-- What could not be imported, by step and source key (the Mattermost user id of a token that does not decrypt).
CREATE TABLE msteams_legacy_import_problems (
    step        text NOT NULL,
    source_key  text NOT NULL,
    problem     text NOT NULL,
    PRIMARY KEY (step, source_key)
);
