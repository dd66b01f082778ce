//! PostgreSQL test servers (to be written).
