//! The four `ActiveModelBehavior` hooks of an owner entity, which `#[tenant]` (or
//! `#[sea_tenant::hooks]`) wires in: each acts on the owner row as stored, locked, never on
//! the caller's copy of the model.

use super::*;

/// How often a hook reads an owner row again after it changed between the read and the
/// script acting on it (possible only on a pool, where the read's row lock ends with it).
const ATTEMPTS: usize = 5;

/// The `before_save` hook. On an update that changes the tenant name, renames the schema
/// (see the [module docs](crate::owner)); otherwise passes `am` through.
///
/// The old name is rendered from the row as stored (read with `SELECT … FOR UPDATE`), never
/// from `am`, and the rename script only proceeds if the row still holds those values.
pub async fn before_save<E, C>(
    am: E::ActiveModel,
    db: &C,
    insert: bool,
) -> Result<E::ActiveModel, DbErr>
where
    E: TenantOwner,
    C: ConnectionTrait,
{
    if insert {
        if E::OPTIONS.create {
            // Checked now, so that a row that cannot be provisioned is never written: the
            // migration set, and a name made of fields known before the INSERT (a slug).
            migrations_of::<E>().map_err(into_db_err)?;
            if let Some(rendered) = E::render_active(&am) {
                rendered.tenant_name().map_err(into_db_err)?;
            }
        }
        return Ok(am);
    }
    if !E::OPTIONS.rename || !E::template_set(&am) {
        return Ok(am);
    }
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let stored = load_locked::<E, C>(&am, db).await?.ok_or_else(|| {
            DbErr::RecordNotFound(format!(
                "sea-tenant owner hook: no {} row with this primary key",
                E::default().table_name()
            ))
        })?;
        let old_name = E::tenant_of(&stored).map_err(into_db_err)?;
        // The stored row with the fields `am` sets: the row as the UPDATE will leave it.
        let merged = overlay::<E>(Some(&am), &stored)?;
        let rendered = E::render_active(&merged).ok_or_else(|| {
            into_db_err(Error::IncompleteTemplate {
                template: E::TEMPLATE,
            })
        })?;
        let new_name = rendered.tenant_name().map_err(into_db_err)?;
        if new_name == old_name {
            return Ok(am);
        }
        // The row's template fields are written in the same script as the rename, and only
        // if the row still holds the values the old name was rendered from: on a pool this is
        // the only way the two commit together (see the module docs).
        let pk = pk_condition::<E>(|col| Some(stored.get(col)))?;
        let update = E::update_many()
            .set(E::template_update(&merged))
            .filter(pk.add(template_condition::<E>(&stored)?))
            .build(DbBackend::Postgres)
            .to_string();
        let guard = guarded_block(
            &format!(
                "{update};\nIF NOT FOUND THEN RAISE EXCEPTION USING ERRCODE = '{ROW_CHANGED}', \
                 MESSAGE = 'sea-tenant: owner row changed while its schema was renamed'; END IF;"
            ),
            &old_name,
        )?;
        if provision::rename_with(db, &old_name, &new_name, &guard)
            .await
            .map_err(into_db_err)?
        {
            tracing::info!(from = %old_name, to = %new_name, "renamed tenant schema");
            crate::events::owners_changed();
            return Ok(am);
        }
        tracing::debug!(tenant = %old_name, "owner row changed during a rename; reading it again");
        last = Some(old_name);
    }
    Err(into_db_err(changed_too_often::<E>(last)))
}

/// The `after_save` hook. On an insert, provisions the row's tenant; if that fails, deletes
/// the row again (on a pool it has committed already) and returns the error.
///
/// Provisioning runs under the tenant's advisory lock, with the owner row locked (`FOR
/// SHARE`; a row deleted meanwhile gets no schema). A schema that exists already is used if
/// it was created after the row (a `--create-missing` deploy or an `ensure` that saw the new
/// row got there first) and its missing migrations are applied; one that predates the row
/// (left over from an earlier owner of the name) is refused with [`Error::SchemaExists`].
pub async fn after_save<E, C>(model: E::Model, db: &C, insert: bool) -> Result<E::Model, DbErr>
where
    E: TenantOwner,
    C: ConnectionTrait,
{
    if !insert || !E::OPTIONS.create {
        return Ok(model);
    }
    let provisioned = async {
        let set = migrations_of::<E>()?;
        let name = E::tenant_of(&model)?;
        let guard = owner_guard_sql::<E>(&model, &name)?;
        provision::provision_owned_on(db, &set, &name, &guard).await?;
        Ok::<_, Error>(name)
    }
    .await;
    match provisioned {
        Ok(name) => {
            tracing::info!(tenant = %name, "created tenant schema");
            Ok(model)
        }
        Err(err) => {
            // On a pool this removes the committed row. Inside a transaction a failed script
            // aborted the transaction, so this DELETE fails too and the caller's rollback
            // removes the row; a failed live run rolled back only its savepoint, so this
            // DELETE removes the row and the caller's transaction stays usable. Either way
            // the original error is the one to report.
            let compensated = delete_row::<E, C>(&model, db).await;
            if let Err(delete_err) = compensated {
                tracing::debug!(error = %delete_err, "compensating delete of the owner row failed");
            }
            Err(into_db_err(err))
        }
    }
}

