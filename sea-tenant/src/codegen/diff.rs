//! Snapshot against snapshot: the operations that turn the recorded tables into the
//! declared ones.

use std::collections::BTreeMap;

use super::error::{Error, Result};
use super::model::{Column, ForeignKey, Key, Snapshot, Table};

/// One schema change. Each carries what its reversal needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// Create a table with its columns and primary key (its keys come as separate ops).
    CreateTable(Table),
    /// Drop a table; its `down` is an error (the rows are gone).
    DropTable(Table),
    /// Add a column.
    AddColumn {
        /// The table.
        table: Table,
        /// The new column.
        column: Column,
    },
    /// Drop a column; `down` adds it back, empty, unless it was NOT NULL without a default.
    DropColumn {
        /// The table.
        table: Table,
        /// The column as it was.
        column: Column,
    },
    /// Change a column's nullability and/or default.
    AlterColumn {
        /// The table.
        table: Table,
        /// The column before.
        from: Column,
        /// The column after.
        to: Column,
    },
    /// Create a non-unique index.
    AddIndex {
        /// The table.
        table: Table,
        /// The index.
        index: Key,
    },
    /// Drop a non-unique index.
    DropIndex {
        /// The table.
        table: Table,
        /// The index as it was.
        index: Key,
    },
    /// Add a unique constraint.
    AddUnique {
        /// The table.
        table: Table,
        /// The constraint.
        unique: Key,
    },
    /// Drop a unique constraint.
    DropUnique {
        /// The table.
        table: Table,
        /// The constraint as it was.
        unique: Key,
    },
    /// Add a foreign key.
    AddForeignKey {
        /// The referencing table.
        table: Table,
        /// The foreign key.
        fk: ForeignKey,
    },
    /// Drop a foreign key.
    DropForeignKey {
        /// The referencing table.
        table: Table,
        /// The foreign key as it was.
        fk: ForeignKey,
    },
    /// On Citus, make a public table a reference table (`create_reference_table`).
    MakeReference(Table),
    /// On Citus, turn a reference table back into a table of the coordinator
    /// (`undistribute_table`).
    UndoReference(Table),
}

impl Op {
    /// The reverse operation, or why there is none.
    pub(crate) fn reverse(&self) -> std::result::Result<Op, String> {
        Ok(match self.clone() {
            Op::CreateTable(t) => Op::DropTable(t),
            Op::DropTable(t) => {
                return Err(format!(
                    "table {:?} was dropped with its rows; restore it from a backup",
                    t.name
                ));
            }
            Op::AddColumn { table, column } => Op::DropColumn { table, column },
            Op::DropColumn { table, column } => {
                if !column.nullable && column.default.is_none() && !column.auto_increment {
                    return Err(format!(
                        "column {}.{} was dropped; it was NOT NULL without a default, so it \
                         cannot be added back to existing rows",
                        table.name, column.name
                    ));
                }
                Op::AddColumn { table, column }
            }
            Op::AlterColumn { table, from, to } => Op::AlterColumn {
                table,
                from: to,
                to: from,
            },
            Op::AddIndex { table, index } => Op::DropIndex { table, index },
            Op::DropIndex { table, index } => Op::AddIndex { table, index },
            Op::AddUnique { table, unique } => Op::DropUnique { table, unique },
            Op::DropUnique { table, unique } => Op::AddUnique { table, unique },
            Op::AddForeignKey { table, fk } => Op::DropForeignKey { table, fk },
            Op::DropForeignKey { table, fk } => Op::AddForeignKey { table, fk },
            Op::MakeReference(t) => Op::UndoReference(t),
            Op::UndoReference(t) => Op::MakeReference(t),
        })
    }

