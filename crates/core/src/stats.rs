//! Report queries (stats API model). Owned by the store/server work item.