/// The `before_delete` hook. Reads the row as stored (`SELECT … FOR UPDATE`), whatever `am`
/// holds. With `drop = true` it deletes the row and drops the schema rendered from the stored
/// values in one script, which only deletes the row if it still holds those values; SeaORM's
/// own `DELETE` then finds nothing (`rows_affected` is 0). A row that is gone already touches
/// no schema.
pub async fn before_delete<E, C>(am: E::ActiveModel, db: &C) -> Result<E::ActiveModel, DbErr>
where
    E: TenantOwner,
    C: ConnectionTrait,
{
    if !E::OPTIONS.drop {
        // Only for after_delete's log line: the name of the stored row.
        return match load_locked::<E, C>(&am, db).await? {
            Some(stored) => overlay::<E>(None, &stored),
            None => Ok(am),
        };
    }
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let Some(stored) = load_locked::<E, C>(&am, db).await? else {
            // Deleted meanwhile, with its schema if it had one: nothing to do.
            return Ok(am);
        };
        // A row whose name never was valid never had a schema: SeaORM deletes the row.
        let Ok(name) = E::tenant_of(&stored) else {
            return overlay::<E>(None, &stored);
        };
        let pk = pk_condition::<E>(|col| Some(stored.get(col)))?;
        let delete = E::delete_many()
            .filter(pk.clone().add(template_condition::<E>(&stored)?))
            .build(DbBackend::Postgres)
            .to_string();
        let still_there = E::find()
            .select_only()
            .expr(Expr::cust("1"))
            .filter(pk)
            .build(DbBackend::Postgres)
            .to_string();
        let strict = crate::strict::current();
        let block = guarded_block(
            &format!(
                "{delete};\nIF FOUND THEN {drop}\n\
                 ELSIF EXISTS ({still_there}) THEN RAISE EXCEPTION USING ERRCODE = \
                 '{ROW_CHANGED}', MESSAGE = 'sea-tenant: owner row changed while being deleted'; \
                 END IF;",
                drop = tenant_sql::drop_tenant_statements(&name, strict.as_deref())
            ),
            &name,
        )?;
        // The tenant's lock first, as everywhere (see `tenant_sql.rs`); in strict mode the
        // caller's role is stashed before the block becomes the owner for the drop.
        let stash = if strict.is_some() {
            format!("{};\n", crate::tenant_sql::role::SAVE_ROLE)
        } else {
            String::new()
        };
        let sql = format!("{};\n{stash}{block}", tenant_sql::lock_tenant(&name));
        match db.execute_unprepared(&sql).await {
            Ok(_) => {
                tracing::info!(tenant = %name, "dropped tenant schema with its owner row");
                return overlay::<E>(None, &stored);
            }
            // Refused deletes (a foreign key) come back as SeaORM's own DELETE would fail.
            Err(err) if sqlstate(&err).as_deref() != Some(ROW_CHANGED) => return Err(err),
            Err(_) => {
                tracing::debug!(tenant = %name, "owner row changed during a delete; reading it again");
                last = Some(name);
            }
        }
    }
    Err(into_db_err(changed_too_often::<E>(last)))
}

/// The `after_delete` hook. With `drop = true` the schema went with the row in
/// [`before_delete`]; otherwise logs that it was kept.
pub async fn after_delete<E, C>(am: E::ActiveModel, _db: &C) -> Result<E::ActiveModel, DbErr>
where
    E: TenantOwner,
    C: ConnectionTrait,
{
    // The row is gone (with its schema if `drop`): resolvers forget its identifier.
    crate::events::owners_changed();
    if E::OPTIONS.drop {
        return Ok(am);
    }
    if let Some(name) = E::render_active(&am).and_then(|rendered| rendered.tenant_name().ok()) {
        tracing::info!(tenant = %name, "owner row deleted; tenant schema kept (drop = false)");
    }
    Ok(am)
}

