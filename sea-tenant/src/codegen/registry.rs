//! The application's list of entities, each with its placement, turned into [`Snapshot`]s.

use std::collections::BTreeMap;

use sea_orm::sea_query::{
    ColumnType, ForeignKeyAction, PostgresQueryBuilder, Query, StringLen, TableRef,
};
use sea_orm::{
    ColumnTrait, DbBackend, EntityTrait, IdenStatic, Iterable, PrimaryKeyToColumn, PrimaryKeyTrait,
    RelationTrait, Schema,
};

use super::error::{Error, Result};
use super::model::{
    ColType, Column, FkAction, ForeignKey, Key, Placement, Snapshot, Table, Target,
};

/// The entities the generator writes migrations for, each declared once as global, tenant or
/// attribute-tenant.
///
/// ```
/// use sea_tenant::codegen::{Codegen, Registry, Target};
///
/// mod post {
///     use sea_orm::entity::prelude::*;
///     #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
///     #[sea_orm(table_name = "post")]
///     pub struct Model {
///         #[sea_orm(primary_key)]
///         pub id: i32,
///         pub title: String,
///     }
///     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
///     pub enum Relation {}
///     impl ActiveModelBehavior for ActiveModel {}
/// }
///
/// let registry = Registry::new().tenant::<post::Entity>();
/// // Crates with no snapshot yet: everything is to be created.
/// let scratch = std::env::temp_dir().join("sea_tenant_registry_doc");
/// let codegen = Codegen::new(registry, scratch.join("migration"), scratch.join("tenant_migration"));
/// assert_eq!(codegen.pending()?[&Target::Tenant], ["create table post"]);
/// # Ok::<(), sea_tenant::codegen::Error>(())
/// ```
#[derive(Default)]
pub struct Registry {
    entries: Vec<Entry>,
    errors: Vec<String>,
    citus: bool,
}

struct Entry {
    table: Table,
    relations: Vec<RawFk>,
}

/// A `belongs_to` relation before its target's placement is known.
struct RawFk {
    name: Option<String>,
    columns: Vec<String>,
    ref_table: String,
    ref_columns: Vec<String>,
    on_delete: Option<FkAction>,
    on_update: Option<FkAction>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A table in `public`, shared by all tenants.
    pub fn global<E: EntityTrait>(self) -> Self {
        self.add::<E>(Placement::Global)
    }

    /// A table in every tenant schema. The entity must not set `schema_name`.
    pub fn tenant<E: EntityTrait>(self) -> Self {
        self.add::<E>(Placement::Tenant)
    }

    /// A table in `public` whose `column` names each row's tenant.
    pub fn attribute_tenant<E: EntityTrait>(self, column: &str) -> Self {
        self.add::<E>(Placement::AttributeTenant {
            column: column.to_owned(),
        })
    }

    /// Targets a Citus cluster (schema-based sharding, see [`crate::citus`]): every public
    /// table that a tenant table references with a foreign key, and every public table those
    /// reference in turn, is made a Citus reference table in the public migration that creates
    /// it (or, for an existing table, in the next one), with `create_reference_table`. Citus
    /// refuses a tenant table's foreign key to a public table that is not one.
    ///
    /// ```
    /// # mod account {
    /// #     use sea_orm::entity::prelude::*;
    /// #     #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    /// #     #[sea_orm(schema_name = "public", table_name = "account")]
    /// #     pub struct Model { #[sea_orm(primary_key)] pub id: i32 }
    /// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    /// #     pub enum Relation {}
    /// #     impl ActiveModelBehavior for ActiveModel {}
    /// # }
    /// # mod post {
    /// #     use sea_orm::entity::prelude::*;
    /// #     #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    /// #     #[sea_orm(table_name = "post")]
    /// #     pub struct Model { #[sea_orm(primary_key)] pub id: i32, pub account_id: i32 }
    /// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    /// #     pub enum Relation {
    /// #         #[sea_orm(belongs_to = "super::account::Entity", from = "Column::AccountId", to = "super::account::Column::Id")]
    /// #         Account,
    /// #     }
    /// #     impl ActiveModelBehavior for ActiveModel {}
    /// # }
    /// use sea_tenant::codegen::{Codegen, Registry, Target};
    ///
    /// # fn main() -> Result<(), sea_tenant::codegen::Error> {
    /// let registry = Registry::new()
    ///     .global::<account::Entity>()
    ///     .tenant::<post::Entity>()
    ///     .citus(true);
    /// let scratch = std::env::temp_dir().join("sea_tenant_registry_citus_doc");
    /// let codegen = Codegen::new(registry, scratch.join("migration"), scratch.join("tenant_migration"));
    /// assert_eq!(
    ///     codegen.pending()?[&Target::Public],
    ///     ["create table account", "make account a Citus reference table"]
    /// );
    /// # Ok(())
    /// # }
    /// ```
    pub fn citus(mut self, yes: bool) -> Self {
        self.citus = yes;
        self
    }

