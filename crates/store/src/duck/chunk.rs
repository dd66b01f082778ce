//! The loader's append path. Rows reach their table (`site_events`, or `link_events` for
//! short-link clicks, scans and previews; see `columns::is_link_row`) column by column, in DuckDB
//! data chunks of `duckdb_vector_size()` rows (`duckdb_append_data_chunk`), instead of
//! value by value through `duckdb::Appender::append_row`, which collects each row into
//! three vectors and crosses the C API once per value (38 times a row).
//!
//! The `duckdb` crate does not hand out its appender or connection handles, so this
//! module owns the database handle (`RawDb`) and the loader's connection (`RawConn`)
//! through the C API that crate is built on, and gives the rest of the store ordinary
//! `duckdb::Connection`s to the same database (`RawDb::connection`).
//!
//! Both tables' columns are derived from `columns::COLUMNS` (one entry per field, its
//! kind giving the DuckDB types). Safety rests on one check: `RawConn::new` compares each
//! table's column types with `Table::column_types` and refuses to load otherwise, so
//! every typed write below lands in a vector of that physical type (`DuckEvents::open`
//! also checks the names).

use std::ffi::{c_char, CStr, CString};
use std::path::Path;
use std::ptr;

use duckdb::ffi;
use duckdb::Connection;
use lucarne_core::event::{EventRow, ENGAGEMENT_EVENT};

use crate::columns::{is_link_row, stored_names, Cell, Column, Kind, COLUMNS};

use crate::events::StoreError;
use crate::spool::Position;

/// The C API types of the stored columns of a field of this kind.
fn duck_types(kind: Kind) -> &'static [ffi::duckdb_type] {
    match kind {
        Kind::Bool => &[ffi::DUCKDB_TYPE_DUCKDB_TYPE_BOOLEAN],
        Kind::U8 => &[ffi::DUCKDB_TYPE_DUCKDB_TYPE_UTINYINT],
        Kind::U16 => &[ffi::DUCKDB_TYPE_DUCKDB_TYPE_USMALLINT],
        Kind::U32 => &[ffi::DUCKDB_TYPE_DUCKDB_TYPE_UINTEGER],
        Kind::U64 => &[ffi::DUCKDB_TYPE_DUCKDB_TYPE_UBIGINT],
        Kind::Ts => &[ffi::DUCKDB_TYPE_DUCKDB_TYPE_TIMESTAMP],
        Kind::Text => &[ffi::DUCKDB_TYPE_DUCKDB_TYPE_VARCHAR],
        Kind::Props => &[
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_VARCHAR,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_VARCHAR,
        ],
        Kind::Revenue => &[
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_BIGINT,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_VARCHAR,
        ],
    }
}

/// A table the loader appends to.
#[derive(Clone, Copy, Debug)]
enum Table {
    /// Every event but the narrow link events: the wide table.
    Site,
    /// Short-link clicks, scans and previews (`columns::is_link_row`).
    Link,
    /// Engagement events (`core::event::ENGAGEMENT_EVENT`): the wide table's columns, kept
    /// apart so no report of events sees them.
    Engagement,
}

impl Table {
    const ALL: [Table; 3] = [Table::Site, Table::Link, Table::Engagement];

    fn name(self) -> &'static CStr {
        match self {
            Table::Site => c"site_events",
            Table::Link => c"link_events",
            Table::Engagement => c"engagement_events",
        }
    }

    /// The fields this table stores, in table order (`columns::COLUMNS`).
    fn fields(self) -> impl Iterator<Item = &'static Column> {
        COLUMNS
            .iter()
            .filter(move |c| !matches!(self, Table::Link) || c.in_link_table())
    }

    /// The names of its columns, in table order.
    pub(super) fn column_names(self) -> Vec<&'static str> {
        stored_names(matches!(self, Table::Link))
    }

    /// The C API type each of its columns must have, in table order.
    fn column_types(self) -> Vec<ffi::duckdb_type> {
        self.fields()
            .flat_map(|c| duck_types(c.kind).iter().copied())
            .collect()
    }
}

