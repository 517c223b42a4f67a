-- Bumped by every write of prov_vps.state, so a lifecycle event applies its reading only when
-- no job wrote the state between the event's look at the row and its update.
ALTER TABLE prov_vps ADD COLUMN state_seq INTEGER NOT NULL DEFAULT 0;
CREATE TRIGGER prov_vps_state_seq AFTER UPDATE OF state ON prov_vps
BEGIN
  UPDATE prov_vps SET state_seq = state_seq + 1 WHERE id = NEW.id;
END;
