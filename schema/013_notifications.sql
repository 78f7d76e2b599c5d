-- Notifications (daemon/notify/): each receiver's cursor, the id of the last job event it has
-- been given (or given up on), so that a restart delivers what is left and nothing twice that a
-- receiver took. A receiver is known by its name; a new one starts at the newest event.
CREATE TABLE notify_cursors (
  receiver   TEXT PRIMARY KEY,
  event_id   INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

-- A variant's outcomes in order: what a new failure or success follows (newly failing, fixed).
CREATE INDEX events_by_variant ON events(environment, package, id);
