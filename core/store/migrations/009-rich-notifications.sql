-- 009: rich change notifications. An inbox item may carry its notification's encryptedContent as it arrived (still
-- encrypted with one of the bridge's certificates; decrypted by the worker that applies it, then removed with the
-- item). The certificates Graph encrypts with: their private keys sealed like tokens, kept until no notification can
-- name them any more. A subscription records the certificate it was created or last renewed with.

ALTER TABLE msteams_inbox ADD COLUMN content text;

CREATE TABLE msteams_certificates (
    id           text PRIMARY KEY,    -- the encryptionCertificateId Graph echoes
    thumbprint   text NOT NULL,       -- uppercase hex SHA-1 of the DER
    certificate  text NOT NULL,       -- base64 of the DER (public part)
    private_key  text NOT NULL,       -- PKCS#8 PEM, sealed with the encryption key (context: the id)
    created_at   bigint NOT NULL,     -- Unix ms
    expires_at   bigint NOT NULL      -- Unix ms: the certificate's notAfter
);

ALTER TABLE msteams_subscriptions ADD COLUMN certificate_id text NOT NULL DEFAULT '';

-- A chat applied from rich notifications is not read, so its cursor (where reading stopped) stays; heard_at (Unix ms,
-- the newest change applied from one) makes the chat count as active for the periodic read forward that finds the
-- notifications Graph lost.
ALTER TABLE msteams_portals ADD COLUMN heard_at bigint NOT NULL DEFAULT 0;
