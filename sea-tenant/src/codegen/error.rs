//! The generator's error type.

use std::path::PathBuf;

/// What can stop the migration generator. Nothing is written when an entity or a change is
/// refused, nor when one of the two crates cannot take its file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Entities the generator cannot describe (an unsupported column type, a `schema_name`
    /// that does not fit the placement, a relation to something other than a table), one
    /// reason each.
    #[error("{}", .0.join("; "))]
    Entities(Vec<String>),

    /// Two registered entities have the same table name.
    #[error("table {0:?} is registered twice")]
    DuplicateTable(String),

    /// A foreign key the generator cannot write: to an unregistered table, or from a public
    /// table to a tenant table.
    #[error("{table}: {reason}")]
    ForeignKey {
        /// The referencing table.
        table: String,
        /// Why it is refused.
        reason: String,
    },

    /// A change between the recorded and the declared tables that the generator does not
    /// write (a column's type, a primary key, a table moving between public and the tenants).
    #[error(
        "{table}: {change} is not supported by the generator; write that migration by hand \
         and record it with `generate --snapshot-only`"
    )]
    UnsupportedChange {
        /// The table.
        table: String,
        /// What changed.
        change: String,
    },

    /// A migration name that is not snake_case.
    #[error("migration name {0:?} must be snake_case: a-z, 0-9 and _")]
    MigrationName(String),

    /// The new migration's file exists already.
    #[error("{} exists already", .0.display())]
    FileExists(PathBuf),

    /// The migration crate's `src/lib.rs` has no `migrations()` to register the new migration
    /// in.
    #[error("src/lib.rs has no {missing}; register {module} by hand")]
    Unregistrable {
        /// What was not found, e.g. `fn migrations()`.
        missing: &'static str,
        /// The new migration's module.
        module: String,
    },

    /// A snapshot file that is not valid JSON, or a snapshot that cannot be written as JSON.
    #[error("{}: {source}", path.display())]
    Snapshot {
        /// The snapshot file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },

    /// Reading or writing a file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// `Result` with the generator's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |source| Error::Io {
            path: path.to_owned(),
            source,
        }
    }
}