/// Check that `site_events` and `link_events` have the columns `columns::COLUMNS` gives
/// them, by name and in order, and that the `events` view every report reads has the
/// wide table's (a migration that adds a column must add it to both).
pub(super) fn check_names(conn: &Connection) -> Result<(), StoreError> {
    let names_of = |table: &str| -> Result<Vec<String>, StoreError> {
        let mut stmt = conn
            .prepare(
                "SELECT column_name FROM information_schema.columns \
                 WHERE table_name = ? ORDER BY ordinal_position",
            )
            .map_err(StoreError::backend)?;
        let rows = stmt
            .query_map([table], |r| r.get::<_, String>(0))
            .map_err(StoreError::backend)?;
        rows.map(|r| r.map_err(StoreError::backend)).collect()
    };
    for (table, expected) in [
        ("site_events", Table::Site.column_names()),
        ("link_events", Table::Link.column_names()),
        ("events", Table::Site.column_names()),
        ("engagement_events", Table::Engagement.column_names()),
    ] {
        let found = names_of(table)?;
        if found != expected {
            return Err(StoreError::Backend(format!(
                "{table} columns do not match this release: found {found:?}, expected {expected:?}"
            )));
        }
    }
    Ok(())
}

/// The database handle. Connections keep the database alive on their own (DuckDB
/// counts references), so dropping this before them is safe; it is dropped last anyway.
pub(super) struct RawDb(ffi::duckdb_database);

// SAFETY: a DuckDB database handle may be shared between threads; every use here
// (`duckdb_connect`, `duckdb_close`) is thread-safe in DuckDB.
unsafe impl Send for RawDb {}
unsafe impl Sync for RawDb {}

impl RawDb {
    pub(super) fn open(path: &Path) -> Result<RawDb, StoreError> {
        let c_path = CString::new(path.to_string_lossy().as_bytes())
            .map_err(|_| StoreError::Backend(format!("open {}: NUL in path", path.display())))?;
        let mut db: ffi::duckdb_database = ptr::null_mut();
        let mut err: *mut c_char = ptr::null_mut();
        let config = NoExtensionDownloads::new()?;
        // SAFETY: valid C string, out-pointers to locals, a live config; `err` is freed
        // with duckdb_free.
        let rc = unsafe { ffi::duckdb_open_ext(c_path.as_ptr(), &mut db, config.0, &mut err) };
        if rc != ffi::duckdb_state_DuckDBSuccess {
            // SAFETY: DuckDB returns a NUL-terminated message we own (or NULL).
            let msg = unsafe { message(err) };
            if !err.is_null() {
                unsafe { ffi::duckdb_free(err.cast()) };
            }
            return Err(StoreError::Backend(format!(
                "open {}: {msg}",
                path.display()
            )));
        }
        Ok(RawDb(db))
    }

    /// An ordinary `duckdb` connection to this database.
    pub(super) fn connection(&self) -> Result<Connection, StoreError> {
        // SAFETY: the handle is open until `RawDb` drops, and `open_from_raw` does not
        // close it (the connection itself keeps the database alive).
        unsafe { Connection::open_from_raw(self.0) }.map_err(StoreError::backend)
    }
}

/// DuckDB's configuration for Lucarne's database: DuckDB never downloads or loads an
/// extension on its own (by default it fetches a known extension from the internet the
/// first time a statement needs one; Lucarne makes no third-party calls).
struct NoExtensionDownloads(ffi::duckdb_config);

impl NoExtensionDownloads {
    fn new() -> Result<Self, StoreError> {
        let mut config: ffi::duckdb_config = ptr::null_mut();
        // SAFETY: out-pointer to a local; the config is destroyed in `Drop`.
        if unsafe { ffi::duckdb_create_config(&mut config) } != ffi::duckdb_state_DuckDBSuccess {
            return Err(StoreError::Backend("duckdb_create_config failed".into()));
        }
        let me = NoExtensionDownloads(config);
        for (name, value) in [
            (c"autoinstall_known_extensions", c"false"),
            (c"autoload_known_extensions", c"false"),
            (c"allow_community_extensions", c"false"),
        ] {
            // SAFETY: a live config and NUL-terminated static strings.
            let rc = unsafe { ffi::duckdb_set_config(me.0, name.as_ptr(), value.as_ptr()) };
            if rc != ffi::duckdb_state_DuckDBSuccess {
                return Err(StoreError::Backend(format!(
                    "duckdb_set_config {}",
                    name.to_string_lossy()
                )));
            }
        }
        Ok(me)
    }
}