    fn add<E: EntityTrait>(mut self, placement: Placement) -> Self {
        match describe::<E>(placement) {
            Ok(entry) => self.entries.push(entry),
            Err(e) => self.errors.push(e),
        }
        self
    }

    /// The tables of each migration crate as the entities declare them, foreign keys
    /// resolved. Fails on an unsupported column type, a foreign key to an unregistered
    /// table, or one from a public table to a tenant table.
    pub(crate) fn snapshots(&self) -> Result<BTreeMap<Target, Snapshot>> {
        if !self.errors.is_empty() {
            return Err(Error::Entities(self.errors.clone()));
        }
        let mut tables: BTreeMap<String, Table> = BTreeMap::new();
        for entry in &self.entries {
            if tables
                .insert(entry.table.name.clone(), entry.table.clone())
                .is_some()
            {
                return Err(Error::DuplicateTable(entry.table.name.clone()));
            }
        }
        // Composite foreign keys need a unique key on their target; collect those first and
        // add them once per target.
        let mut extra_uniques: Vec<(String, Key)> = Vec::new();
        for entry in &self.entries {
            let from = &entry.table;
            for raw in &entry.relations {
                let to = tables
                    .get(&raw.ref_table)
                    .ok_or_else(|| Error::ForeignKey {
                        table: from.name.clone(),
                        reason: format!(
                            "foreign key to {:?}, which is not registered",
                            raw.ref_table
                        ),
                    })?;
                let (fk, unique) = resolve(from, to, raw)?;
                if let Some(unique) = unique {
                    extra_uniques.push((to.name.clone(), unique));
                }
                if let Some(table) = tables.get_mut(&from.name) {
                    table.foreign_keys.push(fk);
                }
            }
        }
        for (table, unique) in extra_uniques {
            if let Some(table) = tables.get_mut(&table)
                && !table.uniques.iter().any(|u| u.columns == unique.columns)
            {
                table.uniques.push(unique);
            }
        }
        if self.citus {
            mark_reference_tables(&mut tables);
        }
        let mut out: BTreeMap<Target, Snapshot> = BTreeMap::new();
        out.entry(Target::Public).or_default();
        out.entry(Target::Tenant).or_default();
        for (name, mut table) in tables {
            table.indexes.sort_by(|a, b| a.name.cmp(&b.name));
            table.uniques.sort_by(|a, b| a.name.cmp(&b.name));
            table.foreign_keys.sort_by(|a, b| a.name.cmp(&b.name));
            out.entry(table.placement.target())
                .or_default()
                .tables
                .insert(name, table);
        }
        Ok(out)
    }
}

/// Marks the public tables tenant tables reference, and those they reference in turn (a
/// reference table's foreign keys may only point at reference tables), as reference tables.
fn mark_reference_tables(tables: &mut BTreeMap<String, Table>) {
    let mut pending: Vec<String> = tables
        .values()
        .filter(|t| t.placement == Placement::Tenant)
        .flat_map(|t| &t.foreign_keys)
        .filter(|fk| fk.ref_schema.is_some())
        .map(|fk| fk.ref_table.clone())
        .collect();
    while let Some(name) = pending.pop() {
        let Some(table) = tables.get_mut(&name) else {
            continue;
        };
        if table.placement == Placement::Tenant || table.reference {
            continue;
        }
        table.reference = true;
        pending.extend(table.foreign_keys.iter().map(|fk| fk.ref_table.clone()));
    }
}

