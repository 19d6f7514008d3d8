-- 008: every Mattermost change the outbox was given in the last hour, by event key, so that a hook that comes late or
-- twice (or the hook of a post recovered without it) is not queued again after its item was sent and removed; and the
-- nodes running the bridge, so that the leader can tell a node that died without stopping (its hooks may be lost).

CREATE TABLE msteams_outbox_seen (
    event_key  text PRIMARY KEY,
    seen_at    bigint NOT NULL   -- Unix ms; forgotten after an hour
);
CREATE INDEX msteams_outbox_seen_at_idx ON msteams_outbox_seen (seen_at);
-- What is queued now was given too.
INSERT INTO msteams_outbox_seen (event_key, seen_at) SELECT event_key, created_at FROM msteams_outbox;

CREATE TABLE msteams_nodes (
    node_id  text PRIMARY KEY,   -- a core process's random id
    seen_at  bigint NOT NULL     -- Unix ms, the database's clock: its last heartbeat
);
