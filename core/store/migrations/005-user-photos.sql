-- 005: Teams people's profile photos become their avatars: when each was last read from Graph, and a digest of what
-- was set, so an unchanged photo is not uploaded again.

ALTER TABLE msteams_users ADD COLUMN photo_checked_at bigint NOT NULL DEFAULT 0;  -- Unix ms; 0: never
ALTER TABLE msteams_users ADD COLUMN photo_digest text NOT NULL DEFAULT '';       -- base64url SHA-256; '': no photo set
