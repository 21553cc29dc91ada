//! Contact records: the people a case exposed, kept per case and updated in
//! place when the case is traced again.

use crate::{audit, decode, get_i64, get_str, now, Actor, Store, StoreError};
use closedloop_domain::contact::{ContactCategory, Explanation};
use serde::Serialize;
use std::collections::HashMap;

/// A contact as the tracing found it, to be stored for a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactDraft {
    pub person_id: i64,
    pub category: ContactCategory,
    pub degree: u8,
    pub first_exposure: i64,
    pub via_person: i64,
    pub explanations: Vec<Explanation>,
}

/// A stored contact of a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactRecord {
    pub case_id: String,
    pub person_id: i64,
    pub document_number: String,
    pub name: String,
    #[serde(flatten)]
    pub contact: ContactDraft,
    pub profile: String,
    pub traced_at: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ContactChanges {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub removed: u64,
}

const CONTACT_COLUMNS: &str = "c.case_id, k.person_id, p.document_number, p.name, k.category, k.degree, k.first_exposure, k.via_person, k.explanation, k.profile, k.traced_at";

fn contact_from_row(row: &sqlx::any::AnyRow) -> Result<ContactRecord, StoreError> {
    let explanation = get_str(row, "explanation")?;
    Ok(ContactRecord {
        case_id: get_str(row, "case_id")?,
        person_id: get_i64(row, "person_id")?,
        document_number: get_str(row, "document_number")?,
        name: get_str(row, "name")?,
        contact: ContactDraft {
            person_id: get_i64(row, "person_id")?,
            category: decode(&get_str(row, "category")?, ContactCategory::parse)?,
            degree: u8::try_from(get_i64(row, "degree")?)
                .map_err(|_| StoreError::Corrupt("degree".into()))?,
            first_exposure: get_i64(row, "first_exposure")?,
            via_person: get_i64(row, "via_person")?,
            explanations: serde_json::from_str(&explanation)
                .map_err(|_| StoreError::Corrupt(explanation.chars().take(40).collect()))?,
        },
        profile: get_str(row, "profile")?,
        traced_at: get_i64(row, "traced_at")?,
    })
}

impl Store {
    /// Stores the contacts of a case found by tracing under `profile`: known ones
    /// are updated in place, new ones added, and those no longer found removed.
    /// One transaction, audited.
    pub async fn record_contacts(
        &self,
        case_pk: i64,
        contacts: &[ContactDraft],
        profile: &str,
        actor: &Actor,
    ) -> Result<ContactChanges, StoreError> {
        self.record_contacts_of(&[(case_pk, contacts.to_vec())], profile, actor)
            .await
    }

    /// [`Store::record_contacts`] for many cases in one transaction; the
    /// changes are summed, and each case that changed has its audit entry (in
    /// the order of `cases`, chained in one batch). A case listed twice is
    /// refused. New contacts go in multi-row INSERTs and removed ones in one
    /// DELETE per case; changed ones are updated one by one (a re-trace changes
    /// few). The result, contacts and audit, is the same as writing row by row.
    pub async fn record_contacts_of(
        &self,
        cases: &[(i64, Vec<ContactDraft>)],
        profile: &str,
        actor: &Actor,
    ) -> Result<ContactChanges, StoreError> {
        let mut seen = std::collections::HashSet::new();
        if let Some((dup, _)) = cases.iter().find(|(pk, _)| !seen.insert(*pk)) {
            return Err(StoreError::Invalid(format!("case {dup} listed twice")));
        }
        let mut tx = self.pool.begin().await?;
        let mut total = ContactChanges::default();
        let mut audit_entries = Vec::new();
        for group in cases.chunks(CASES_PER_READ) {
            let (changes, entries) = record_group(&mut tx, group, profile).await?;
            total.created += changes.created;
            total.updated += changes.updated;
            total.unchanged += changes.unchanged;
            total.removed += changes.removed;
            audit_entries.extend(entries);
        }
        audit::record_many(&mut tx, actor, &audit_entries).await?;
        tx.commit().await?;
        Ok(total)
    }

    /// The contacts of a case, closest first (degree, then first exposure).
    pub async fn contacts_of_case(&self, case_id: &str) -> Result<Vec<ContactRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts k JOIN cases c ON c.id = k.case_pk JOIN persons p ON p.id = k.person_id
             WHERE c.case_id = $1 ORDER BY k.degree, k.first_exposure, p.document_number"
        ))
        .bind(case_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(contact_from_row).collect()
    }

    /// Every case a person is a contact of: the person's exposures.
    pub async fn exposures_of_person(
        &self,
        person_id: i64,
    ) -> Result<Vec<ContactRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts k JOIN cases c ON c.id = k.case_pk JOIN persons p ON p.id = k.person_id
             WHERE k.person_id = $1 ORDER BY k.first_exposure, c.case_id"
        ))
        .bind(person_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(contact_from_row).collect()
    }
}

/// Cases whose stored contacts are read in one query.
const CASES_PER_READ: usize = 200;
/// Rows per multi-row INSERT (12 values each, well under SQLite's and
/// PostgreSQL's limits on bound values).
const CONTACTS_PER_INSERT: usize = 400;

/// A new contact row, ready to bind.
struct NewRow<'a> {
    case_pk: i64,
    contact: &'a ContactDraft,
    explanation: String,
}

