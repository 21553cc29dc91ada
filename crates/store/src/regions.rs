use crate::{
    audit, decode, get_i64, get_opt_str, get_str, now, Actor, ImportMode, ImportSummary,
    RowRejection, Store, StoreError, StoreRowError,
};
use closedloop_domain::region::{Region, RegionLevel, RegionTree};
use sqlx::any::AnyRow;
use std::collections::HashMap;

fn region_from_row(row: &AnyRow) -> Result<Region, StoreError> {
    Ok(Region {
        code: get_str(row, "code")?,
        parent_code: get_opt_str(row, "parent_code")?,
        level: decode(&get_str(row, "level")?, RegionLevel::parse)?,
        name_zh: get_str(row, "name_zh")?,
        name_en: get_str(row, "name_en")?,
        population: get_i64(row, "population")?,
    })
}

fn describe(r: &Region) -> String {
    format!(
        "{} {} {} {} {} {}",
        r.parent_code.as_deref().unwrap_or("-"),
        r.level,
        r.name_zh,
        r.name_en,
        r.population,
        r.code
    )
}

/// Every stored region code, for checking references in a file.
pub(crate) async fn region_codes(
    conn: &mut sqlx::AnyConnection,
) -> Result<std::collections::HashSet<String>, StoreError> {
    let rows = sqlx::query("SELECT code FROM regions")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(|r| get_str(r, "code")).collect()
}

impl Store {
    pub async fn regions(&self) -> Result<Vec<Region>, StoreError> {
        let rows = sqlx::query("SELECT code, parent_code, level, name_zh, name_en, population FROM regions ORDER BY code")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(region_from_row).collect()
    }

    /// One region by code (`None` when there is none): for a name, without
    /// reading the whole tree.
    pub async fn region(&self, code: &str) -> Result<Option<Region>, StoreError> {
        let row = sqlx::query("SELECT code, parent_code, level, name_zh, name_en, population FROM regions WHERE code = $1")
            .bind(code)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(region_from_row).transpose()
    }

    pub async fn region_tree(&self) -> Result<RegionTree, StoreError> {
        Ok(RegionTree::new(self.regions().await?))
    }

    /// Imports regions keyed on code, parents before children, in one transaction.
    pub async fn import_regions(
        &self,
        records: &[(u64, Region)],
        mode: ImportMode,
        source: &str,
        actor: &Actor,
    ) -> Result<ImportSummary, StoreError> {
        let mut tx = self.pool.begin().await?;
        let stored: HashMap<String, Region> = sqlx::query(
            "SELECT code, parent_code, level, name_zh, name_en, population FROM regions",
        )
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| region_from_row(r).map(|r| (r.code.clone(), r)))
        .collect::<Result<_, _>>()?;
        let mut in_file: HashMap<&str, (u64, &Region)> = HashMap::new();
        let mut rejected = Vec::new();
        for (line, r) in records {
            if let Some((first, earlier)) = in_file.get(r.code.as_str()) {
                if *earlier != r {
                    rejected.push(RowRejection {
                        line: *line,
                        column: "code".into(),
                        error: StoreRowError::DuplicateInFile(*first),
                    });
                }
                continue;
            }
            in_file.insert(&r.code, (*line, r));
        }
        let level_of = |code: &str| {
            in_file
                .get(code)
                .map(|(_, r)| r.level)
                .or_else(|| stored.get(code).map(|r| r.level))
        };
        let mut accepted: Vec<&Region> = Vec::new();
        for (line, r) in records {
            if in_file.get(r.code.as_str()).map(|(l, _)| *l) != Some(*line) {
                continue;
            }
            if let Some(parent) = &r.parent_code {
                match level_of(parent) {
                    None => {
                        rejected.push(RowRejection {
                            line: *line,
                            column: "parent_code".into(),
                            error: StoreRowError::UnknownParent(parent.clone()),
                        });
                        continue;
                    }
                    Some(pl) if pl.depth() >= r.level.depth() => {
                        rejected.push(RowRejection {
                            line: *line,
                            column: "level".into(),
                            error: StoreRowError::LevelOrder {
                                child: r.level.as_str(),
                                parent: pl.as_str(),
                            },
                        });
                        continue;
                    }
                    _ => {}
                }
            }
            if let Some(old) = stored.get(&r.code) {
                if old != r && !mode.update {
                    rejected.push(RowRejection {
                        line: *line,
                        column: "code".into(),
                        error: StoreRowError::Conflict {
                            stored: describe(old),
                            incoming: describe(r),
                        },
                    });
                    continue;
                }
            }
            accepted.push(r);
        }
        if !rejected.is_empty() && !mode.skip_bad_rows {
            // Roll back now: a dropped transaction keeps its write lock until the pool reuses the connection.
            tx.rollback().await?;
            return Err(StoreError::Rejected(rejected.len(), rejected));
        }
        // A rejected parent leaves its children without one.
        let accepted_codes: std::collections::HashSet<&str> =
            accepted.iter().map(|r| r.code.as_str()).collect();
        accepted.sort_by_key(|r| r.level.depth());
        let mut summary = ImportSummary::default();
        for r in accepted {
            if let Some(p) = &r.parent_code {
                if !stored.contains_key(p) && !accepted_codes.contains(p.as_str()) {
                    let line = in_file.get(r.code.as_str()).map_or(0, |(l, _)| *l);
                    rejected.push(RowRejection {
                        line,
                        column: "parent_code".into(),
                        error: StoreRowError::UnknownParent(p.clone()),
                    });
                    continue;
                }
            }
            match stored.get(&r.code) {
                Some(old) if old == r => summary.unchanged += 1,
                Some(old) => {
                    sqlx::query("UPDATE regions SET parent_code = $1, level = $2, name_zh = $3, name_en = $4, population = $5 WHERE code = $6")
                        .bind(r.parent_code.clone())
                        .bind(r.level.as_str())
                        .bind(&r.name_zh)
                        .bind(&r.name_en)
                        .bind(r.population)
                        .bind(&r.code)
                        .execute(&mut *tx)
                        .await?;
                    audit::record(
                        &mut tx,
                        actor,
                        "update",
                        "region",
                        &r.code,
                        serde_json::json!({"before": old, "after": r}),
                    )
                    .await?;
                    summary.updated += 1;
                }
                None => {
                    sqlx::query("INSERT INTO regions (code, parent_code, level, name_zh, name_en, population) VALUES ($1, $2, $3, $4, $5, $6)")
                        .bind(&r.code)
                        .bind(r.parent_code.clone())
                        .bind(r.level.as_str())
                        .bind(&r.name_zh)
                        .bind(&r.name_en)
                        .bind(r.population)
                        .execute(&mut *tx)
                        .await?;
                    summary.created += 1;
                }
            }
        }
        if !rejected.is_empty() && !mode.skip_bad_rows {
            // Roll back now: a dropped transaction keeps its write lock until the pool reuses the connection.
            tx.rollback().await?;
            return Err(StoreError::Rejected(rejected.len(), rejected));
        }
        rejected.sort_by_key(|r| r.line);
        summary.rejected = rejected;
        audit::finish_batch(&mut tx, "regions", source, actor, &mut summary, now()).await?;
        tx.commit().await?;
        Ok(summary)
    }
}
