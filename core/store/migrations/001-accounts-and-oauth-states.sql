-- 001: account links and pending OAuth flows.

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
