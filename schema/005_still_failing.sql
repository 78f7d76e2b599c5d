-- A permanent build failure's fingerprint (the recipe's text and the environment's lock when it
-- failed): a batch skips the variant as "still failing" until it changes, across restarts.
ALTER TABLE jobs ADD COLUMN fingerprint TEXT;