    /// Drops of dependents come first, foreign keys last, so that one migration never
    /// references something not yet created or already dropped.
    fn phase(&self) -> u8 {
        match self {
            Op::UndoReference(_) => 0,
            Op::DropForeignKey { .. } => 0,
            Op::DropIndex { .. } | Op::DropUnique { .. } => 1,
            Op::DropTable(_) => 2,
            Op::CreateTable(_) => 3,
            Op::AddColumn { .. } | Op::AlterColumn { .. } | Op::DropColumn { .. } => 4,
            Op::AddUnique { .. } | Op::AddIndex { .. } => 5,
            // Before foreign keys are added between two tables that become reference tables.
            Op::MakeReference(_) => 6,
            Op::AddForeignKey { .. } => 7,
        }
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Op::CreateTable(t) => write!(f, "create table {}", t.name),
            Op::DropTable(t) => write!(f, "drop table {}", t.name),
            Op::AddColumn { table, column } => {
                write!(f, "add column {}.{}", table.name, column.name)
            }
            Op::DropColumn { table, column } => {
                write!(f, "drop column {}.{}", table.name, column.name)
            }
            Op::AlterColumn { table, from, to } => {
                write!(f, "alter column {}.{}:", table.name, to.name)?;
                if from.nullable != to.nullable {
                    let n = |b: bool| if b { "NULL" } else { "NOT NULL" };
                    write!(f, " {} -> {}", n(from.nullable), n(to.nullable))?;
                }
                if from.default != to.default {
                    let d = |d: &Option<String>| d.clone().unwrap_or_else(|| "no default".into());
                    write!(f, " default {} -> {}", d(&from.default), d(&to.default))?;
                }
                Ok(())
            }
            Op::AddIndex { table, index } => {
                write!(f, "add index {} on {}", index.name, table.name)
            }
            Op::DropIndex { table, index } => {
                write!(f, "drop index {} on {}", index.name, table.name)
            }
            Op::AddUnique { table, unique } => {
                write!(f, "add unique {} on {}", unique.name, table.name)
            }
            Op::DropUnique { table, unique } => {
                write!(f, "drop unique {} on {}", unique.name, table.name)
            }
            Op::AddForeignKey { table, fk } => {
                write!(f, "add foreign key {} on {}", fk.name, table.name)
            }
            Op::DropForeignKey { table, fk } => {
                write!(f, "drop foreign key {} on {}", fk.name, table.name)
            }
            Op::MakeReference(t) => write!(f, "make {} a Citus reference table", t.name),
            Op::UndoReference(t) => write!(f, "make {} a plain table again (Citus)", t.name),
        }
    }
}

/// The operations that turn `old` into `new`, in the order a migration applies them.
/// Changes the generator cannot express safely (a column's type, a primary key, a table
/// moving between public and the tenants) are errors.
pub(crate) fn diff(old: &Snapshot, new: &Snapshot) -> Result<Vec<Op>> {
    let mut ops = Vec::new();
    for (name, table) in &new.tables {
        match old.tables.get(name) {
            None => {
                ops.push(Op::CreateTable(table.clone()));
                keyed(
                    &mut ops,
                    table,
                    &[],
                    &table.indexes,
                    &[],
                    &table.uniques,
                    &[],
                    &table.foreign_keys,
                );
                if table.reference {
                    ops.push(Op::MakeReference(table.clone()));
                }
            }
            Some(before) => {
                diff_table(&mut ops, before, table)?;
                match (before.reference, table.reference) {
                    (false, true) => ops.push(Op::MakeReference(table.clone())),
                    (true, false) => ops.push(Op::UndoReference(table.clone())),
                    _ => {}
                }
            }
        }
    }
    for (name, table) in &old.tables {
        if !new.tables.contains_key(name) {
            for fk in &table.foreign_keys {
                ops.push(Op::DropForeignKey {
                    table: table.clone(),
                    fk: fk.clone(),
                });
            }
            ops.push(Op::DropTable(table.clone()));
        }
    }
    ops.sort_by_key(Op::phase);
    order_references(&mut ops);
    Ok(ops)
}

/// Among the `MakeReference` operations (adjacent after sorting by phase), a table another
/// one references comes first: Citus makes a table with foreign keys a reference table only
/// when the tables it references are ones already.
fn order_references(ops: &mut [Op]) {
    let Some(start) = ops.iter().position(|o| matches!(o, Op::MakeReference(_))) else {
        return;
    };
    let end = start
        + ops[start..]
            .iter()
            .take_while(|o| matches!(o, Op::MakeReference(_)))
            .count();
    let group = &mut ops[start..end];
    // Depth: the longest chain of foreign keys to other tables of the group (cycles are cut
    // by the bound).
    let names: Vec<String> = group
        .iter()
        .filter_map(|o| match o {
            Op::MakeReference(t) => Some(t.name.clone()),
            _ => None,
        })
        .collect();
    let mut depth: BTreeMap<String, usize> = names.iter().map(|n| (n.clone(), 0)).collect();
    for _ in 0..names.len() {
        for op in group.iter() {
            if let Op::MakeReference(t) = op {
                let deepest = t
                    .foreign_keys
                    .iter()
                    .filter(|fk| fk.ref_table != t.name)
                    .filter_map(|fk| depth.get(&fk.ref_table).map(|d| d + 1))
                    .max()
                    .unwrap_or(0)
                    .min(names.len());
                depth.insert(t.name.clone(), deepest);
            }
        }
    }
    group.sort_by_key(|o| match o {
        Op::MakeReference(t) => depth.get(&t.name).copied().unwrap_or(0),
        _ => 0,
    });
}

