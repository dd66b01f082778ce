//! The metadata store on PostgreSQL over TLS: a real server with `ssl = on` and a
//! certificate made for the test (`PostgresServer::start_tls`). With `sslmode=require`, and
//! with `sslmode=verify-full` against the test's certificate authority, the migrations run,
//! a site goes in and comes back, and the server reports every connection of the store as
//! encrypted. Plain connections keep working: `sslmode=disable` on that server, and the
//! default URL on a server without TLS. A server certificate that cannot be verified, or a
//! server without TLS when TLS is required, is refused.

use std::path::Path;

use lucarne_store::meta::{MetaBackend, MetaStore};
use lucarne_testkit::postgres::PostgresServer;
use sqlx::{Connection, PgConnection, Row};

/// Whether the server reports this connection as SSL.
async fn connection_is_ssl(url: &str) -> bool {
    let mut conn = PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    let ssl: bool = sqlx::query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
        .expect("pg_stat_ssl")
        .get("ssl");
    conn.close().await.expect("close");
    ssl
}

/// `(connections, of which SSL)` of the other backends connected to the database of
/// `url`, seen from a connection of its own.
async fn other_connections(url: &str) -> (i64, i64) {
    let mut conn = PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    let row = sqlx::query(
        "SELECT count(*) AS n, count(*) FILTER (WHERE s.ssl) AS ssl \
         FROM pg_stat_activity a JOIN pg_stat_ssl s ON s.pid = a.pid \
         WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()",
    )
    .fetch_one(&mut conn)
    .await
    .expect("pg_stat_activity");
    conn.close().await.expect("close");
    (row.get("n"), row.get("ssl"))
}

/// Open the store at `url` (migrations included), add `domain` and read it back; returns
/// the store, still open.
async fn round_trip(url: &str, domain: &str) -> MetaStore {
    let store = MetaStore::connect(url)
        .await
        .unwrap_or_else(|e| panic!("open the metadata store at {url}: {e}"));
    assert_eq!(store.backend(), MetaBackend::Postgres);
    let site = store.add_site(domain, "UTC").await.expect("add a site");
    assert_eq!(
        store.site_by_domain(domain).await.expect("read it back"),
        Some(site.clone())
    );
    assert_eq!(store.sites().await.expect("sites"), vec![site]);
    store
}

fn with_params(url: &str, params: &str) -> String {
    format!("{url}?{params}")
}

#[tokio::test]
async fn the_metadata_store_runs_over_tls() {
    let pg = PostgresServer::start_tls().expect("PostgreSQL with ssl = on (openssl, postgresql)");
    let ca: &Path = pg.ca_cert().expect("the server's CA certificate");
    let ca = ca.to_str().expect("a UTF-8 path");
    assert!(
        ca.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c)),
        "{ca} needs no escaping in a URL"
    );

    // sslmode=require: encrypted, the certificate not checked.
    let url = pg.create_database("tls_require").expect("a database");
    let require = with_params(&url, "sslmode=require");
    assert!(connection_is_ssl(&require).await, "require is SSL");
    let store = round_trip(&require, "require.example").await;
    let (n, ssl) = other_connections(&require).await;
    assert!(n >= 1, "the store holds a connection");
    assert_eq!(ssl, n, "every connection of the store is SSL");
    store.close().await;

    // sslmode=verify-full with the test's CA: the certificate and the host (127.0.0.1)
    // checked.
    let url = pg.create_database("tls_verify").expect("a database");
    let verify = with_params(&url, &format!("sslmode=verify-full&sslrootcert={ca}"));
    assert!(connection_is_ssl(&verify).await, "verify-full is SSL");
    let store = round_trip(&verify, "verify.example").await;
    let (n, ssl) = other_connections(&verify).await;
    assert!(n >= 1, "the store holds a connection");
    assert_eq!(ssl, n, "every connection of the store is SSL");
    store.close().await;

    // sslmode=verify-ca: the certificate checked, not the host name.
    let verify_ca = with_params(&url, &format!("sslmode=verify-ca&sslrootcert={ca}"));
    assert!(connection_is_ssl(&verify_ca).await, "verify-ca is SSL");

    // Without the CA the certificate cannot be verified: refused.
    let unverifiable = with_params(&url, "sslmode=verify-full");
    assert!(
        MetaStore::connect(&unverifiable).await.is_err(),
        "an unknown certificate authority is refused"
    );

    // The default (sslmode=prefer) takes TLS when the server offers it.
    assert!(
        connection_is_ssl(&url).await,
        "prefer is SSL on this server"
    );

    // A plain connection still works on this server.
    let url = pg.create_database("tls_disable").expect("a database");
    let plain = with_params(&url, "sslmode=disable");
    assert!(!connection_is_ssl(&plain).await, "disable is not SSL");
    round_trip(&plain, "plain.example").await.close().await;
}

#[tokio::test]
async fn a_server_without_tls_still_serves_plain_urls_and_refuses_required_tls() {
    let pg = PostgresServer::start().expect("PostgreSQL");
    let url = pg.create_database("plain").expect("a database");
    assert!(!connection_is_ssl(&url).await, "no TLS on this server");
    round_trip(&url, "plain.example").await.close().await;
    assert!(
        MetaStore::connect(&with_params(&url, "sslmode=require"))
            .await
            .is_err(),
        "sslmode=require is refused by a server without TLS"
    );
}
