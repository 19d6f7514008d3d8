-- 015: the activity feed's bulk sends (issue #15). The notifications of one post of one kind (a channel-wide mention,
-- a group message, a reply to several followers) go out together, up to 100 recipients in one
-- sendActivityNotificationToRecipients request, while each recipient keeps their own row. Microsoft accepts that
-- request as a whole (202) and skips, without a word, a recipient it will not notify (the Teams app not installed
-- for them); only a request for one user answers 403 for them. So a recipient is sent to in bulk only while
-- Microsoft accepted a notification for them alone recently (reached_at), and the rows of a bulk request Microsoft
-- refused are sent one by one (alone), which finds who is blocked.
ALTER TABLE msteams_feed ADD COLUMN alone boolean NOT NULL DEFAULT false;
ALTER TABLE msteams_feed_users ADD COLUMN reached_at bigint NOT NULL DEFAULT 0;  -- Unix ms; 0: never