/// `WHERE pk1 = … AND pk2 = …`, the values taken from `value_of`.
fn pk_condition<E: EntityTrait>(
    mut value_of: impl FnMut(E::Column) -> Option<sea_orm::Value>,
) -> Result<Condition, DbErr> {
    let mut condition = Condition::all();
    for key in E::PrimaryKey::iter() {
        let column = key.into_column();
        let value = value_of(column).ok_or(DbErr::PrimaryKeyNotSet {
            ctx: "sea-tenant owner hook",
        })?;
        condition = condition.add(column.eq(value).into_condition());
    }
    Ok(condition)
}

/// The stored row `am` refers to, locked for the rest of the caller's transaction
/// (`SELECT … FOR UPDATE`; on a pool the lock ends with the statement, and the scripts that
/// act on the row check its values again).
async fn load_locked<E, C>(am: &E::ActiveModel, db: &C) -> Result<Option<E::Model>, DbErr>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let condition = pk_condition::<E>(|col| am.get(col).into_value())?;
    E::find().filter(condition).lock_exclusive().one(db).await
}

/// An active model with every column set: from `am` where it sets one, else from `stored`.
fn overlay<E: EntityTrait>(
    am: Option<&E::ActiveModel>,
    stored: &E::Model,
) -> Result<E::ActiveModel, DbErr> {
    let mut out = <E::ActiveModel as ActiveModelTrait>::default();
    for column in E::Column::iter() {
        let value = match am.map(|am| am.get(column)) {
            Some(ActiveValue::Set(value)) => value,
            _ => stored.get(column),
        };
        out.try_set(column, value)?;
    }
    Ok(out)
}

/// `WHERE field = …` for every template field, the values taken from `stored`.
fn template_condition<E: TenantOwner>(stored: &E::Model) -> Result<Condition, DbErr> {
    let fields = E::template_update(&overlay::<E>(None, stored)?);
    let mut condition = Condition::all();
    for column in E::Column::iter() {
        if let ActiveValue::Set(value) = fields.get(column) {
            condition = condition.add(column.eq(value).into_condition());
        }
    }
    Ok(condition)
}

/// `body` as a PL/pgSQL `DO` block, under a dollar-quote tag that does not occur in it.
fn guarded_block(body: &str, tenant: &TenantName) -> Result<String, DbErr> {
    let block = format!("BEGIN\n{body}\nEND");
    let tag = provision::dollar_tag(&block, tenant.as_str()).map_err(into_db_err)?;
    Ok(format!("DO {tag}{block}{tag}"))
}

/// The check that runs under the tenant's lock before an owner row's schema is provisioned:
/// the row must still exist (it is locked `FOR SHARE` until the provisioning commits), and a
/// schema of its name must not predate it. `age(xmin)` compares the transactions that wrote
/// the row and the schema's catalog entry: a schema written later was created for this row
/// (by a deploy or an `ensure` that listed it), an older one was left by an earlier owner.
fn owner_guard_sql<E: TenantOwner>(model: &E::Model, name: &TenantName) -> Result<String, Error> {
    let pk = pk_condition::<E>(|col| Some(model.get(col)))?;
    let row_age = E::find()
        .select_only()
        .expr(Expr::cust("pg_catalog.age(xmin)"))
        .filter(pk)
        .lock_shared()
        .build(DbBackend::Postgres)
        .to_string();
    let body = format!(
        "DECLARE row_age integer;\nBEGIN\nrow_age := ({row_age});\n\
         IF row_age IS NULL THEN RAISE EXCEPTION USING ERRCODE = '{ROW_GONE}', MESSAGE = {gone};\n\
         END IF;\n\
         IF {leftover} THEN RAISE EXCEPTION USING ERRCODE = \
         '{DUPLICATE_SCHEMA}', MESSAGE = {exists};\nEND IF;\nEND",
        leftover = tenant_sql::schema_at_least_as_old(name, "row_age"),
        gone = quote_literal(&format!("owner row of tenant {name} is gone")),
        exists = quote_literal(&format!(
            "schema {} already exists and predates its owner row",
            name.quoted()
        )),
    );
    let tag = provision::dollar_tag(&body, name.as_str())?;
    Ok(format!("DO {tag}{body}{tag}"))
}

fn changed_too_often<E: EntityTrait>(tenant: Option<TenantName>) -> Error {
    let source = DbErr::Custom(format!(
        "sea-tenant owner hook: the {} row kept changing while its tenant schema was being \
         renamed or dropped; nothing was done",
        E::default().table_name()
    ));
    match tenant {
        Some(tenant) => Error::Tenant { tenant, source },
        None => Error::Db(source),
    }
}

async fn delete_row<E, C>(model: &E::Model, db: &C) -> Result<(), DbErr>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let condition = pk_condition::<E>(|col| Some(model.get(col)))?;
    E::delete_many()
        .filter(condition)
        .exec(db)
        .await
        .map(|_| ())
}
