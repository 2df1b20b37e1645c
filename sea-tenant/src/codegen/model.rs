//! A serializable description of the tables the entities declare: what a snapshot records
//! and what the diff compares.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where an entity's table lives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Placement {
    /// Once, in `public`, shared by every tenant.
    Global,
    /// In every tenant schema.
    Tenant,
    /// Once, in `public`, with a column naming the tenant of each row. Foreign keys between
    /// two such tables include that column, so a row cannot point at another tenant's row.
    AttributeTenant {
        /// The tenant column.
        column: String,
    },
}

impl Placement {
    /// The migration crate that creates the table.
    pub(crate) fn target(&self) -> Target {
        match self {
            Placement::Tenant => Target::Tenant,
            Placement::Global | Placement::AttributeTenant { .. } => Target::Public,
        }
    }
}

/// A migration crate: `migration/` for public tables, `tenant_migration/` for tenant tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// The public-schema migration crate.
    Public,
    /// The tenant migration crate, run in every tenant schema.
    Tenant,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Target::Public => "public",
            Target::Tenant => "tenant",
        })
    }
}

/// The column types the generator can write. Others are rejected with the column's name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub(crate) enum ColType {
    SmallInteger,
    Integer,
    BigInteger,
    Float,
    Double,
    Decimal(Option<(u32, u32)>),
    Char(Option<u32>),
    String(Option<u32>),
    Text,
    Boolean,
    Date,
    Time,
    DateTime,
    Timestamp,
    TimestampWithTimeZone,
    Uuid,
    Json,
    JsonBinary,
    Binary,
}

/// A column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Column {
    /// Its name.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub col_type: ColType,
    /// Whether it accepts NULL.
    pub nullable: bool,
    /// Its default, as PostgreSQL SQL text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Whether values come from a sequence (`serial`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auto_increment: bool,
}

/// A named index or unique constraint over columns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Key {
    /// The index's or constraint's name.
    pub name: String,
    /// Its columns, in order.
    pub columns: Vec<String>,
}

/// `ON DELETE` / `ON UPDATE` actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub(crate) enum FkAction {
    Cascade,
    Restrict,
    SetNull,
    SetDefault,
    NoAction,
}

/// A foreign key, resolved: where it points is decided when the model is built.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ForeignKey {
    /// The constraint's name.
    pub name: String,
    /// The referencing columns.
    pub columns: Vec<String>,
    /// `Some("public")` when the referenced table is global; `None` for a table in the same
    /// schema as the referencing one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ref_schema: Option<String>,
    /// The referenced table.
    pub ref_table: String,
    /// The referenced columns.
    pub ref_columns: Vec<String>,
    /// `ON DELETE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_delete: Option<FkAction>,
    /// `ON UPDATE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_update: Option<FkAction>,
}

/// A table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Table {
    /// Its name (unqualified).
    pub name: String,
    /// Where it lives.
    pub placement: Placement,
    /// Its columns in entity order.
    pub columns: Vec<Column>,
    /// The primary key's columns.
    pub primary_key: Vec<String>,
    /// Non-unique indexes, sorted by name.
    #[serde(default)]
    pub indexes: Vec<Key>,
    /// Unique constraints, sorted by name.
    #[serde(default)]
    pub uniques: Vec<Key>,
    /// Foreign keys, sorted by name.
    #[serde(default)]
    pub foreign_keys: Vec<ForeignKey>,
    /// On Citus ([`Registry::citus`](super::Registry::citus)): a public table that tenant
    /// tables reference, made a Citus reference table (copied to every node).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reference: bool,
}

impl Table {
    /// The column named `name`.
    pub(crate) fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Every table of one migration crate, by name: the content of a snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Snapshot {
    /// The tables.
    pub tables: BTreeMap<String, Table>,
}
