//! The batched contact writer (`record_contacts_of`: multi-row INSERTs, one
//! DELETE per case, one audit batch) against a reference that applies the same
//! drafts row by row to a map: same stored contacts, same changes, one audit
//! entry per changed case in order, and an intact hash chain. Both backends.

use chrono::{Duration, TimeZone, Utc};
use closedloop_domain::case::{CaseDraft, Classification, DiscoveryChannel, Origin};
use closedloop_domain::contact::{ContactCategory, Explanation, ExposureKind};
use closedloop_domain::person::{resident_id_check_digit, Document, DocumentType, PersonDraft};
use closedloop_domain::region::{Region, RegionLevel};
use closedloop_store::testing::TestDatabase;
use closedloop_store::{Actor, AuditFilter, ContactChanges, ContactDraft, ImportMode, StoreError};
use std::collections::HashMap;

const STRICT: ImportMode = ImportMode {
    skip_bad_rows: false,
    update: false,
};

fn person(seq: u32) -> PersonDraft {
    let first17 = format!(
        "2201021985{:04}{:03}",
        101 + seq / 1000 % 12 * 100,
        seq % 1000
    );
    let id = format!("{first17}{}", resident_id_check_digit(&first17).unwrap());
    let doc = Document::parse(DocumentType::ResidentId, &id).unwrap();
    let mut p = PersonDraft::new(doc, format!("人员{seq}"));
    p.region_code = Some("220102".into());
    p
}

/// A tiny deterministic generator (the reference needs no crate).
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Row-by-row reference: per case, person → (contact, profile).
type Model = HashMap<i64, HashMap<i64, (ContactDraft, String)>>;

fn apply(
    model: &mut Model,
    batch: &[(i64, Vec<ContactDraft>)],
    profile: &str,
    case_ids: &HashMap<i64, String>,
) -> (ContactChanges, Vec<(String, serde_json::Value)>) {
    let mut total = ContactChanges::default();
    let mut audit = Vec::new();
    for (pk, drafts) in batch {
        let stored = model.entry(*pk).or_default();
        let mut ch = ContactChanges::default();
        let mut keep = HashMap::new();
        for d in drafts {
            match stored.remove(&d.person_id) {
                Some((old, p)) if old == *d && p == profile => ch.unchanged += 1,
                Some(_) => ch.updated += 1,
                None => ch.created += 1,
            }
            keep.insert(d.person_id, (d.clone(), profile.to_string()));
        }
        ch.removed = stored.len() as u64;
        *stored = keep;
        if ch.created + ch.updated + ch.removed > 0 {
            audit.push((
                case_ids[pk].clone(),
                serde_json::json!({"profile": profile, "changes": ch}),
            ));
        }
        total.created += ch.created;
        total.updated += ch.updated;
        total.unchanged += ch.unchanged;
        total.removed += ch.removed;
    }
    (total, audit)
}

