-- Share graph (issue 4): each event's own token; per visit the parent token and visit it
-- arrived through, its generation, how the token travelled and what became of it; per
-- share/copy event its button. The raw arrival token text is no longer kept.
ALTER TABLE events DROP COLUMN token_in;
ALTER TABLE events ADD COLUMN token UBIGINT DEFAULT 0;
ALTER TABLE events ADD COLUMN parent_token UBIGINT DEFAULT 0;
ALTER TABLE events ADD COLUMN parent_session UBIGINT DEFAULT 0;
ALTER TABLE events ADD COLUMN generation USMALLINT DEFAULT 0;
ALTER TABLE events ADD COLUMN visit_share_channel VARCHAR DEFAULT '';
ALTER TABLE events ADD COLUMN token_status VARCHAR DEFAULT '';
ALTER TABLE events ADD COLUMN share_channel VARCHAR DEFAULT '';
-- Tracked short links (issue 5): the link of a click/scan/preview, or of a visit.
ALTER TABLE events ADD COLUMN link_id UBIGINT DEFAULT 0
