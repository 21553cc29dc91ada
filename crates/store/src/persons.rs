use crate::{
    audit, decode, decode_date, get_i64, get_opt_i64, get_opt_str, get_str, now, placeholders,
    Actor, ImportMode, ImportSummary, RowRejection, Store, StoreError, StoreRowError,
};
use closedloop_domain::lifecycle::{LoopState, ManagedCategory};
use closedloop_domain::person::{duplicate_key, Document, DocumentType, PersonDraft, Sex};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;

/// A stored person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonRecord {
    pub id: i64,
    #[serde(flatten)]
    pub person: PersonDraft,
    /// Set when this record was merged into another person.
    pub merged_into: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub(crate) const PERSON_COLUMNS: &str =
    "p.id, p.document_type, p.document_number, p.name, p.sex, p.birth_date, p.phone, p.address, p.region_code, p.household_id, p.merged_into, p.created_at, p.updated_at";

pub(crate) fn person_from_row(row: &AnyRow) -> Result<PersonRecord, StoreError> {
    let kind = decode(&get_str(row, "document_type")?, DocumentType::parse)?;
    let number = get_str(row, "document_number")?;
    Ok(PersonRecord {
        id: get_i64(row, "id")?,
        person: PersonDraft {
            document: Document { kind, number },
            name: get_str(row, "name")?,
            sex: get_opt_str(row, "sex")?
                .map(|s| decode(&s, Sex::parse))
                .transpose()?,
            birth_date: decode_date(get_opt_str(row, "birth_date")?)?,
            phone: get_opt_str(row, "phone")?,
            address: get_opt_str(row, "address")?,
            region_code: get_opt_str(row, "region_code")?,
            household_id: get_opt_str(row, "household_id")?,
        },
        merged_into: get_opt_i64(row, "merged_into")?,
        created_at: get_i64(row, "created_at")?,
        updated_at: get_i64(row, "updated_at")?,
    })
}