impl Drop for NoExtensionDownloads {
    fn drop(&mut self) {
        // SAFETY: created by duckdb_create_config, destroyed once.
        unsafe { ffi::duckdb_destroy_config(&mut self.0) };
    }
}

impl Drop for RawDb {
    fn drop(&mut self) {
        // SAFETY: opened by duckdb_open_ext, closed once.
        unsafe { ffi::duckdb_close(&mut self.0) };
    }
}

/// The loader's own connection.
pub(super) struct RawConn {
    con: ffi::duckdb_connection,
}

// SAFETY: a connection may move between threads; it is used by one thread at a time
// (the loader's), which `&mut self` on every use enforces.
unsafe impl Send for RawConn {}

impl RawConn {
    /// Connect and check that each table's columns have exactly the types of
    /// `Table::column_types`.
    pub(super) fn new(db: &RawDb) -> Result<RawConn, StoreError> {
        let mut con: ffi::duckdb_connection = ptr::null_mut();
        // SAFETY: open database handle, out-pointer to a local.
        if unsafe { ffi::duckdb_connect(db.0, &mut con) } != ffi::duckdb_state_DuckDBSuccess {
            return Err(StoreError::Backend(
                "connect to events.duckdb failed".into(),
            ));
        }
        let mut conn = RawConn { con };
        for table in Table::ALL {
            let app = Appender::new(&mut conn, table)?;
            let types = app.column_types();
            drop(app);
            let expected = table.column_types();
            if types != expected {
                return Err(StoreError::Backend(format!(
                    "{} columns do not match the loader: types {types:?}, expected {expected:?}",
                    table.name().to_string_lossy()
                )));
            }
        }
        Ok(conn)
    }

    fn execute(&mut self, sql: &str) -> Result<(), StoreError> {
        let c_sql = CString::new(sql).map_err(|_| StoreError::Backend("NUL in SQL".into()))?;
        // SAFETY: zeroed result struct is the documented initial state; it is destroyed
        // whether the query succeeded or not.
        let mut res: ffi::duckdb_result = unsafe { std::mem::zeroed() };
        let rc = unsafe { ffi::duckdb_query(self.con, c_sql.as_ptr(), &mut res) };
        let out = if rc == ffi::duckdb_state_DuckDBSuccess {
            Ok(())
        } else {
            // SAFETY: the message is owned by the result, copied before it is destroyed.
            let msg = unsafe { message(ffi::duckdb_result_error(&mut res)) };
            Err(StoreError::Backend(format!("{sql}: {msg}")))
        };
        unsafe { ffi::duckdb_destroy_result(&mut res) };
        out
    }

