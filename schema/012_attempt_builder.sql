-- Where a build attempt ran: the local host ("local") or a Nix remote builder (its store URI as
-- Nix's machines file writes it). NULL for attempts before builders, and for recipe and publish
-- attempts (those run on the host).
ALTER TABLE attempts ADD COLUMN builder TEXT;
