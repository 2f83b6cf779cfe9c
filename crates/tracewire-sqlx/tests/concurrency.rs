//! Many operations from many tasks: every connection goes back to the pool.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_returned_under_concurrency() {
    let file = std::env::temp_dir().join(format!("tracewire-conc-{}.db", std::process::id()));
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let pool = tracewire_sqlx::instrument(
        sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .unwrap(),
    );
    sqlx::query("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for t in 0..4 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                sqlx::query(
                    "INSERT INTO kv (k, v) VALUES (?1, ?2) ON CONFLICT (k) DO UPDATE SET v = ?2",
                )
                .bind(format!("k{}", i % 5))
                .bind(t * 100 + i)
                .execute(&pool)
                .await
                .unwrap();
                let _: Option<(i64,)> = sqlx::query_as("SELECT v FROM kv WHERE k = ?1")
                    .bind("k1")
                    .fetch_optional(&pool)
                    .await
                    .unwrap();
            }
        }));
    }
    let all = async {
        for task in tasks {
            task.await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(30), all)
        .await
        .expect("no connection may leak");
    // sqlx hands a connection back to the pool in the background: give it a moment.
    let idle = async {
        while pool.pool().size() as usize != pool.pool().num_idle() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), idle)
        .await
        .expect("all connections idle again");
    drop(pool);
    let _ = std::fs::remove_file(file);
}
