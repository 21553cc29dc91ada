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
    /// changes are summed, and each case that changed has its audit entry.
    pub async fn record_contacts_of(
        &self,
        cases: &[(i64, Vec<ContactDraft>)],
        profile: &str,
        actor: &Actor,
    ) -> Result<ContactChanges, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut total = ContactChanges::default();
        for (case_pk, contacts) in cases {
            let c = record_in(&mut tx, *case_pk, contacts, profile, actor).await?;
            total.created += c.created;
            total.updated += c.updated;
            total.unchanged += c.unchanged;
            total.removed += c.removed;
        }
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

/// Records one case's contacts inside `tx` (see [`Store::record_contacts`]).
async fn record_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    case_pk: i64,
    contacts: &[ContactDraft],
    profile: &str,
    actor: &Actor,
) -> Result<ContactChanges, StoreError> {
    let rows = sqlx::query(&format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts k JOIN cases c ON c.id = k.case_pk JOIN persons p ON p.id = k.person_id WHERE k.case_pk = $1"
        ))
        .bind(case_pk)
        .fetch_all(&mut **tx)
        .await?;
    let mut stored: HashMap<i64, ContactRecord> = rows
        .iter()
        .map(|r| contact_from_row(r).map(|c| (c.person_id, c)))
        .collect::<Result<_, _>>()?;
    let case_id = match stored.values().next() {
        Some(c) => c.case_id.clone(),
        None => get_str(
            &sqlx::query("SELECT case_id FROM cases WHERE id = $1")
                .bind(case_pk)
                .fetch_one(&mut **tx)
                .await?,
            "case_id",
        )?,
    };
    let at = now();
    let mut changes = ContactChanges::default();
    for c in contacts {
        let explanation = serde_json::to_string(&c.explanations)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let first = c.explanations.first();
        let place_kind = first.map(|e| e.kind.as_str());
        let place = first.map(|e| e.place.clone());
        match stored.remove(&c.person_id) {
            Some(old) if old.contact == *c && old.profile == profile => changes.unchanged += 1,
            Some(_) => {
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
                    .bind(case_pk)
                    .bind(c.person_id)
                    .bind(place_kind)
                    .bind(place)
                    .execute(&mut **tx)
                    .await?;
                changes.updated += 1;
            }
            None => {
                sqlx::query(
                        "INSERT INTO contacts (case_pk, person_id, category, degree, first_exposure, via_person, explanation, profile, traced_at, updated_at, place_kind, place)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11)",
                    )
                    .bind(case_pk)
                    .bind(c.person_id)
                    .bind(c.category.as_str())
                    .bind(i64::from(c.degree))
                    .bind(c.first_exposure)
                    .bind(c.via_person)
                    .bind(&explanation)
                    .bind(profile)
                    .bind(at)
                    .bind(place_kind)
                    .bind(place)
                    .execute(&mut **tx)
                    .await?;
                changes.created += 1;
            }
        }
    }
    for gone in stored.keys() {
        sqlx::query("DELETE FROM contacts WHERE case_pk = $1 AND person_id = $2")
            .bind(case_pk)
            .bind(*gone)
            .execute(&mut **tx)
            .await?;
        changes.removed += 1;
    }
    if changes.created + changes.updated + changes.removed > 0 {
        audit::record(
            tx,
            actor,
            "trace",
            "case",
            &case_id,
            serde_json::json!({"profile": profile, "changes": changes}),
        )
        .await?;
    }
    Ok(changes)
}
