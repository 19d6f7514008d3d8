-- 006: the inbox's change types and the subscriptions' kinds and states are closed sets, as the other tables' kinds
-- already were: the database refuses a word the code does not know (store/records.hpp names each set).

ALTER TABLE msteams_inbox ADD CONSTRAINT msteams_inbox_change_type_check
    CHECK (change_type IN ('created', 'updated', 'deleted', 'catchup'));
ALTER TABLE msteams_subscriptions ADD CONSTRAINT msteams_subscriptions_kind_check
    CHECK (kind IN ('chats', 'user', 'channel'));
ALTER TABLE msteams_subscriptions ADD CONSTRAINT msteams_subscriptions_state_check
    CHECK (state IN ('active', 'reauthorize', 'removed', 'missed'));
