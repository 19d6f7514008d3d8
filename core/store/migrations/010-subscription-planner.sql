-- 010: the planner of per-user rich subscriptions (subscriptionMode per-user and hybrid). Each Teams user's activity
-- (bridged messages in their chats, halved every half-life) is stored as its value at activity_at; any node's workers
-- add to it, the leader ranks users by it. When Graph refused a subscription for the organization's quota, the budget
-- the bridge was left with is remembered (one row), so every node and the next leader plan within it.
CREATE TABLE msteams_activity (
    teams_user_id  text PRIMARY KEY,
    activity       double precision NOT NULL,
    activity_at    bigint NOT NULL          -- Unix ms
);

CREATE TABLE msteams_planner (
    id              integer PRIMARY KEY CHECK (id = 1),
    refused_budget  bigint NOT NULL,        -- subscriptions owned when Graph answered 403 for the quota
    refused_at      bigint NOT NULL         -- Unix ms
);
