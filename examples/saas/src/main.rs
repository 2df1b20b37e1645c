//! The example SaaS application: organizations (public) own tenant schemas holding their
//! projects and tasks.
//!
//! ```text
//! saas demo            # scripted walk-through on a fresh database `sea_tenant_example`
//! ```
//! `DATABASE_URL` names the server (default `postgres://postgres@127.0.0.1:5432/postgres`).

mod demo;
mod entity;

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let server = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let command = std::env::args().nth(1).unwrap_or_else(|| "demo".to_owned());
    let result = match command.as_str() {
        "demo" => demo::run(&server).await,
        other => Err(format!("unknown command {other:?}; try `demo`").into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