fn diff_table(ops: &mut Vec<Op>, old: &Table, new: &Table) -> Result<()> {
    let unsupported = |change: String| {
        Err(Error::UnsupportedChange {
            table: new.name.clone(),
            change,
        })
    };
    if old.placement != new.placement {
        return unsupported(format!(
            "changing placement from {:?} to {:?}",
            old.placement, new.placement
        ));
    }
    if old.primary_key != new.primary_key {
        return unsupported("changing the primary key".to_owned());
    }
    for column in &new.columns {
        match old.column(&column.name) {
            None => ops.push(Op::AddColumn {
                table: new.clone(),
                column: column.clone(),
            }),
            Some(before) => {
                if before.col_type != column.col_type
                    || before.auto_increment != column.auto_increment
                {
                    return unsupported(format!(
                        "changing column {:?} from {:?} to {:?}",
                        column.name, before.col_type, column.col_type
                    ));
                }
                if before.nullable != column.nullable || before.default != column.default {
                    ops.push(Op::AlterColumn {
                        table: new.clone(),
                        from: before.clone(),
                        to: column.clone(),
                    });
                }
            }
        }
    }
    for column in &old.columns {
        if new.column(&column.name).is_none() {
            ops.push(Op::DropColumn {
                table: old.clone(),
                column: column.clone(),
            });
        }
    }
    keyed(
        ops,
        new,
        &old.indexes,
        &new.indexes,
        &old.uniques,
        &new.uniques,
        &old.foreign_keys,
        &new.foreign_keys,
    );
    Ok(())
}

/// Adds and drops of indexes, unique constraints and foreign keys, matched by name; a
/// changed definition under the same name is a drop and an add.
#[allow(clippy::too_many_arguments)]
fn keyed(
    ops: &mut Vec<Op>,
    table: &Table,
    old_idx: &[Key],
    new_idx: &[Key],
    old_uq: &[Key],
    new_uq: &[Key],
    old_fk: &[ForeignKey],
    new_fk: &[ForeignKey],
) {
    let t = || table.clone();
    for (removed, added) in changes(old_idx, new_idx, |k| &k.name) {
        if let Some(index) = removed {
            ops.push(Op::DropIndex { table: t(), index });
        }
        if let Some(index) = added {
            ops.push(Op::AddIndex { table: t(), index });
        }
    }
    for (removed, added) in changes(old_uq, new_uq, |k| &k.name) {
        if let Some(unique) = removed {
            ops.push(Op::DropUnique { table: t(), unique });
        }
        if let Some(unique) = added {
            ops.push(Op::AddUnique { table: t(), unique });
        }
    }
    for (removed, added) in changes(old_fk, new_fk, |k| &k.name) {
        if let Some(fk) = removed {
            ops.push(Op::DropForeignKey { table: t(), fk });
        }
        if let Some(fk) = added {
            ops.push(Op::AddForeignKey { table: t(), fk });
        }
    }
}

/// `(removed, added)` pairs by name: an item only in `old`, only in `new`, or changed.
fn changes<T: Clone + PartialEq>(
    old: &[T],
    new: &[T],
    name: impl Fn(&T) -> &String,
) -> Vec<(Option<T>, Option<T>)> {
    let old: BTreeMap<&String, &T> = old.iter().map(|x| (name(x), x)).collect();
    let new: BTreeMap<&String, &T> = new.iter().map(|x| (name(x), x)).collect();
    let mut out = Vec::new();
    for (n, before) in &old {
        match new.get(n) {
            None => out.push((Some((*before).clone()), None)),
            Some(after) if after != before => {
                out.push((Some((*before).clone()), Some((*after).clone())))
            }
            Some(_) => {}
        }
    }
    for (n, after) in &new {
        if !old.contains_key(n) {
            out.push((None, Some((*after).clone())));
        }
    }
    out
}
