-- Copied-text attribution (issue 4): off by default, because it changes what readers copy.
ALTER TABLE sites ADD COLUMN copy_attribution BIGINT NOT NULL DEFAULT 0;