/// Decides where a foreign key points, by the placements of its two tables.
fn resolve(from: &Table, to: &Table, raw: &RawFk) -> Result<(ForeignKey, Option<Key>)> {
    let name = raw
        .name
        .clone()
        .unwrap_or_else(|| format!("{}_{}_fkey", from.name, raw.columns.join("_")));
    let mut fk = ForeignKey {
        name,
        columns: raw.columns.clone(),
        ref_schema: None,
        ref_table: to.name.clone(),
        ref_columns: raw.ref_columns.clone(),
        on_delete: raw.on_delete,
        on_update: raw.on_update,
    };
    let mut unique = None;
    match (&from.placement, &to.placement) {
        (Placement::Tenant, Placement::Tenant) => {}
        (Placement::Tenant, _) | (Placement::Global, Placement::Global) => {
            fk.ref_schema = Some("public".to_owned());
        }
        (_, Placement::Tenant) => {
            return Err(Error::ForeignKey {
                table: from.name.clone(),
                reason: format!(
                    "foreign key {:?} points from a public table to tenant table {:?}; a \
                     tenant table exists once per tenant schema, so a row in public cannot \
                     reference one of them. Declare the relation on the tenant side (tenant \
                     -> public) or make {:?} a tenant table",
                    fk.name, to.name, from.name
                ),
            });
        }
        (Placement::AttributeTenant { column: a }, Placement::AttributeTenant { column: b }) => {
            fk.ref_schema = Some("public".to_owned());
            fk.columns.insert(0, a.clone());
            fk.ref_columns.insert(0, b.clone());
            unique = Some(Key {
                name: format!("{}_{}_key", to.name, fk.ref_columns.join("_")),
                columns: fk.ref_columns.clone(),
            });
        }
        (Placement::Global | Placement::AttributeTenant { .. }, _) => {
            fk.ref_schema = Some("public".to_owned());
        }
    }
    Ok((fk, unique))
}

