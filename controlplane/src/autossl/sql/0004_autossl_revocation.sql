-- AutoSSL customer revocation (issue 10): the last certificate the customer revoked for this name
-- (serial, BR reason, when). A revoked AutoSSL certificate that was still deployed is replaced at
-- once with a new key; these columns keep what was revoked after the replacement arrives.
ALTER TABLE autossl_certificates ADD COLUMN revoked_serial TEXT NOT NULL DEFAULT '';
ALTER TABLE autossl_certificates ADD COLUMN revoked_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE autossl_certificates ADD COLUMN revoked_at INTEGER NOT NULL DEFAULT 0;
-- A renewed certificate's predecessor (issue 7): revoked as superseded once the renewal has been
-- deployed and the grace period (autossl.supersede_grace_s) has passed.
ALTER TABLE autossl_certificates ADD COLUMN superseded_pem TEXT NOT NULL DEFAULT '';
ALTER TABLE autossl_certificates ADD COLUMN supersede_at INTEGER NOT NULL DEFAULT 0;
