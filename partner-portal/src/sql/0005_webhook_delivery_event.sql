-- A repeated Publish with a source_id looks up the event's never-attempted deliveries by event_id;
-- without this index that was a scan of every delivery ever made.
CREATE INDEX webhook_deliveries_event ON webhook_deliveries(event_id, attempts);
