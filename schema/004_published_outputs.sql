-- Each output is published once per organisation. flox 1.12+'s own "already published" check is
-- keyed on the checkout's HEAD, which tvd's recipe commits move, so tvd records what it built
-- (the out path of result-PKG) and what it published last, per variant and organisation.
ALTER TABLE jobs ADD COLUMN output TEXT;
ALTER TABLE jobs ADD COLUMN published_to TEXT;  -- the organisation, once its output is published
ALTER TABLE jobs ADD COLUMN note TEXT;          -- for people: "already published: /nix/store/..."
-- The revision a publish runs from, recorded before the upload: after a crash the publish is
-- tried again from the same revision, where flox's own HEAD-keyed check finds a finished upload.
ALTER TABLE jobs ADD COLUMN publish_rev TEXT;
CREATE TABLE published (
  variant TEXT NOT NULL,
  org TEXT NOT NULL,
  output TEXT NOT NULL,
  job_id INTEGER NOT NULL,
  published_at INTEGER NOT NULL,
  PRIMARY KEY (variant, org)
);
