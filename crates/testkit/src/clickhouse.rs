//! ClickHouse test servers (to be written).
