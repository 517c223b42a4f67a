-- In-process validation (hp/acme/server.h ValidationConfig::in_process): when the authorization's
-- challenge went to processing, so that a sweeper can re-run validations a crash interrupted.
ALTER TABLE acme_authz ADD COLUMN processing_since INTEGER NOT NULL DEFAULT 0;
CREATE INDEX acme_authz_processing ON acme_authz(processing_since) WHERE chall_status = 'processing';