fn place_of(c: &ContactDraft) -> (Option<&'static str>, Option<String>) {
    let first = c.explanations.first();
    (
        first.map(|e| e.kind.as_str()),
        first.map(|e| e.place.clone()),
    )
}

/// Records the contacts of a group of distinct cases inside `tx` (see
/// [`Store::record_contacts_of`]); returns the changes and the audit entries
/// of the cases that changed, in the group's order.
async fn record_group(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    group: &[(i64, Vec<ContactDraft>)],
    profile: &str,
) -> Result<(ContactChanges, Vec<audit::Pending>), StoreError> {
    let pks: Vec<i64> = group.iter().map(|(pk, _)| *pk).collect();
    let list = crate::placeholders(1, pks.len());
    let sql = format!("SELECT id, case_id FROM cases WHERE id IN ({list})");
    let mut query = sqlx::query(&sql);
    for pk in &pks {
        query = query.bind(*pk);
    }
    let mut case_ids: HashMap<i64, String> = HashMap::new();
    for row in query.fetch_all(&mut **tx).await? {
        case_ids.insert(get_i64(&row, "id")?, get_str(&row, "case_id")?);
    }
    let sql = format!(
        "SELECT k.case_pk, {CONTACT_COLUMNS} FROM contacts k JOIN cases c ON c.id = k.case_pk JOIN persons p ON p.id = k.person_id WHERE k.case_pk IN ({list})"
    );
    let mut query = sqlx::query(&sql);
    for pk in &pks {
        query = query.bind(*pk);
    }
    let mut stored: HashMap<i64, HashMap<i64, ContactRecord>> = HashMap::new();
    for row in query.fetch_all(&mut **tx).await? {
        let c = contact_from_row(&row)?;
        stored
            .entry(get_i64(&row, "case_pk")?)
            .or_default()
            .insert(c.person_id, c);
    }
    let at = now();
    let mut total = ContactChanges::default();
    let mut entries = Vec::new();
    let mut new_rows: Vec<NewRow> = Vec::new();
    for (case_pk, contacts) in group {
        let Some(case_id) = case_ids.get(case_pk) else {
            return Err(StoreError::NotFound {
                entity: "case",
                id: case_pk.to_string(),
            });
        };
        let mut old = stored.remove(case_pk).unwrap_or_default();
        let mut changes = ContactChanges::default();
        for c in contacts {
            let explanation = serde_json::to_string(&c.explanations)
                .map_err(|e| StoreError::Invalid(e.to_string()))?;
            match old.remove(&c.person_id) {
                Some(o) if o.contact == *c && o.profile == profile => changes.unchanged += 1,
                Some(_) => {
                    let (place_kind, place) = place_of(c);
                    sqlx::query(
                        "UPDATE contacts SET category = $1, degree = $2, first_exposure = $3, via_person = $4, explanation = $5, profile = $6, updated_at = $7,
                         place_kind = $10, place = $11 WHERE case_pk = $8 AND person_id = $9",
                    )
                    .bind(c.category.as_str())
                    .bind(i64::from(c.degree))
                    .bind(c.first_exposure)
                    .bind(c.via_person)
                    .bind(&explanation)
                    .bind(profile)
                    .bind(at)
                    .bind(*case_pk)
                    .bind(c.person_id)
                    .bind(place_kind)
                    .bind(place)
                    .execute(&mut **tx)
                    .await?;
                    changes.updated += 1;
                }
                None => {
                    new_rows.push(NewRow {
                        case_pk: *case_pk,
                        contact: c,
                        explanation,
                    });
                    changes.created += 1;
                }
            }
        }
        let gone: Vec<i64> = old.into_keys().collect();
        for chunk in gone.chunks(CONTACTS_PER_INSERT) {
            let sql = format!(
                "DELETE FROM contacts WHERE case_pk = $1 AND person_id IN ({})",
                crate::placeholders(2, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(*case_pk);
            for person in chunk {
                q = q.bind(*person);
            }
            q.execute(&mut **tx).await?;
        }
        changes.removed += gone.len() as u64;
        if changes.created + changes.updated + changes.removed > 0 {
            entries.push(audit::Pending {
                action: "trace",
                entity: "case",
                entity_id: case_id.clone(),
                detail: serde_json::json!({"profile": profile, "changes": changes}),
            });
        }
        total.created += changes.created;
        total.updated += changes.updated;
        total.unchanged += changes.unchanged;
        total.removed += changes.removed;
    }
    for chunk in new_rows.chunks(CONTACTS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO contacts (case_pk, person_id, category, degree, first_exposure, via_person, explanation, profile, traced_at, updated_at, place_kind, place) VALUES {}",
            (0..chunk.len())
                .map(|i| {
                    let b = 12 * i;
                    format!("({})", crate::placeholders(b + 1, 12))
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut q = sqlx::query(&sql);
        for r in chunk {
            let c = r.contact;
            let (place_kind, place) = place_of(c);
            q = q
                .bind(r.case_pk)
                .bind(c.person_id)
                .bind(c.category.as_str())
                .bind(i64::from(c.degree))
                .bind(c.first_exposure)
                .bind(c.via_person)
                .bind(r.explanation.as_str())
                .bind(profile)
                .bind(at)
                .bind(at)
                .bind(place_kind)
                .bind(place);
        }
        q.execute(&mut **tx).await?;
    }
    Ok((total, entries))
}