/// Fields a file may give for a person, as text, in contract order.
fn fields(p: &PersonDraft) -> [(&'static str, Option<String>); 7] {
    [
        // A person known only by a document (from a check-in or seat) has no name yet: a gap.
        ("name", Some(p.name.clone()).filter(|n| !n.is_empty())),
        ("sex", p.sex.map(|s| s.as_str().to_string())),
        ("birth_date", p.birth_date.map(|d| d.to_string())),
        ("phone", p.phone.clone()),
        ("address", p.address.clone()),
        ("region_code", p.region_code.clone()),
        ("household_id", p.household_id.clone()),
    ]
}

/// What the file says about a stored person: a contradiction (unless `update`),
/// or the merged record (file values fill gaps, and overwrite with `update`).
pub(crate) fn reconcile(
    stored: &PersonDraft,
    incoming: &PersonDraft,
    update: bool,
) -> Result<PersonDraft, (&'static str, StoreRowError)> {
    let mut merged = stored.clone();
    for ((col, old), (_, new)) in fields(stored).into_iter().zip(fields(incoming)) {
        match (old, new) {
            (Some(o), Some(n)) if o != n && !update => {
                return Err((
                    col,
                    StoreRowError::Conflict {
                        stored: o,
                        incoming: n,
                    },
                ));
            }
            _ => {}
        }
    }
    let pick =
        |o: &Option<String>, n: &Option<String>| if n.is_some() { n.clone() } else { o.clone() };
    if !incoming.name.is_empty() {
        merged.name = incoming.name.clone();
    }
    merged.sex = incoming.sex.or(stored.sex);
    merged.birth_date = incoming.birth_date.or(stored.birth_date);
    merged.phone = pick(&stored.phone, &incoming.phone);
    merged.address = pick(&stored.address, &incoming.address);
    merged.region_code = pick(&stored.region_code, &incoming.region_code);
    merged.household_id = pick(&stored.household_id, &incoming.household_id);
    Ok(merged)
}

/// The surviving person holding `document`, following merges.
pub(crate) async fn find_by_document(
    conn: &mut AnyConnection,
    document: &Document,
) -> Result<Option<PersonRecord>, StoreError> {
    let row = sqlx::query(&format!("SELECT {PERSON_COLUMNS} FROM persons p WHERE p.document_type = $1 AND p.document_number = $2"))
        .bind(document.kind.as_str())
        .bind(&document.number)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(mut person) = row.as_ref().map(person_from_row).transpose()? else {
        return Ok(None);
    };
    let mut hops = 0;
    while let Some(into) = person.merged_into {
        hops += 1;
        if hops > 64 {
            return Err(StoreError::Corrupt(format!(
                "merge chain of person {}",
                person.id
            )));
        }
        person = fetch_person(conn, into)
            .await?
            .ok_or(StoreError::NotFound {
                entity: "person",
                id: into.to_string(),
            })?;
    }
    Ok(Some(person))
}

pub(crate) async fn fetch_person(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<PersonRecord>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {PERSON_COLUMNS} FROM persons p WHERE p.id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(person_from_row).transpose()
}

pub(crate) async fn insert_person(
    conn: &mut AnyConnection,
    p: &PersonDraft,
    batch: Option<i64>,
) -> Result<i64, StoreError> {
    let at = now();
    let row = sqlx::query(
        "INSERT INTO persons (document_type, document_number, name, sex, birth_date, phone, address, region_code, household_id, duplicate_key, import_batch, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING id",
    )
    .bind(p.document.kind.as_str())
    .bind(&p.document.number)
    .bind(&p.name)
    .bind(p.sex.map(|s| s.as_str()))
    .bind(p.birth_date.map(|d| d.to_string()))
    .bind(p.phone.clone())
    .bind(p.address.clone())
    .bind(p.region_code.clone())
    .bind(p.household_id.clone())
    .bind(duplicate_key(&p.name, p.birth_date, p.phone.as_deref()))
    .bind(batch)
    .bind(at)
    .fetch_one(&mut *conn)
    .await?;
    get_i64(&row, "id")
}

pub(crate) async fn update_person(
    conn: &mut AnyConnection,
    id: i64,
    p: &PersonDraft,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE persons SET name = $1, sex = $2, birth_date = $3, phone = $4, address = $5, region_code = $6, household_id = $7, duplicate_key = $8, updated_at = $9 WHERE id = $10",
    )
    .bind(&p.name)
    .bind(p.sex.map(|s| s.as_str()))
    .bind(p.birth_date.map(|d| d.to_string()))
    .bind(p.phone.clone())
    .bind(p.address.clone())
    .bind(p.region_code.clone())
    .bind(p.household_id.clone())
    .bind(duplicate_key(&p.name, p.birth_date, p.phone.as_deref()))
    .bind(now())
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Outcome of matching one incoming person against the store.
pub(crate) enum PersonPlan {
    Create,
    Unchanged(i64),
    Update {
        id: i64,
        before: Box<PersonDraft>,
        after: Box<PersonDraft>,
    },
}

pub(crate) async fn plan_person(
    conn: &mut AnyConnection,
    incoming: &PersonDraft,
    update: bool,
) -> Result<Result<PersonPlan, (&'static str, StoreRowError)>, StoreError> {
    let Some(stored) = find_by_document(conn, &incoming.document).await? else {
        return Ok(Ok(PersonPlan::Create));
    };
    Ok(reconcile(&stored.person, incoming, update).map(|merged| {
        // A merged-away document keeps pointing at the survivor, whose own document stays.
        let merged = PersonDraft {
            document: stored.person.document.clone(),
            ..merged
        };
        if merged == stored.person {
            PersonPlan::Unchanged(stored.id)
        } else {
            PersonPlan::Update {
                id: stored.id,
                before: Box::new(stored.person),
                after: Box::new(merged),
            }
        }
    }))
}

/// Applies a plan; returns the person's id.
pub(crate) async fn apply_person(
    conn: &mut AnyConnection,
    plan: PersonPlan,
    incoming: &PersonDraft,
    batch: Option<i64>,
    actor: &Actor,
) -> Result<(i64, Change), StoreError> {
    match plan {
        PersonPlan::Create => Ok((insert_person(conn, incoming, batch).await?, Change::Created)),
        PersonPlan::Unchanged(id) => Ok((id, Change::Unchanged)),
        PersonPlan::Update { id, before, after } => {
            update_person(conn, id, &after).await?;
            audit::record_on(
                conn,
                actor,
                "update",
                "person",
                &id.to_string(),
                serde_json::json!({"before": before, "after": after}),
            )
            .await?;
            Ok((id, Change::Updated))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Created,
    Updated,
    Unchanged,
}

impl ImportSummary {
    pub(crate) fn count(&mut self, c: Change) {
        match c {
            Change::Created => self.created += 1,
            Change::Updated => self.updated += 1,
            Change::Unchanged => self.unchanged += 1,
        }
    }
}

/// Filters of the person list. `scope` limits to people living in these region codes.
#[derive(Debug, Clone, Default)]
pub struct PersonFilter {
    pub scope: Option<Vec<String>>,
    /// Only people placed in this facility (a managed record there): a
    /// facility operator's jurisdiction, on top of `scope` (see `store::access`).
    pub facility: Option<String>,
    /// Matches name (prefix), document number or phone (exact).
    pub query: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// The most household members [`Store::household_of`] returns.
pub const HOUSEHOLD_LIMIT: i64 = 200;

/// Up to this many matches a person list sorts the matches itself rather
/// than walking the id index (see `person_list`).
const FEW_MATCHES: i64 = 5_000;

/// One change of state of a managed record, as the person's timeline shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransitionRecord {
    pub id: i64,
    pub managed_id: i64,
    pub category: ManagedCategory,
    pub from: LoopState,
    pub to: LoopState,
    pub at: i64,
    pub actor: String,
    pub facility_id: Option<String>,
    pub reason: String,
}

/// People with the same name, birth date and phone but different documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DuplicateGroup {
    pub key: String,
    pub persons: Vec<PersonRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MergeOutcome {
    pub merge_id: i64,
    pub kept: i64,
    pub merged: i64,
    pub moved_cases: u64,
}

impl Store {
    pub async fn person(&self, id: i64) -> Result<Option<PersonRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        fetch_person(&mut conn, id).await
    }

    pub async fn person_by_document(
        &self,
        document: &Document,
    ) -> Result<Option<PersonRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        find_by_document(&mut conn, document).await
    }

    /// A page of the people (not merged away) living in every one of `sets`
    /// (each a list of region codes), in id order; `None` when they live in
    /// more regions than a page merges.
    ///
    /// Each region with anyone in it (its counter, migration 0016, is above
    /// zero) gives its first ids up to the page's end from
    /// `persons_live_region` (region, id), and the page merges them, as
    /// `case_page_keys` does for cases (on PostgreSQL through a lateral
    /// join): a page reads about its own entries
    /// and those of the pages before it. In id order with the region tested
    /// as a filter, a district's fourth page walked about 4,900 entries of
    /// `persons_live_id_region` for 50 people, and at 20 users its p95 was
    /// 83-103 ms.
    async fn person_page_by_region(
        &self,
        sets: [Option<&[String]>; 2],
        limit: i64,
        offset: i64,
    ) -> Result<Option<Vec<PersonRecord>>, StoreError> {
        let mut codes: Option<Vec<String>> = None;
        for set in sets.into_iter().flatten() {
            codes = Some(match codes {
                None => set.to_vec(),
                Some(c) => c.into_iter().filter(|x| set.contains(x)).collect(),
            });
        }
        let Some(codes) = codes.filter(|c| !c.is_empty()) else {
            return Ok(Some(Vec::new()));
        };
        let mut lived_in: Vec<String> = Vec::new();
        for chunk in codes.chunks(500) {
            let sql = format!(
                "SELECT region_code FROM person_counts WHERE n > 0 AND region_code IN ({}) ORDER BY region_code",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for c in chunk {
                q = q.bind(c.as_str());
            }
            for r in q.fetch_all(&self.pool).await? {
                lived_in.push(get_str(&r, "region_code")?);
            }
        }
        if lived_in.len() > crate::cases::REGION_BRANCHES {
            return Ok(None);
        }
        if lived_in.is_empty() {
            return Ok(Some(Vec::new()));
        }
        // The page's bounds are written in the statement (as in
        // `case_page_keys`: as binds PostgreSQL replans every execution).
        let end = limit.saturating_add(offset);
        let keys = if self.backend == crate::Backend::Postgres {
            // One read per region through a lateral join: planned once, where
            // a UNION ALL of a district's 17 branches took 3.5-4.7 ms to plan
            // and 1 ms to run.
            format!(
                "SELECT x.id AS page_id FROM (VALUES {}) r(code) CROSS JOIN LATERAL
                 (SELECT p.id FROM persons p WHERE p.region_code = r.code AND p.merged_into IS NULL ORDER BY p.id LIMIT {end}) x",
                (1..=lived_in.len())
                    .map(|n| format!("(${n})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            (1..=lived_in.len())
                .map(|n| {
                    format!(
                        "SELECT * FROM (SELECT p.id AS page_id FROM persons p
                         WHERE p.region_code = ${n} AND p.merged_into IS NULL ORDER BY p.id LIMIT {end}) b{n}"
                    )
                })
                .collect::<Vec<_>>()
                .join(" UNION ALL ")
        };
        let sql = format!(
            "SELECT {PERSON_COLUMNS} FROM (SELECT page_id FROM ({keys}) branches ORDER BY page_id LIMIT {limit} OFFSET {offset}) page
             JOIN persons p ON p.id = page.page_id ORDER BY p.id"
        );
        let mut q = sqlx::query(&sql);
        for c in &lived_in {
            q = q.bind(c.as_str());
        }
        let rows = q.fetch_all(&self.pool).await?;
        Ok(Some(
            rows.iter().map(person_from_row).collect::<Result<_, _>>()?,
        ))
    }

    /// People (not merged away) matching the filter, and how many match in all.
    pub async fn persons(
        &self,
        filter: &PersonFilter,
    ) -> Result<(Vec<PersonRecord>, i64), StoreError> {
        self.person_list(filter, None, None).await
    }

    /// [`Store::persons`] narrowed to residents of `regions` (a region chosen
    /// within the jurisdiction, with its subtree) on top of the filter's
    /// `scope`. The count and the page share one WHERE. With `count_cap`,
    /// counting stops past the cap (a province's million people are not
    /// counted on every page): a total above the cap means "more than".
    pub async fn person_list(
        &self,
        filter: &PersonFilter,
        regions: Option<&[String]>,
        count_cap: Option<i64>,
    ) -> Result<(Vec<PersonRecord>, i64), StoreError> {
        let mut conditions = vec!["p.merged_into IS NULL".to_string()];
        let mut binds: Vec<String> = Vec::new();
        let mut region_conditions = Vec::new();
        // An empty set matches nobody (its placeholder binds no region).
        let mut nobody = false;
        for set in [filter.scope.as_deref(), regions].into_iter().flatten() {
            region_conditions.push(format!(
                "p.region_code IN ({})",
                placeholders(binds.len() + 1, set.len().max(1))
            ));
            binds.extend(set.iter().cloned());
            if set.is_empty() {
                binds.push(String::new());
                nobody = true;
            }
        }
        conditions.extend(region_conditions.iter().cloned());
        let query = filter
            .query
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty());
        if let Some(q) = query {
            let n = binds.len();
            conditions.push(format!(
                "(p.name LIKE ${} OR p.document_number = ${} OR p.phone = ${})",
                n + 1,
                n + 2,
                n + 3
            ));
            binds.push(format!("{}%", q.replace(['%', '_'], "")));
            binds.push(q.to_uppercase());
            binds.push(q.to_string());
        }
        if let Some(f) = &filter.facility {
            // The same rule as `access::person_in`: placed there at any time.
            conditions.push(format!(
                "p.id IN (SELECT m.person_id FROM managed m WHERE m.facility_id = ${})",
                binds.len() + 1
            ));
            binds.push(f.clone());
        }
        let where_ = conditions.join(" AND ");
        let count_sql = match count_cap {
            // Without a search the count is the sum of the region counters
            // (migration 0016): a few rows instead of an index entry per
            // person (10,001 for a district's page, most of its time). Its
            // binds are the regions', which come first. A facility's people
            // are not counted by region: they are counted directly (few).
            _ if query.is_none() && filter.facility.is_none() => format!(
                "SELECT CAST(COALESCE(SUM(p.n), 0) AS BIGINT) AS n FROM person_counts p WHERE {}",
                if region_conditions.is_empty() {
                    "1 = 1".to_string()
                } else {
                    region_conditions.join(" AND ")
                }
            ),
            None => format!("SELECT COUNT(*) AS n FROM persons p WHERE {where_}"),
            Some(cap) => format!(
                "SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM persons p WHERE {where_} LIMIT {}) t",
                cap.max(0) + 1
            ),
        };
        let mut count = sqlx::query(&count_sql);
        for b in &binds {
            count = count.bind(b.clone());
        }
        let mut total = get_i64(&count.fetch_one(&self.pool).await?, "n")?;
        if nobody {
            // The counters keep people without a region under '', which the
            // empty set's placeholder would match.
            total = 0;
        }
        if let Some(cap) = count_cap {
            // Past the cap the answer is the cap plus one, however counted.
            total = total.min(cap.max(0) + 1);
        }
        // A limit of 0 or less returns every match (for exports). A page
        // takes its ids first, so an index on the filter's columns and the id
        // answers without visiting the table (as `case_list` does).
        // Residents of a few regions and nothing else: the page is merged
        // from each region's own index read (see `person_page_by_region`).
        let only_regions = conditions.len() == 1 + region_conditions.len();
        if filter.limit > 0 && only_regions && !nobody && !region_conditions.is_empty() {
            let sets = [filter.scope.as_deref(), regions];
            if let Some(page) = self
                .person_page_by_region(sets, filter.limit.min(10_000), filter.offset.max(0))
                .await?
            {
                return Ok((page, total));
            }
        }
        let sql = if filter.limit > 0 {
            // When the count found few matches, fetch them all and sort them:
            // PostgreSQL's estimate for a name prefix can be 10x too high,
            // and it then walks the whole id index for a few hundred rows
            // (50,000 rows visited for one page of a search). `+ 0` keeps
            // the id index out of the ordering on both backends.
            let key = if total <= FEW_MATCHES {
                "p.id + 0"
            } else {
                "p.id"
            };
            format!(
                "SELECT {PERSON_COLUMNS} FROM (SELECT p.id AS page_id FROM persons p WHERE {where_} ORDER BY {key} LIMIT {} OFFSET {}) page
                 JOIN persons p ON p.id = page.page_id ORDER BY p.id",
                filter.limit.min(10_000),
                filter.offset.max(0)
            )
        } else {
            format!("SELECT {PERSON_COLUMNS} FROM persons p WHERE {where_} ORDER BY p.id")
        };
        let mut q = sqlx::query(&sql);
        for b in &binds {
            q = q.bind(b.clone());
        }
        let rows = q.fetch_all(&self.pool).await?;
        Ok((
            rows.iter().map(person_from_row).collect::<Result<_, _>>()?,
            total,
        ))
    }

    /// The people with these ids that exist (merged ones included), in id order.
    pub async fn persons_by_id(&self, ids: &[i64]) -> Result<Vec<PersonRecord>, StoreError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT {PERSON_COLUMNS} FROM persons p WHERE p.id IN ({}) ORDER BY p.id",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            for row in q.fetch_all(&self.pool).await? {
                out.push(person_from_row(&row)?);
            }
        }
        out.sort_by_key(|p| p.id);
        out.dedup_by_key(|p| p.id);
        Ok(out)
    }

    /// The person's household: the other people (not merged away) with the
    /// same household key, or, for a person without one, at the same address
    /// in the same region. At most `HOUSEHOLD_LIMIT`, in id order.
    pub async fn household_of(
        &self,
        person: &PersonRecord,
    ) -> Result<Vec<PersonRecord>, StoreError> {
        let p = &person.person;
        let (condition, key, region) = match (&p.household_id, &p.address) {
            (Some(h), _) if !h.trim().is_empty() => ("p.household_id = $1", h.clone(), None),
            (_, Some(a)) if !a.trim().is_empty() => (
                "p.address = $1 AND p.household_id IS NULL AND COALESCE(p.region_code, '') = $3",
                a.clone(),
                Some(p.region_code.clone().unwrap_or_default()),
            ),
            _ => return Ok(Vec::new()),
        };
        let sql = format!(
            "SELECT {PERSON_COLUMNS} FROM persons p WHERE {condition} AND p.id <> $2 AND p.merged_into IS NULL ORDER BY p.id LIMIT {HOUSEHOLD_LIMIT}"
        );
        let mut q = sqlx::query(&sql).bind(key).bind(person.id);
        if let Some(r) = region {
            q = q.bind(r);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(person_from_row).collect()
    }

    /// Every change of state of the person's managed records: who, when,
    /// where, why, oldest first.
    pub async fn transitions_of_person(
        &self,
        person_id: i64,
    ) -> Result<Vec<TransitionRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.id, t.managed_id, m.category, t.from_state, t.to_state, t.at, t.actor, t.facility_id, t.reason
             FROM transitions t JOIN managed m ON m.id = t.managed_id WHERE m.person_id = $1 ORDER BY t.at, t.id",
        )
        .bind(person_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TransitionRecord {
                    id: get_i64(r, "id")?,
                    managed_id: get_i64(r, "managed_id")?,
                    category: decode(&get_str(r, "category")?, ManagedCategory::parse)?,
                    from: decode(&get_str(r, "from_state")?, LoopState::parse)?,
                    to: decode(&get_str(r, "to_state")?, LoopState::parse)?,
                    at: get_i64(r, "at")?,
                    actor: get_str(r, "actor")?,
                    facility_id: get_opt_str(r, "facility_id")?,
                    reason: get_str(r, "reason")?,
                })
            })
            .collect()
    }

    /// The tasks about the person's managed records, soonest due first.
    pub async fn tasks_of_person(
        &self,
        person_id: i64,
    ) -> Result<Vec<crate::TaskRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM tasks t JOIN managed m ON m.id = t.managed_id WHERE m.person_id = $1 ORDER BY t.due_at, t.id",
            crate::command::TASK_COLUMNS
        ))
        .bind(person_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(crate::command::task_from_row).collect()
    }

    /// Imports people keyed on their document, in one transaction.
    pub async fn import_persons(
        &self,
        records: &[(u64, PersonDraft)],
        mode: ImportMode,
        source: &str,
        actor: &Actor,
    ) -> Result<ImportSummary, StoreError> {
        self.import_persons_with_progress(records, mode, source, actor, &|_| {})
            .await
    }

    /// Like [`Store::import_persons`], calling `progress` with the number of rows done so far.
    pub async fn import_persons_with_progress(
        &self,
        records: &[(u64, PersonDraft)],
        mode: ImportMode,
        source: &str,
        actor: &Actor,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<ImportSummary, StoreError> {
        let mut tx = self.pool.begin().await?;
        let regions = crate::regions::region_codes(&mut tx).await?;
        let mut summary = ImportSummary::default();
        let batch = audit::start_batch(&mut tx, "persons", source, actor, now(), &summary).await?;
        summary.batch = Some(batch);
        let mut seen: HashMap<&Document, (u64, &PersonDraft)> = HashMap::new();
        let mut rejected = Vec::new();
        for (done, (line, p)) in records.iter().enumerate() {
            if done % 256 == 0 {
                progress(done as u64);
            }
            if let Some((first, earlier)) = seen.get(&p.document) {
                if *earlier != p {
                    rejected.push(RowRejection {
                        line: *line,
                        column: "document_number".into(),
                        error: StoreRowError::DuplicateInFile(*first),
                    });
                } else {
                    summary.unchanged += 1;
                }
                continue;
            }
            seen.insert(&p.document, (*line, p));
            if let Some(code) = p.region_code.as_ref().filter(|c| !regions.contains(*c)) {
                rejected.push(RowRejection {
                    line: *line,
                    column: "region_code".into(),
                    error: StoreRowError::UnknownRegion(code.clone()),
                });
                continue;
            }
            match plan_person(&mut tx, p, mode.update).await? {
                Err((column, error)) => rejected.push(RowRejection {
                    line: *line,
                    column: column.into(),
                    error,
                }),
                Ok(plan) => {
                    let (_, change) = apply_person(&mut tx, plan, p, Some(batch), actor).await?;
                    summary.count(change);
                }
            }
        }
        audit::conclude_import(tx, "persons", source, actor, summary, rejected, mode).await
    }

    /// Groups of likely duplicates awaiting review.
    pub async fn duplicate_groups(
        &self,
        scope: Option<&[String]>,
        limit: i64,
    ) -> Result<Vec<DuplicateGroup>, StoreError> {
        let limit = if limit <= 0 { 100 } else { limit.min(10_000) };
        let keys: Vec<String> = sqlx::query(
            "SELECT duplicate_key FROM persons WHERE merged_into IS NULL AND duplicate_key IS NOT NULL
             GROUP BY duplicate_key HAVING COUNT(*) > 1 ORDER BY duplicate_key LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;
        let mut groups = Vec::new();
        for key in keys {
            let rows = sqlx::query(&format!("SELECT {PERSON_COLUMNS} FROM persons p WHERE p.duplicate_key = $1 AND p.merged_into IS NULL ORDER BY p.id"))
                .bind(&key)
                .fetch_all(&self.pool)
                .await?;
            let persons: Vec<PersonRecord> =
                rows.iter().map(person_from_row).collect::<Result<_, _>>()?;
            let visible = scope.is_none_or(|s| {
                persons
                    .iter()
                    .any(|p| p.person.region_code.as_ref().is_some_and(|c| s.contains(c)))
            });
            if visible {
                groups.push(DuplicateGroup { key, persons });
            }
        }
        Ok(groups)
    }

    /// Merges person `merged` into `kept`: every case moves to `kept`, `merged`
    /// stays as a record pointing at `kept` (so its document still finds the
    /// person), and the merge is audited.
    pub async fn merge_persons(
        &self,
        kept: i64,
        merged: i64,
        reason: &str,
        actor: &Actor,
    ) -> Result<MergeOutcome, StoreError> {
        if kept == merged {
            return Err(StoreError::Invalid(
                "cannot merge a person into itself".into(),
            ));
        }
        let mut tx = self.pool.begin().await?;
        let keep = fetch_person(&mut tx, kept)
            .await?
            .ok_or(StoreError::NotFound {
                entity: "person",
                id: kept.to_string(),
            })?;
        let gone = fetch_person(&mut tx, merged)
            .await?
            .ok_or(StoreError::NotFound {
                entity: "person",
                id: merged.to_string(),
            })?;
        if keep.merged_into.is_some() || gone.merged_into.is_some() {
            return Err(StoreError::Invalid(
                "a person already merged away cannot take part in another merge".into(),
            ));
        }
        let moved =
            sqlx::query("UPDATE cases SET person_id = $1, updated_at = $2 WHERE person_id = $3")
                .bind(kept)
                .bind(now())
                .bind(merged)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        // Movements follow the person; a stay or seat both records already hold is kept once.
        for (table, same) in [
            ("checkins", "k.venue_id = checkins.venue_id AND k.check_in = checkins.check_in AND k.check_out = checkins.check_out"),
            ("trip_seats", "k.trip_id = trip_seats.trip_id"),
            ("contacts", "k.case_pk = contacts.case_pk"),
        ] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE person_id = $1 AND EXISTS (SELECT 1 FROM {table} k WHERE k.person_id = $2 AND {same})"
            ))
            .bind(merged)
            .bind(kept)
            .execute(&mut *tx)
            .await?;
            sqlx::query(&format!("UPDATE {table} SET person_id = $1 WHERE person_id = $2"))
                .bind(kept)
                .bind(merged)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE contacts SET via_person = $1 WHERE via_person = $2")
            .bind(kept)
            .bind(merged)
            .execute(&mut *tx)
            .await?;
        // Gaps in the kept record are filled from the merged one; nothing is overwritten.
        let filled =
            reconcile(&gone.person, &keep.person, true).unwrap_or_else(|_| keep.person.clone());
        let filled = PersonDraft {
            document: keep.person.document.clone(),
            ..filled
        };
        if filled != keep.person {
            update_person(&mut tx, kept, &filled).await?;
        }
        sqlx::query("UPDATE persons SET merged_into = $1, duplicate_key = NULL, updated_at = $2 WHERE id = $3")
            .bind(kept)
            .bind(now())
            .bind(merged)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query("INSERT INTO person_merges (kept_id, merged_id, moved_cases, reason, actor, at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
            .bind(kept)
            .bind(merged)
            .bind(moved as i64)
            .bind(reason)
            .bind(&actor.0)
            .bind(now())
            .fetch_one(&mut *tx)
            .await?;
        let merge_id = get_i64(&row, "id")?;
        audit::record(
            &mut tx,
            actor,
            "merge",
            "person",
            &kept.to_string(),
            serde_json::json!({"merge_id": merge_id, "kept": keep, "merged": gone, "moved_cases": moved, "reason": reason}),
        )
        .await?;
        tx.commit().await?;
        Ok(MergeOutcome {
            merge_id,
            kept,
            merged,
            moved_cases: moved,
        })
    }

    /// The merges a person took part in, as kept or merged: (merge id, kept, merged, moved cases, at).
    pub async fn merges_of(
        &self,
        person: i64,
    ) -> Result<Vec<(i64, i64, i64, i64, i64)>, StoreError> {
        let rows = sqlx::query("SELECT id, kept_id, merged_id, moved_cases, at FROM person_merges WHERE kept_id = $1 OR merged_id = $1 ORDER BY id")
            .bind(person)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    get_i64(r, "id")?,
                    get_i64(r, "kept_id")?,
                    get_i64(r, "merged_id")?,
                    get_i64(r, "moved_cases")?,
                    get_i64(r, "at")?,
                ))
            })
            .collect()
    }
}