    /// Append `rows`, each to its table, and record the spool position, in one
    /// transaction.
    pub(super) fn load(&mut self, rows: &[EventRow], pos: Position) -> Result<(), StoreError> {
        let (links, rest): (Vec<&EventRow>, Vec<&EventRow>) =
            rows.iter().partition(|r| is_link_row(r));
        let (engagement, site): (Vec<&EventRow>, Vec<&EventRow>) =
            rest.into_iter().partition(|r| r.name == ENGAGEMENT_EVENT);
        self.execute("BEGIN TRANSACTION")?;
        let result = (|| {
            for (table, rows) in [
                (Table::Site, &site),
                (Table::Link, &links),
                (Table::Engagement, &engagement),
            ] {
                if rows.is_empty() {
                    continue;
                }
                let mut app = Appender::new(self, table)?;
                let mut chunk = Chunk::new(&app, table)?;
                for part in rows.chunks(chunk.capacity) {
                    chunk.fill(part);
                    app.append(&chunk)?;
                }
                app.close()?;
            }
            // The days these rows change, for the rollup task (`rollup`), committed
            // with the rows: the ids and dates are numbers, written as literals.
            let days: std::collections::BTreeSet<(u32, chrono::NaiveDate)> = rows
                .iter()
                .map(|r| (r.site_id, r.ts.date_naive()))
                .collect();
            if !days.is_empty() {
                let values: Vec<String> = days
                    .iter()
                    .map(|(s, d)| format!("({s}, DATE '{d}', nextval('rollup_seq'))"))
                    .collect();
                self.execute(&format!(
                    "INSERT INTO rollup_marks VALUES {}",
                    values.join(", ")
                ))?;
            }
            self.execute(&format!(
                "INSERT OR REPLACE INTO spool_state (id, segment, \"offset\") VALUES (1, {}, {})",
                pos.segment, pos.offset
            ))
        })();
        match result {
            Ok(()) => self.execute("COMMIT"),
            Err(e) => {
                let _ = self.execute("ROLLBACK");
                Err(e)
            }
        }
    }
}

impl Drop for RawConn {
    fn drop(&mut self) {
        // SAFETY: connected in `new`, disconnected once.
        unsafe { ffi::duckdb_disconnect(&mut self.con) };
    }
}

/// An appender on one table, borrowed from its connection.
struct Appender<'c> {
    app: ffi::duckdb_appender,
    _conn: std::marker::PhantomData<&'c mut RawConn>,
}

impl<'c> Appender<'c> {
    fn new(conn: &'c mut RawConn, table: Table) -> Result<Appender<'c>, StoreError> {
        let mut app: ffi::duckdb_appender = ptr::null_mut();
        // SAFETY: open connection; static NUL-terminated table name; the appender is
        // destroyed in Drop even when creation failed (DuckDB allocates it to carry the
        // error).
        let rc = unsafe {
            ffi::duckdb_appender_create(conn.con, ptr::null(), table.name().as_ptr(), &mut app)
        };
        let appender = Appender {
            app,
            _conn: std::marker::PhantomData,
        };
        if rc != ffi::duckdb_state_DuckDBSuccess {
            return Err(appender.error("create appender"));
        }
        Ok(appender)
    }

    fn column_types(&self) -> Vec<ffi::duckdb_type> {
        // SAFETY: valid appender; each logical type is destroyed after reading its id.
        let n = unsafe { ffi::duckdb_appender_column_count(self.app) };
        (0..n)
            .map(|i| unsafe {
                let mut t = ffi::duckdb_appender_column_type(self.app, i);
                let id = ffi::duckdb_get_type_id(t);
                ffi::duckdb_destroy_logical_type(&mut t);
                id
            })
            .collect()
    }

    fn error(&self, what: &str) -> StoreError {
        // SAFETY: the message (if any) is owned by the appender and copied at once.
        let err = if self.app.is_null() {
            ptr::null()
        } else {
            unsafe { ffi::duckdb_appender_error(self.app) }
        };
        let msg = unsafe { message(err) };
        StoreError::Backend(format!("{what}: {msg}"))
    }

    fn append(&mut self, chunk: &Chunk) -> Result<(), StoreError> {
        // SAFETY: the chunk was built from this appender's column types.
        let rc = unsafe { ffi::duckdb_append_data_chunk(self.app, chunk.ptr) };
        if rc != ffi::duckdb_state_DuckDBSuccess {
            return Err(self.error("append chunk"));
        }
        Ok(())
    }

    /// Flush into the table (inside the caller's transaction).
    fn close(&mut self) -> Result<(), StoreError> {
        // SAFETY: valid appender.
        let rc = unsafe { ffi::duckdb_appender_close(self.app) };
        if rc != ffi::duckdb_state_DuckDBSuccess {
            return Err(self.error("flush appender"));
        }
        Ok(())
    }
}

impl Drop for Appender<'_> {
    fn drop(&mut self) {
        // SAFETY: destroyed once; a no-op on a null handle.
        unsafe { ffi::duckdb_appender_destroy(&mut self.app) };
    }
}

