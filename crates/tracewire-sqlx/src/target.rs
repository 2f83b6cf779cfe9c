//! What a pool points at: `db.system.name`, `server.*`, `db.namespace`.

/// The database a pool talks to, as telemetry names it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// `db.system.name`: `postgresql`, `mysql` (or `mariadb`), `sqlite`.
    pub system: &'static str,
    /// `server.address` (host, or socket path).
    pub address: Option<String>,
    /// `server.port`, recorded only when not the system's default.
    pub port: Option<u16>,
    /// `db.namespace`: the database name (SQLite: the file's name).
    pub namespace: Option<String>,
}

impl Target {
    /// The pool name for the pool metrics: `server.address:server.port/db.namespace`.
    pub fn pool_name(&self) -> String {
        let mut name = self.address.clone().unwrap_or_default();
        if let Some(port) = self.port {
            name.push_str(&format!(":{port}"));
        }
        if let Some(ns) = &self.namespace {
            name.push('/');
            name.push_str(ns);
        }
        if name.is_empty() {
            self.system.to_owned()
        } else {
            name
        }
    }
}

/// Databases tracewire knows how to describe from their connect options.
pub trait DatabaseTarget: sqlx::Database {
    /// Describes the target of a pool with these options.
    fn target(options: &<Self::Connection as sqlx::Connection>::Options) -> Target;

    /// Extracts `db.response.status_code` from a database error.
    fn status_code(error: &(dyn sqlx::error::DatabaseError + 'static)) -> Option<String> {
        error.code().map(|c| c.into_owned())
    }
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
fn port_unless(port: u16, default: u16) -> Option<u16> {
    (port != default).then_some(port)
}

#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
impl DatabaseTarget for sqlx::Postgres {
    fn target(options: &sqlx::postgres::PgConnectOptions) -> Target {
        Target {
            system: "postgresql",
            address: Some(options.get_host().to_owned()),
            port: port_unless(options.get_port(), 5432),
            namespace: options.get_database().map(str::to_owned),
        }
    }
}

#[cfg(feature = "mysql")]
#[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
impl DatabaseTarget for sqlx::MySql {
    fn target(options: &sqlx::mysql::MySqlConnectOptions) -> Target {
        Target {
            system: "mysql",
            address: Some(options.get_host().to_owned()),
            port: port_unless(options.get_port(), 3306),
            namespace: options.get_database().map(str::to_owned),
        }
    }

    /// MySQL's error number (`1062`), as semconv asks, not the SQLSTATE.
    fn status_code(error: &(dyn sqlx::error::DatabaseError + 'static)) -> Option<String> {
        match error.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
            Some(e) => Some(e.number().to_string()),
            None => error.code().map(|c| c.into_owned()),
        }
    }
}

#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
impl DatabaseTarget for sqlx::Sqlite {
    fn target(options: &sqlx::sqlite::SqliteConnectOptions) -> Target {
        let file = options.get_filename();
        Target {
            system: "sqlite",
            address: None,
            port: None,
            // The file's name, without its directory: a project choice (semconv leaves it open).
            namespace: file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .or_else(|| Some("main".to_owned())),
        }
    }
}
