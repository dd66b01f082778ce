-- Daily rollups (issue 20; ARCHITECTURE.md, "Reports at publisher scale"). For each
-- (site, UTC day, dimension, value): one row per local day the UTC day touches (its
-- slice; at most two) and one for the whole UTC day (`local_day` NULL). `dim` is '' for the
-- totals, else a property name (`visit:channel`, `event:page`, …); `value` '' for the
-- totals. Visitors are split by the day their visit started: `born` (this UTC day, so
-- this day's visitor ids) and `carried` (a visit begun the day before, still going).
CREATE TABLE rollups (
    site_id   UINTEGER NOT NULL,
    utc_day   DATE     NOT NULL,
    local_day DATE,
    dim       VARCHAR  NOT NULL,
    value     VARCHAR  NOT NULL,
    born      UBIGINT  NOT NULL,
    carried   UBIGINT  NOT NULL,
    -- `event:page` only: carried visitors whose visit had no row of this page the day
    -- before (whole day), or in that day's last slice (`_late`).
    carried_new      UBIGINT NOT NULL,
    carried_new_late UBIGINT NOT NULL,
    visits    UBIGINT  NOT NULL,
    pageviews UBIGINT  NOT NULL,
    events    UBIGINT  NOT NULL,
    ident     UBIGINT  NOT NULL,
    est       UBIGINT  NOT NULL
);
