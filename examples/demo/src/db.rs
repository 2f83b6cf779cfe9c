//! The orders table, in SQLite by default (a file in the temp directory) or
//! in PostgreSQL when `DATABASE_URL` names one.

use tracewire_sqlx::TracedPool;

/// The shop's database.
#[derive(Clone)]
pub enum Db {
    Sqlite(TracedPool<sqlx::Sqlite>),
    Postgres(TracedPool<sqlx::Postgres>),
}

/// One order as the API shows it.
#[derive(Debug, serde::Serialize)]
pub struct Order {
    pub id: i64,
    pub item: String,
    pub quantity: i64,
    pub status: String,
}

impl Db {
    /// Connects and creates the table. `DATABASE_URL=postgres://…` picks
    /// PostgreSQL; anything else (or nothing) a fresh SQLite file.
    pub async fn open() -> Result<(Self, String), sqlx::Error> {
        match std::env::var("DATABASE_URL") {
            Ok(url) if url.starts_with("postgres") => {
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(8)
                    .connect(&url)
                    .await?;
                let db = Self::Postgres(tracewire_sqlx::instrument(pool));
                db.execute(
                    "CREATE TABLE IF NOT EXISTS demo_orders (id BIGSERIAL PRIMARY KEY, item TEXT NOT NULL, quantity BIGINT NOT NULL, status TEXT NOT NULL)",
                )
                .await?;
                Ok((db, redact(&url)))
            }
            _ => {
                let path =
                    std::env::temp_dir().join(format!("tracewire-demo-{}.db", std::process::id()));
                let _ = std::fs::remove_file(&path);
                let options = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true)
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .busy_timeout(std::time::Duration::from_secs(5));
                let pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect_with(options)
                    .await?;
                let db = Self::Sqlite(tracewire_sqlx::instrument(pool));
                db.execute(
                    "CREATE TABLE IF NOT EXISTS demo_orders (id INTEGER PRIMARY KEY AUTOINCREMENT, item TEXT NOT NULL, quantity INTEGER NOT NULL, status TEXT NOT NULL)",
                )
                .await?;
                Ok((db, format!("SQLite file {}", path.display())))
            }
        }
    }

    async fn execute(&self, sql: &'static str) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(drop),
            Self::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(drop),
        }
    }

    /// Inserts a queued order; returns its id.
    pub async fn insert(&self, item: &str, quantity: i64) -> Result<i64, sqlx::Error> {
        match self {
            Self::Sqlite(pool) => {
                sqlx::query_scalar("INSERT INTO demo_orders (item, quantity, status) VALUES (?, ?, 'queued') RETURNING id")
                    .bind(item)
                    .bind(quantity)
                    .fetch_one(pool)
                    .await
            }
            Self::Postgres(pool) => {
                sqlx::query_scalar("INSERT INTO demo_orders (item, quantity, status) VALUES ($1, $2, 'queued') RETURNING id")
                    .bind(item)
                    .bind(quantity)
                    .fetch_one(pool)
                    .await
            }
        }
    }

    /// The stock check of an item: the `discontinued` items read a table that
    /// does not exist, so the database answers with an error (on purpose).
    pub async fn check_stock(&self, item: &str) -> Result<(), sqlx::Error> {
        let sql = if item.starts_with("discontinued") {
            "SELECT count(*) FROM demo_discontinued_stock"
        } else {
            "SELECT count(*) FROM demo_orders"
        };
        match self {
            Self::Sqlite(pool) => sqlx::query(sql).fetch_one(pool).await.map(drop),
            Self::Postgres(pool) => sqlx::query(sql).fetch_one(pool).await.map(drop),
        }
    }

    pub async fn get(&self, id: i64) -> Result<Option<Order>, sqlx::Error> {
        let row: Option<(i64, String, i64, String)> = match self {
            Self::Sqlite(pool) => {
                sqlx::query_as("SELECT id, item, quantity, status FROM demo_orders WHERE id = ?")
                    .bind(id)
                    .fetch_optional(pool)
                    .await?
            }
            Self::Postgres(pool) => {
                sqlx::query_as("SELECT id, item, quantity, status FROM demo_orders WHERE id = $1")
                    .bind(id)
                    .fetch_optional(pool)
                    .await?
            }
        };
        Ok(row.map(|(id, item, quantity, status)| Order {
            id,
            item,
            quantity,
            status,
        }))
    }

    pub async fn set_status(&self, id: i64, status: &str) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite(pool) => sqlx::query("UPDATE demo_orders SET status = ? WHERE id = ?")
                .bind(status)
                .bind(id)
                .execute(pool)
                .await
                .map(drop),
            Self::Postgres(pool) => sqlx::query("UPDATE demo_orders SET status = $1 WHERE id = $2")
                .bind(status)
                .bind(id)
                .execute(pool)
                .await
                .map(drop),
        }
    }
}

/// The SQLite file of this run (removed at exit by [`remove_sqlite_files`]).
fn sqlite_path() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("tracewire-demo-{}.db", std::process::id()))
}

/// Removes this run's SQLite file and its WAL companions, if any.
pub fn remove_sqlite_files() {
    let path = sqlite_path();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// A database URL without its password, for the banner.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
