//! ```text
//! saas demo                     # scripted walk-through on a fresh database `sea_tenant_example`
//! saas serve [ADDR]             # the HTTP API (default 127.0.0.1:3000) on that database
//! ```
//! `DATABASE_URL` names the server (default `postgres://postgres@127.0.0.1:5432/postgres`).

use std::process::ExitCode;

use saas_example::{api, demo};

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
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_else(|| "demo".to_owned());
    let result = match command.as_str() {
        "demo" => demo::run(&server).await,
        "serve" => {
            let addr = args.next().unwrap_or_else(|| "127.0.0.1:3000".to_owned());
            api::serve(&demo::database_url(&server), &addr).await
        }
        other => Err(format!("unknown command {other:?}; try `demo` or `serve`").into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
