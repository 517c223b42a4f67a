-- AutoSSL customer-supplied certificates (issue 7): where a certificate came from. 'acme' rows are
-- issued and renewed by AutoSSL; 'upload' rows were uploaded by the customer and are never renewed
-- or revoked automatically (AutoSSL leaves them alone until a new issuance is requested).
ALTER TABLE autossl_certificates ADD COLUMN source TEXT NOT NULL DEFAULT 'acme';