/// One data chunk with the table's column types, refilled for each slice of rows.
struct Chunk {
    ptr: ffi::duckdb_data_chunk,
    capacity: usize,
    table: Table,
}

impl Chunk {
    fn new(app: &Appender<'_>, table: Table) -> Result<Chunk, StoreError> {
        // SAFETY: the types are the appender's own; they are copied by
        // duckdb_create_data_chunk and destroyed here.
        let n = unsafe { ffi::duckdb_appender_column_count(app.app) };
        let mut types: Vec<ffi::duckdb_logical_type> = (0..n)
            .map(|i| unsafe { ffi::duckdb_appender_column_type(app.app, i) })
            .collect();
        let ptr = unsafe { ffi::duckdb_create_data_chunk(types.as_mut_ptr(), n) };
        for t in &mut types {
            unsafe { ffi::duckdb_destroy_logical_type(t) };
        }
        if ptr.is_null() {
            return Err(StoreError::Backend("create data chunk failed".into()));
        }
        // SAFETY: no arguments.
        let capacity = usize::try_from(unsafe { ffi::duckdb_vector_size() }).unwrap_or(1024);
        Ok(Chunk {
            ptr,
            capacity,
            table,
        })
    }

    /// Write `rows` (at most `capacity`) into the chunk, column by column, in the order
    /// of the table's columns.
    fn fill(&mut self, rows: &[&EventRow]) {
        debug_assert!(rows.len() <= self.capacity);
        let props: Vec<(String, String)> = rows
            .iter()
            .map(|r| crate::events::join_props(&r.props))
            .collect();
        // SAFETY: `RawConn::new` checked that the table's columns have the types of
        // `Table::column_types`; each call below writes the physical type of its column
        // (`duck_types`: BOOLEAN bool, UTINYINT u8, USMALLINT u16, UINTEGER u32, UBIGINT
        // u64, TIMESTAMP i64 microseconds, BIGINT i64, VARCHAR via DuckDB's string
        // assignment), at most `capacity` rows.
        unsafe {
            ffi::duckdb_data_chunk_reset(self.ptr);
            let mut w = Writer {
                chunk: self.ptr,
                col: 0,
                rows,
            };
            for c in self.table.fields() {
                w.field(c, &props);
            }
            debug_assert_eq!(w.col, self.table.column_types().len());
            ffi::duckdb_data_chunk_set_size(self.ptr, rows.len() as ffi::idx_t);
        }
    }
}

impl Writer<'_> {
    /// The stored columns of field `c`, in order; `props` holds each row's joined
    /// properties.
    unsafe fn field(&mut self, c: &Column, props: &[(String, String)]) {
        unsafe {
            match c.kind {
                Kind::Bool => self.fixed(|r| matches!((c.get)(r), Cell::Bool(true))),
                Kind::U8 => self.fixed(|r| match (c.get)(r) {
                    Cell::U8(n) => n,
                    _ => 0,
                }),
                Kind::U16 => self.fixed(|r| match (c.get)(r) {
                    Cell::U16(n) => n,
                    _ => 0,
                }),
                Kind::U32 => self.fixed(|r| match (c.get)(r) {
                    Cell::U32(n) => n,
                    _ => 0,
                }),
                Kind::U64 => self.fixed(|r| match (c.get)(r) {
                    Cell::U64(n) => n,
                    _ => 0,
                }),
                Kind::Ts => self.fixed(|r| match (c.get)(r) {
                    Cell::Ts(t) => t.timestamp_micros(),
                    _ => 0,
                }),
                Kind::Text => {
                    let v = self.next_vector();
                    for (i, r) in self.rows.iter().enumerate() {
                        match (c.get)(r) {
                            Cell::Text(s) => set_text(v, i, &s),
                            _ => set_text(v, i, ""),
                        }
                    }
                }
                Kind::Props => {
                    self.text_at(|i| &props[i].0);
                    self.text_at(|i| &props[i].1);
                }
                Kind::Revenue => {
                    self.nullable(|r| r.revenue.as_ref().map(|v| v.amount_minor));
                    self.nullable_text(|r| r.revenue.as_ref().map(|v| v.currency.as_str()));
                }
            }
        }
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        // SAFETY: created in `new`, destroyed once.
        unsafe { ffi::duckdb_destroy_data_chunk(&mut self.ptr) };
    }
}

