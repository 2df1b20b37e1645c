//! The connection a migration set is rendered on: sea-orm's mock connection driven by a
//! recorder that keeps the text of each executed statement, and refuses reads but notes the
//! first one (a set that reads is provisioned live: see `plan.rs`).

use std::sync::{Arc, Mutex};

use sea_orm::{
    DatabaseConnection, DatabaseConnectionType, DbBackend, DbErr, ExecResult, MockDatabase,
    MockDatabaseConnection, MockDatabaseTrait, MockExecResult, QueryResult, Statement, Transaction,
};

use super::lock;

/// A connection that records into a new log, and that log.
pub(super) fn connect() -> (DatabaseConnection, RecordedLog) {
    let recorder = Recorder::default();
    let log = RecordedLog {
        statements: recorder.log.clone(),
        first_read: recorder.first_read.clone(),
    };
    let db = DatabaseConnection::from(DatabaseConnectionType::MockDatabaseConnection(Arc::new(
        MockDatabaseConnection::new(recorder),
    )));
    (db, log)
}

/// The statements a recording connection executed, and the first read it refused.
pub(super) struct RecordedLog {
    statements: Arc<Mutex<Vec<String>>>,
    first_read: Arc<Mutex<Option<String>>>,
}

impl RecordedLog {
    /// The statements recorded since the last call.
    pub(super) fn take(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.statements))
    }

    /// The first read asked of the connection, if any: noted even when the migration caught
    /// the refusal and went on, since its script would then be built on a guessed answer.
    pub(super) fn first_read(&self) -> Option<String> {
        lock(&self.first_read).clone()
    }
}

/// Records the text of every executed statement; refuses reads, which a script cannot
/// answer.
#[derive(Debug, Default)]
struct Recorder {
    log: Arc<Mutex<Vec<String>>>,
    first_read: Arc<Mutex<Option<String>>>,
}

impl MockDatabaseTrait for Recorder {
    fn execute(&mut self, _counter: usize, statement: Statement) -> Result<ExecResult, DbErr> {
        // `Display` inlines the bound values with sea-query's PostgreSQL quoting.
        lock(&self.log).push(statement.to_string());
        // sea-orm builds an `ExecResult` only inside its own mock: let a one-result mock
        // answer "done, nothing affected".
        MockDatabase::new(DbBackend::Postgres)
            .append_exec_results([MockExecResult::default()])
            .execute(0, statement)
    }

    fn query(&mut self, _counter: usize, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
        lock(&self.first_read).get_or_insert_with(|| statement.to_string());
        Err(DbErr::Custom(format!(
            "reads are not supported while rendering a migration: {}",
            statement.sql
        )))
    }

    // Each migration's own transaction is recorded statement by statement: the script wraps
    // the whole set in the caller's transaction instead.
    fn begin(&mut self) {}

    fn commit(&mut self) {}

    fn rollback(&mut self) {}

    fn drain_transaction_log(&mut self) -> Vec<Transaction> {
        Vec::new()
    }

    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    fn ping(&self) -> Result<(), DbErr> {
        Ok(())
    }
}
