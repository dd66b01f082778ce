-- One survey answer per visit across nodes (issue 7): the first node to record an answer
-- for a visit claims it here, and a second answer, on any node, is refused (409). Only
-- nodes sharing a metadata store write here; a single node keeps the flag on its
-- in-memory visit. Claims older than a day are purged.
CREATE TABLE survey_claims (
    site_id    INTEGER NOT NULL,
    session_id INTEGER NOT NULL,
    at_us      INTEGER NOT NULL,
    PRIMARY KEY (site_id, session_id)
);