/// Writes one column after another into a chunk.
struct Writer<'r> {
    chunk: ffi::duckdb_data_chunk,
    col: usize,
    rows: &'r [&'r EventRow],
}

impl<'r> Writer<'r> {
    unsafe fn next_vector(&mut self) -> ffi::duckdb_vector {
        let v = unsafe { ffi::duckdb_data_chunk_get_vector(self.chunk, self.col as ffi::idx_t) };
        self.col += 1;
        v
    }

    /// A fixed-width column; `T` must be the column's physical type.
    unsafe fn fixed<T: Copy>(&mut self, f: impl Fn(&EventRow) -> T) {
        unsafe {
            let v = self.next_vector();
            let data = ffi::duckdb_vector_get_data(v).cast::<T>();
            for (i, r) in self.rows.iter().enumerate() {
                data.add(i).write(f(r));
            }
        }
    }

    /// A nullable fixed-width column.
    unsafe fn nullable<T: Copy + Default>(&mut self, f: impl Fn(&EventRow) -> Option<T>) {
        unsafe {
            let v = self.next_vector();
            let data = ffi::duckdb_vector_get_data(v).cast::<T>();
            let mut validity: *mut u64 = ptr::null_mut();
            for (i, r) in self.rows.iter().enumerate() {
                match f(r) {
                    Some(x) => data.add(i).write(x),
                    None => {
                        data.add(i).write(T::default());
                        set_null(v, &mut validity, i);
                    }
                }
            }
        }
    }

    /// A VARCHAR column from the `i`-th row's string.
    unsafe fn text_at<'s>(&mut self, f: impl Fn(usize) -> &'s str) {
        unsafe {
            let v = self.next_vector();
            for i in 0..self.rows.len() {
                set_text(v, i, f(i));
            }
        }
    }

    /// A nullable VARCHAR column.
    unsafe fn nullable_text(&mut self, f: impl Fn(&'r EventRow) -> Option<&'r str>) {
        let rows = self.rows;
        unsafe {
            let v = self.next_vector();
            let mut validity: *mut u64 = ptr::null_mut();
            for (i, r) in rows.iter().enumerate() {
                match f(r) {
                    Some(s) => set_text(v, i, s),
                    None => set_null(v, &mut validity, i),
                }
            }
        }
    }
}

/// A copy of DuckDB's error message `err` (NULL: none given).
unsafe fn message(err: *const c_char) -> String {
    if err.is_null() {
        return "unknown error".to_string();
    }
    // SAFETY: the caller passes a NUL-terminated string that lives through this call.
    unsafe { CStr::from_ptr(err) }
        .to_string_lossy()
        .into_owned()
}

/// Row `i` of the VARCHAR vector `v` is `s` (DuckDB copies it).
unsafe fn set_text(v: ffi::duckdb_vector, i: usize, s: &str) {
    unsafe {
        ffi::duckdb_vector_assign_string_element_len(
            v,
            i as ffi::idx_t,
            s.as_ptr().cast::<c_char>(),
            s.len() as ffi::idx_t,
        );
    }
}

/// Mark row `i` of `v` NULL, making the validity mask writable on first use. A chunk
/// reset gives every vector a fresh (all-valid) mask.
unsafe fn set_null(v: ffi::duckdb_vector, validity: &mut *mut u64, i: usize) {
    unsafe {
        if validity.is_null() {
            ffi::duckdb_vector_ensure_validity_writable(v);
            *validity = ffi::duckdb_vector_get_validity(v);
        }
        ffi::duckdb_validity_set_row_invalid(*validity, i as ffi::idx_t);
    }
}
