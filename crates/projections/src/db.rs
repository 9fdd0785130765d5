use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};

use crate::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadBackend {
    Sqlite,
    Postgres,
}

/// The read model database.
#[derive(Debug, Clone)]
pub struct ReadDb {
    pub pool: AnyPool,
    pub backend: ReadBackend,
    /// The SQLite file, when it is one: a rebuild writes its folds into it
    /// through a plain SQLite connection of its own.
    pub file: Option<PathBuf>,
}

impl ReadDb {
    /// A SQLite file of its own, apart from the event log, so projection
    /// writes never wait on the log's writer (and the other way round).
    pub async fn open_sqlite(path: &Path) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL: readers never block the projection writer. NORMAL
                    // keeps commits through a process crash; read models can be
                    // rebuilt from the log in any case.
                    conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000;")
                        .await?;
                    Ok(())
                })
            })
            .connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await?;
        let db = Self {
            pool,
            backend: ReadBackend::Sqlite,
            file: Some(path.to_path_buf()),
        };
        db.migrate().await?;
        Ok(db)
    }

    /// A scratch SQLite database in memory, for a model of the past that
    /// lives as long as this handle. One connection, kept open: each SQLite
    /// in-memory connection is a database of its own.
    pub async fn open_memory() -> Result<Self> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect("sqlite::memory:")
            .await?;
        let db = Self {
            pool,
            backend: ReadBackend::Sqlite,
            file: None,
        };
        db.migrate().await?;
        Ok(db)
    }

    /// A SQLite file that is built once and thrown away on failure (a replay's
    /// shadow, an `--until` snapshot): no durability work until it is done.
    pub async fn open_sqlite_scratch(path: &Path) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // No rollback journal: a failed build is thrown away
                    // whole, so nothing ever rolls back.
                    conn.execute(
                        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; \
                         PRAGMA cache_size = -1048576; PRAGMA temp_store = MEMORY;",
                    )
                    .await?;
                    Ok(())
                })
            })
            .connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await?;
        let db = Self {
            pool,
            backend: ReadBackend::Sqlite,
            file: Some(path.to_path_buf()),
        };
        db.migrate().await?;
        Ok(db)
    }

    pub async fn connect_postgres(url: &str, max_connections: u32) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        let db = Self {
            pool,
            backend: ReadBackend::Postgres,
            file: None,
        };
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> Result<()> {
        let mut migrator = match self.backend {
            ReadBackend::Sqlite => sqlx::migrate!("../../migrations/sqlite/read"),
            ReadBackend::Postgres => sqlx::migrate!("../../migrations/postgres/read"),
        };
        // The event log's migrations may live in the same database.
        migrator.set_ignore_missing(true);
        migrator.run(&self.pool).await?;
        Ok(())
    }
}
