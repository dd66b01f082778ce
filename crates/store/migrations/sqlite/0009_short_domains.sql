-- Custom short domains belong to one site (issue 17): the first site to publish a link on
-- a domain owns it, and no other site's key can publish on it or take its slugs. Domains
-- already in use are given to the site with the oldest link there.
CREATE TABLE short_domains (
    domain     TEXT PRIMARY KEY,
    site_id    INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL
);
INSERT INTO short_domains (domain, site_id, created_at)
SELECT l.domain, l.site_id, l.created_at FROM links l
WHERE l.domain <> '' AND l.id = (SELECT MIN(o.id) FROM links o WHERE o.domain = l.domain);
