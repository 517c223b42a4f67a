-- Invitations to become a partner member, for people without an account yet (issue 10's portal):
-- an owner invites an e-mail address with a role; the mailed token (only its SHA-256 is kept)
-- makes the signed-in user with that address a member, once, within 7 days.
CREATE TABLE partner_invitations (
  id            TEXT PRIMARY KEY,
  partner_id    TEXT NOT NULL,
  email         TEXT NOT NULL,
  role          TEXT NOT NULL CHECK (role IN ('owner','admin','viewer')),
  token_sha256  TEXT NOT NULL UNIQUE,
  invited_by    TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL,
  accepted_at   INTEGER
);
CREATE INDEX partner_invitations_partner ON partner_invitations(partner_id, created_at);