fn describe<E: EntityTrait>(placement: Placement) -> std::result::Result<Entry, String> {
    let entity = E::default();
    let name = entity.table_name().to_owned();
    match (&placement, entity.schema_name()) {
        (Placement::Tenant, Some(schema)) => {
            return Err(format!(
                "tenant entity {name:?} has schema_name = {schema:?}; a tenant entity must \
                 not name a schema, its queries follow the tenant scope"
            ));
        }
        (Placement::Global | Placement::AttributeTenant { .. }, Some(schema))
            if schema != "public" =>
        {
            return Err(format!(
                "global entity {name:?} has schema_name = {schema:?}; only \"public\" is supported"
            ));
        }
        _ => {}
    }

    let mut primary_key = Vec::new();
    for key in E::PrimaryKey::iter() {
        primary_key.push(key.into_column().as_str().to_owned());
    }
    let auto_increment = <E::PrimaryKey as PrimaryKeyTrait>::auto_increment();
    let single_pk = primary_key.len() == 1;

    let mut columns = Vec::new();
    let mut indexes = Vec::new();
    let mut uniques: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for column in E::Column::iter() {
        let col_name = column.as_str().to_owned();
        let def = column.def();
        let col_type = col_type(def.get_column_type()).ok_or_else(|| {
            format!(
                "{name}.{col_name}: column type {:?} is not supported by the generator",
                def.get_column_type()
            )
        })?;
        let is_pk = primary_key.contains(&col_name);
        columns.push(Column {
            name: col_name.clone(),
            col_type,
            nullable: def.is_null() && !is_pk,
            default: def.get_column_default().map(|expr| {
                let sql = Query::select()
                    .expr(expr.clone())
                    .to_string(PostgresQueryBuilder);
                sql.strip_prefix("SELECT ").unwrap_or(&sql).to_owned()
            }),
            auto_increment: is_pk && single_pk && auto_increment,
        });
        if def.is_unique() {
            uniques.insert(format!("{name}_{col_name}_key"), vec![col_name]);
        }
    }
    // `indexed` and `unique_key` are not public on `ColumnDef`; SeaORM's own index builder
    // reads them, named `idx-<table>-<column or key>`.
    let prefix = format!("idx-{name}-");
    for index in Schema::new(DbBackend::Postgres).create_index_from_entity(E::default()) {
        let spec = index.get_index_spec();
        let suffix = spec
            .get_name()
            .and_then(|n| n.strip_prefix(&prefix))
            .unwrap_or("key")
            .to_owned();
        let cols = spec.get_column_names();
        if index.is_unique_key() {
            uniques.insert(format!("{name}_{suffix}_key"), cols);
        } else {
            indexes.push(Key {
                name: format!("{name}_{suffix}_idx"),
                columns: cols,
            });
        }
    }
    if let Placement::AttributeTenant { column } = &placement
        && !columns.iter().any(|c| &c.name == column)
    {
        return Err(format!(
            "attribute-tenant entity {name:?} has no column {column:?}"
        ));
    }

    let mut relations = Vec::new();
    for relation in E::Relation::iter() {
        let def = relation.def();
        // `belongs_to` is the side that holds the foreign key; it is the one not marked owner.
        if def.is_owner || def.skip_fk {
            continue;
        }
        let TableRef::Table(target, _) = &def.to_tbl else {
            return Err(format!("{name}: relation to something other than a table"));
        };
        relations.push(RawFk {
            name: def.fk_name.clone(),
            columns: def.from_col.iter().map(|c| c.to_string()).collect(),
            ref_table: target.1.to_string(),
            ref_columns: def.to_col.iter().map(|c| c.to_string()).collect(),
            on_delete: def.on_delete.map(action),
            on_update: def.on_update.map(action),
        });
    }

    Ok(Entry {
        table: Table {
            name,
            placement,
            columns,
            primary_key,
            indexes,
            uniques: uniques
                .into_iter()
                .map(|(name, columns)| Key { name, columns })
                .collect(),
            foreign_keys: Vec::new(),
            reference: false,
        },
        relations,
    })
}

fn action(action: ForeignKeyAction) -> FkAction {
    match action {
        ForeignKeyAction::Restrict => FkAction::Restrict,
        ForeignKeyAction::Cascade => FkAction::Cascade,
        ForeignKeyAction::SetNull => FkAction::SetNull,
        ForeignKeyAction::SetDefault => FkAction::SetDefault,
        // NO ACTION is PostgreSQL's default; a variant added later is treated alike.
        _ => FkAction::NoAction,
    }
}

fn col_type(t: &ColumnType) -> Option<ColType> {
    let len = |l: &StringLen| match l {
        StringLen::N(n) => Some(*n),
        _ => None,
    };
    Some(match t {
        ColumnType::SmallInteger | ColumnType::TinyInteger => ColType::SmallInteger,
        ColumnType::Integer => ColType::Integer,
        ColumnType::BigInteger => ColType::BigInteger,
        ColumnType::Float => ColType::Float,
        ColumnType::Double => ColType::Double,
        ColumnType::Decimal(p) => ColType::Decimal(*p),
        ColumnType::Char(n) => ColType::Char(*n),
        ColumnType::String(l) => ColType::String(len(l)),
        ColumnType::Text => ColType::Text,
        ColumnType::Boolean => ColType::Boolean,
        ColumnType::Date => ColType::Date,
        ColumnType::Time => ColType::Time,
        ColumnType::DateTime => ColType::DateTime,
        ColumnType::Timestamp => ColType::Timestamp,
        ColumnType::TimestampWithTimeZone => ColType::TimestampWithTimeZone,
        ColumnType::Uuid => ColType::Uuid,
        ColumnType::Json => ColType::Json,
        ColumnType::JsonBinary => ColType::JsonBinary,
        ColumnType::Binary(_) | ColumnType::VarBinary(_) | ColumnType::Blob => ColType::Binary,
        _ => return None,
    })
}
