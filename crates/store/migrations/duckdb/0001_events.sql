-- One wide events table. Visit-level fields are copied onto every event of the visit.
CREATE TABLE events (
    site_id         UINTEGER  NOT NULL,
    ts              TIMESTAMP NOT NULL,
    name            VARCHAR   NOT NULL,
    visitor_id      UBIGINT   NOT NULL,
    session_id      UBIGINT   NOT NULL,
    entry           BOOLEAN   NOT NULL,
    hostname        VARCHAR   NOT NULL,
    pathname        VARCHAR   NOT NULL,
    entry_page      VARCHAR   NOT NULL,
    referrer        VARCHAR   NOT NULL,
    source          VARCHAR   NOT NULL,
    utm_source      VARCHAR   NOT NULL,
    utm_medium      VARCHAR   NOT NULL,
    utm_campaign    VARCHAR   NOT NULL,
    utm_term        VARCHAR   NOT NULL,
    utm_content     VARCHAR   NOT NULL,
    click_id        VARCHAR   NOT NULL,
    channel         VARCHAR   NOT NULL,
    channel_group   VARCHAR   NOT NULL,
    evidence        VARCHAR   NOT NULL,
    device          VARCHAR   NOT NULL,
    browser         VARCHAR   NOT NULL,
    os              VARCHAR   NOT NULL,
    country         VARCHAR   NOT NULL,
    screen_width    USMALLINT NOT NULL,
    prop_keys       VARCHAR   NOT NULL, -- keys joined by U+001F
    prop_values     VARCHAR   NOT NULL, -- values joined by U+001F, same order
    revenue_minor   BIGINT,
    revenue_currency VARCHAR,
    token_in        VARCHAR   NOT NULL
);
