-- Partner users (issue 9): a user's role in a partner. owner: everything and members; admin:
-- every read and change; viewer: reads. Users sign in as usual and act through
-- /api/v1/partners/{partner}/...; ids are public ids (tenancy tables of the control plane).
CREATE TABLE partner_members (
  partner_id  TEXT NOT NULL,
  user_id     TEXT NOT NULL,
  role        TEXT NOT NULL CHECK (role IN ('owner','admin','viewer')),
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (partner_id, user_id)
) WITHOUT ROWID;
CREATE INDEX partner_members_user ON partner_members(user_id);

-- Progress of background sweeps (name -> position), e.g. the last ACME certificate row the EAB
-- usage sweep has counted.
CREATE TABLE partner_cursors (
  name   TEXT PRIMARY KEY,
  value  INTEGER NOT NULL
) WITHOUT ROWID;