#[tokio::test]
async fn batched_contacts_equal_a_row_by_row_reference() {
    for db in TestDatabase::each("contacts_batch").await {
        let store = db.open().await;
        let actor = Actor::system();
        let region = |code: &str, parent: Option<&str>, level| Region {
            code: code.into(),
            parent_code: parent.map(Into::into),
            level,
            name_zh: "区".into(),
            name_en: "R".into(),
            population: 1000,
        };
        store
            .import_regions(
                &[
                    (2, region("220000", None, RegionLevel::Province)),
                    (3, region("220100", Some("220000"), RegionLevel::City)),
                    (4, region("220102", Some("220100"), RegionLevel::District)),
                ],
                STRICT,
                "r.csv",
                &actor,
            )
            .await
            .unwrap();
        const CASES: u32 = 5;
        const PEOPLE: u32 = 900;
        let reported = Utc.with_ymd_and_hms(2022, 3, 9, 0, 0, 0).unwrap();
        let cases: Vec<(u64, CaseDraft)> = (0..CASES)
            .map(|k| {
                let draft = CaseDraft {
                    case_id: format!("K{k}"),
                    person: person(k),
                    classification: Classification::Asymptomatic,
                    clinical_type: None,
                    origin: Origin::Local,
                    discovery_channel: DiscoveryChannel::CommunityScreening,
                    onset_date: None,
                    sample_time: Some(reported - Duration::hours(8)),
                    report_time: reported,
                    reporting_region: "220102".into(),
                    residence_region: Some("220102".into()),
                    reclassified_at: None,
                    outcome: None,
                    outcome_time: None,
                    isolated_at: None,
                };
                (u64::from(k) + 2, draft)
            })
            .collect();
        store
            .import_cases(&cases, STRICT, "c.csv", &actor)
            .await
            .unwrap();
        let others: Vec<(u64, PersonDraft)> = (CASES..PEOPLE)
            .map(|s| (u64::from(s) + 2, person(s)))
            .collect();
        store
            .import_persons(&others, STRICT, "p.csv", &actor)
            .await
            .unwrap();
        let mut case_ids = HashMap::new();
        for (_, c) in &cases {
            let pk = store.case(&c.case_id).await.unwrap().unwrap().id;
            case_ids.insert(pk, c.case_id.clone());
        }
        let mut pks: Vec<i64> = case_ids.keys().copied().collect();
        pks.sort();
        let mut ids = Vec::new();
        for (_, p) in &others {
            ids.push(
                store
                    .person_by_document(&p.document)
                    .await
                    .unwrap()
                    .unwrap()
                    .id,
            );
        }

        let mut rng = Lcg(7);
        let mut model = Model::new();
        let mut seen_audit = 0usize;
        // Rounds grow, shrink and change the contacts; the first case gets
        // more than one INSERT's worth in some rounds.
        for round in 0..8 {
            let profile = if round % 3 == 2 {
                "china-9th@1"
            } else {
                "china-8th@1"
            };
            let mut batch = Vec::new();
            for (k, pk) in pks.iter().enumerate() {
                if rng.below(5) == 0 {
                    continue;
                }
                let wanted = if k == 0 && round % 2 == 0 {
                    850
                } else {
                    rng.below(60) as usize
                };
                let mut drafts = Vec::new();
                let mut taken = std::collections::HashSet::new();
                for _ in 0..wanted {
                    let person_id = ids[rng.below(ids.len() as u64) as usize];
                    if !taken.insert(person_id) {
                        continue;
                    }
                    let degree = 1 + rng.below(2) as u8;
                    drafts.push(ContactDraft {
                        person_id,
                        category: if degree == 1 {
                            ContactCategory::CloseContact
                        } else {
                            ContactCategory::SecondaryContact
                        },
                        degree,
                        first_exposure: 1_000 * rng.below(3) as i64,
                        via_person: ids[0],
                        explanations: vec![Explanation {
                            kind: ExposureKind::Venue,
                            through: ids[0],
                            place: format!("V{}", rng.below(2)),
                            source_stay: Some([100, 200]),
                            contact_stay: Some([150, 400]),
                            overlap_seconds: Some(50),
                            crowd: Some(2),
                            carriage: None,
                            source_row: None,
                            contact_row: None,
                        }],
                    });
                }
                batch.push((*pk, drafts));
            }
            let (expected, audit) = apply(&mut model, &batch, profile, &case_ids);
            let got = store
                .record_contacts_of(&batch, profile, &actor)
                .await
                .unwrap();
            assert_eq!(got, expected, "round {round}");
            for (pk, case_id) in &case_ids {
                let stored: HashMap<i64, (ContactDraft, String)> = store
                    .contacts_of_case(case_id)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|r| (r.person_id, (r.contact, r.profile)))
                    .collect();
                let want = model.get(pk).cloned().unwrap_or_default();
                assert_eq!(stored, want, "round {round} case {case_id}");
            }
            let log = store
                .audit_log(&AuditFilter {
                    entity: Some("case".into()),
                    entity_id: None,
                    limit: 10_000,
                })
                .await
                .unwrap();
            let traced: Vec<(String, serde_json::Value)> = log
                .into_iter()
                .rev()
                .filter(|e| e.action == "trace")
                .map(|e| (e.entity_id, e.detail))
                .collect();
            assert_eq!(traced[seen_audit..], audit[..], "round {round}");
            seen_audit = traced.len();
            let chain = store.verify_audit_chain().await.unwrap();
            assert_eq!(chain.first_break, None, "round {round}");
        }

        // A case listed twice is refused and nothing is written.
        let before = store.contacts_of_case("K1").await.unwrap();
        let twice = vec![(pks[1], Vec::new()), (pks[1], Vec::new())];
        assert!(matches!(
            store
                .record_contacts_of(&twice, "china-8th@1", &actor)
                .await,
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(store.contacts_of_case("K1").await.unwrap(), before);
        store.close().await;
        db.cleanup().await;
    }
}
