//! The JSON shapes of the API and their conversion from domain and store types.
//! Instants leave as RFC 3339 in the deployment's time zone; vocabularies as
//! their stable wire names; region names in the request's language.

use chrono::NaiveDate;
use chrono_tz::Tz;
use closedloop_domain::bulletin::{
    Bulletin, ByClinicalType, ChannelFigures, ConfirmedAsymptomatic, Cumulative, Outcomes,
    RegionFigures, RegionRef,
};
use closedloop_domain::region::{Region, RegionTree};
use closedloop_domain::time::{format_instant, from_epoch};
use closedloop_domain::Lang;
use closedloop_store::{AuditEntry, CaseRecord, DuplicateGroup, MergeOutcome, PersonRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a conversion needs besides the value: where the reader is.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub tz: Tz,
    pub lang: Lang,
    pub tree: &'a RegionTree,
}

impl View<'_> {
    pub fn instant(&self, secs: i64) -> String {
        format_instant(from_epoch(secs), self.tz)
    }

    fn time(&self, t: chrono::DateTime<chrono::Utc>) -> String {
        format_instant(t, self.tz)
    }

    fn region_name(&self, code: Option<&str>) -> Option<String> {
        code.and_then(|c| self.tree.get(c))
            .map(|r| r.name(self.lang).to_string())
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` when the database does not answer.
    pub status: String,
    /// `ok` or `error`.
    pub database: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RegionOut {
    pub code: String,
    pub parent_code: Option<String>,
    /// province, city, district, subdistrict or community.
    pub level: String,
    /// The name in the request's language.
    pub name: String,
    pub name_zh: String,
    pub name_en: String,
    pub population: i64,
}

impl RegionOut {
    pub fn new(r: &Region, lang: Lang) -> RegionOut {
        RegionOut {
            code: r.code.clone(),
            parent_code: r.parent_code.clone(),
            level: r.level.as_str().into(),
            name: r.name(lang).into(),
            name_zh: r.name_zh.clone(),
            name_en: r.name_en.clone(),
            population: r.population,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RegionList {
    pub items: Vec<RegionOut>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RegionDetail {
    #[serde(flatten)]
    pub region: RegionOut,
    /// Direct children, by code.
    pub children: Vec<RegionOut>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PersonOut {
    pub id: i64,
    /// resident_id, passport or other.
    pub document_type: String,
    pub document_number: String,
    pub name: String,
    /// male or female.
    pub sex: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub region_code: Option<String>,
    pub region_name: Option<String>,
    pub household_id: Option<String>,
    /// Set when this record was merged into that person.
    pub merged_into: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
}

impl PersonOut {
    pub fn new(r: &PersonRecord, v: &View) -> PersonOut {
        let p = &r.person;
        PersonOut {
            id: r.id,
            document_type: p.document.kind.as_str().into(),
            document_number: p.document.number.clone(),
            name: p.name.clone(),
            sex: p.sex.map(|s| s.as_str().into()),
            birth_date: p.birth_date,
            phone: p.phone.clone(),
            address: p.address.clone(),
            region_code: p.region_code.clone(),
            region_name: v.region_name(p.region_code.as_deref()),
            household_id: p.household_id.clone(),
            merged_into: r.merged_into,
            created_at: v.instant(r.created_at),
            updated_at: v.instant(r.updated_at),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PersonPage {
    pub items: Vec<PersonOut>,
    /// Matches in all, not only on this page.
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// One merge a person took part in, as the kept or the merged record.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MergeRecord {
    pub merge_id: i64,
    pub kept: i64,
    pub merged: i64,
    pub moved_cases: i64,
    pub at: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PersonDetail {
    #[serde(flatten)]
    pub person: PersonOut,
    /// Cases now attached to this person, in report order.
    pub cases: Vec<CaseOut>,
    pub merges: Vec<MergeRecord>,
}

/// The person of a case, as far as a case list shows them.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PersonBrief {
    pub name: String,
    pub document_type: String,
    pub document_number: String,
    pub sex: Option<String>,
    pub birth_date: Option<NaiveDate>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CaseOut {
    pub case_id: String,
    pub person_id: i64,
    pub person: PersonBrief,
    /// confirmed or asymptomatic, now.
    pub classification: String,
    /// mild, moderate, severe or critical.
    pub clinical_type: Option<String>,
    /// local or imported.
    pub origin: String,
    pub discovery_channel: String,
    pub onset_date: Option<NaiveDate>,
    pub sample_time: Option<String>,
    pub report_time: String,
    pub reporting_region: String,
    pub reporting_region_name: Option<String>,
    pub residence_region: Option<String>,
    pub residence_region_name: Option<String>,
    /// When an asymptomatic infection was reclassified as confirmed.
    pub reclassified_at: Option<String>,
    /// discharged, released or died.
    pub outcome: Option<String>,
    pub outcome_time: Option<String>,
    /// When the case was isolated: the end of its infectious window.
    pub isolated_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl CaseOut {
    pub fn new(r: &CaseRecord, v: &View) -> CaseOut {
        let c = &r.case;
        let p = &c.person;
        CaseOut {
            case_id: c.case_id.clone(),
            person_id: r.person_id,
            person: PersonBrief {
                name: p.name.clone(),
                document_type: p.document.kind.as_str().into(),
                document_number: p.document.number.clone(),
                sex: p.sex.map(|s| s.as_str().into()),
                birth_date: p.birth_date,
            },
            classification: c.classification.as_str().into(),
            clinical_type: c.clinical_type.map(|x| x.as_str().into()),
            origin: c.origin.as_str().into(),
            discovery_channel: c.discovery_channel.as_str().into(),
            onset_date: c.onset_date,
            sample_time: c.sample_time.map(|t| v.time(t)),
            report_time: v.time(c.report_time),
            reporting_region: c.reporting_region.clone(),
            reporting_region_name: v.region_name(Some(&c.reporting_region)),
            residence_region: c.residence_region.clone(),
            residence_region_name: v.region_name(c.residence_region.as_deref()),
            reclassified_at: c.reclassified_at.map(|t| v.time(t)),
            outcome: c.outcome.map(|x| x.as_str().into()),
            outcome_time: c.outcome_time.map(|t| v.time(t)),
            isolated_at: c.isolated_at.map(|t| v.time(t)),
            created_at: v.instant(r.created_at),
            updated_at: v.instant(r.updated_at),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CasePage {
    pub items: Vec<CaseOut>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClassificationOut {
    pub at: String,
    pub classification: String,
    pub clinical_type: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CaseDetail {
    #[serde(flatten)]
    pub case: CaseOut,
    /// Every classification the case has had, oldest first.
    pub classification_history: Vec<ClassificationOut>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DuplicateGroupOut {
    /// What the people share: name, birth date and phone.
    pub key: String,
    pub persons: Vec<PersonOut>,
}

impl DuplicateGroupOut {
    pub fn new(g: &DuplicateGroup, v: &View) -> DuplicateGroupOut {
        DuplicateGroupOut {
            key: g.key.clone(),
            persons: g.persons.iter().map(|p| PersonOut::new(p, v)).collect(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DuplicateList {
    pub items: Vec<DuplicateGroupOut>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The person who stays.
    pub keep: i64,
    /// The person merged into `keep`: their cases move, their record points at `keep`.
    pub merge: i64,
    /// Why, for the audit log.
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MergeOut {
    pub merge_id: i64,
    pub kept: i64,
    pub merged: i64,
    pub moved_cases: u64,
}

impl From<MergeOutcome> for MergeOut {
    fn from(m: MergeOutcome) -> MergeOut {
        MergeOut {
            merge_id: m.merge_id,
            kept: m.kept,
            merged: m.merged,
            moved_cases: m.moved_cases,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEntryOut {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    /// What changed; its shape depends on the action.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl AuditEntryOut {
    pub fn new(e: AuditEntry, v: &View) -> AuditEntryOut {
        AuditEntryOut {
            id: e.id,
            at: v.instant(e.at),
            actor: e.actor,
            action: e.action,
            entity: e.entity,
            entity_id: e.entity_id,
            detail: e.detail,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditList {
    /// Newest first.
    pub items: Vec<AuditEntryOut>,
}

/// A bulletin rendered as prose.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BulletinText {
    pub text: String,
}

/// What `GET /api/bulletins/{date}` answers: the figures, or the prose.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum BulletinResponse {
    Figures(Box<BulletinOut>),
    Text(BulletinText),
}

// The bulletin mirrors the domain's contract field for field; the conversions
// destructure every struct so that a field added there fails to compile here.

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BulletinRegion {
    pub code: String,
    pub name: String,
    pub level: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BulletinByClinicalType {
    pub mild: u64,
    pub moderate: u64,
    pub severe: u64,
    pub critical: u64,
    pub unknown: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BulletinConfirmedAsymptomatic {
    pub confirmed: u64,
    pub asymptomatic: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BulletinChannel {
    pub channel: String,
    pub confirmed: u64,
    pub asymptomatic: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BulletinOutcomes {
    pub discharged: u64,
    pub released: u64,
    pub died: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BulletinCumulative {
    pub local_confirmed: u64,
    pub local_asymptomatic: u64,
    pub imported_confirmed: u64,
    pub imported_asymptomatic: u64,
    pub discharged: u64,
    pub released: u64,
    pub died: u64,
    pub in_hospital: u64,
    pub under_observation: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BulletinRegionFigures {
    pub code: String,
    pub name: String,
    pub new_local_confirmed: u64,
    pub new_local_confirmed_reclassified: u64,
    pub new_local_asymptomatic: u64,
    pub new_imported_confirmed: u64,
    pub new_imported_asymptomatic: u64,
    pub discharged: u64,
    pub released: u64,
}

/// The figures of one day (0–24 h local time) for a region and everything below it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BulletinOut {
    pub date: NaiveDate,
    pub region: BulletinRegion,
    pub new_local_confirmed: u64,
    /// Of `new_local_confirmed`, reported asymptomatic on an earlier day.
    pub new_local_confirmed_reclassified: u64,
    pub new_local_confirmed_by_clinical_type: BulletinByClinicalType,
    pub new_local_asymptomatic: u64,
    pub new_imported_confirmed: u64,
    pub new_imported_confirmed_reclassified: u64,
    pub new_imported_asymptomatic: u64,
    pub new_local_found_under_control: BulletinConfirmedAsymptomatic,
    pub new_local_found_in_community: BulletinConfirmedAsymptomatic,
    pub new_local_by_discovery_channel: Vec<BulletinChannel>,
    pub outcomes: BulletinOutcomes,
    pub cumulative: BulletinCumulative,
    /// Child regions with any figure on the day, in code order.
    pub by_region: Vec<BulletinRegionFigures>,
}

fn confirmed_asymptomatic(c: ConfirmedAsymptomatic) -> BulletinConfirmedAsymptomatic {
    let ConfirmedAsymptomatic {
        confirmed,
        asymptomatic,
    } = c;
    BulletinConfirmedAsymptomatic {
        confirmed,
        asymptomatic,
    }
}

impl From<Bulletin> for BulletinOut {
    fn from(b: Bulletin) -> BulletinOut {
        let Bulletin {
            date,
            region: RegionRef { code, name, level },
            new_local_confirmed,
            new_local_confirmed_reclassified,
            new_local_confirmed_by_clinical_type:
                ByClinicalType {
                    mild,
                    moderate,
                    severe,
                    critical,
                    unknown,
                },
            new_local_asymptomatic,
            new_imported_confirmed,
            new_imported_confirmed_reclassified,
            new_imported_asymptomatic,
            new_local_found_under_control,
            new_local_found_in_community,
            new_local_by_discovery_channel,
            outcomes:
                Outcomes {
                    discharged,
                    released,
                    died,
                },
            cumulative,
            by_region,
        } = b;
        let Cumulative {
            local_confirmed,
            local_asymptomatic,
            imported_confirmed,
            imported_asymptomatic,
            discharged: cumulative_discharged,
            released: cumulative_released,
            died: cumulative_died,
            in_hospital,
            under_observation,
        } = cumulative;
        BulletinOut {
            date,
            region: BulletinRegion {
                code,
                name,
                level: level.as_str().into(),
            },
            new_local_confirmed,
            new_local_confirmed_reclassified,
            new_local_confirmed_by_clinical_type: BulletinByClinicalType {
                mild,
                moderate,
                severe,
                critical,
                unknown,
            },
            new_local_asymptomatic,
            new_imported_confirmed,
            new_imported_confirmed_reclassified,
            new_imported_asymptomatic,
            new_local_found_under_control: confirmed_asymptomatic(new_local_found_under_control),
            new_local_found_in_community: confirmed_asymptomatic(new_local_found_in_community),
            new_local_by_discovery_channel: new_local_by_discovery_channel
                .into_iter()
                .map(
                    |ChannelFigures {
                         channel,
                         confirmed,
                         asymptomatic,
                     }| BulletinChannel {
                        channel: channel.as_str().into(),
                        confirmed,
                        asymptomatic,
                    },
                )
                .collect(),
            outcomes: BulletinOutcomes {
                discharged,
                released,
                died,
            },
            cumulative: BulletinCumulative {
                local_confirmed,
                local_asymptomatic,
                imported_confirmed,
                imported_asymptomatic,
                discharged: cumulative_discharged,
                released: cumulative_released,
                died: cumulative_died,
                in_hospital,
                under_observation,
            },
            by_region: by_region
                .into_iter()
                .map(
                    |RegionFigures {
                         code,
                         name,
                         new_local_confirmed,
                         new_local_confirmed_reclassified,
                         new_local_asymptomatic,
                         new_imported_confirmed,
                         new_imported_asymptomatic,
                         discharged,
                         released,
                     }| BulletinRegionFigures {
                        code,
                        name,
                        new_local_confirmed,
                        new_local_confirmed_reclassified,
                        new_local_asymptomatic,
                        new_imported_confirmed,
                        new_imported_asymptomatic,
                        discharged,
                        released,
                    },
                )
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use closedloop_domain::bulletin::{compute, CaseFact, Period};
    use closedloop_domain::case::{
        Classification, ClinicalType, DiscoveryChannel, Origin, Outcome,
    };
    use closedloop_domain::region::RegionLevel;

    fn region(code: &str, parent: Option<&str>, level: RegionLevel) -> Region {
        Region {
            code: code.into(),
            parent_code: parent.map(Into::into),
            level,
            name_zh: format!("区{code}"),
            name_en: format!("R{code}"),
            population: 0,
        }
    }

    /// The mirror must serialise exactly like the domain's contract.
    #[test]
    fn the_bulletin_mirror_serialises_like_the_domain() {
        let tree = RegionTree::new([
            region("220000", None, RegionLevel::Province),
            region("220100", Some("220000"), RegionLevel::City),
            region("220200", Some("220000"), RegionLevel::City),
        ]);
        let fact = |region: &str, class, reported, reclassified, outcome, count| CaseFact {
            reporting_region: String::from(region),
            origin: Origin::Local,
            classification: class,
            clinical_type: (class == Classification::Confirmed).then_some(ClinicalType::Severe),
            discovery_channel: DiscoveryChannel::HomeQuarantine,
            reported,
            reclassified,
            outcome,
            count,
        };
        let mut imported = fact(
            "220200",
            Classification::Asymptomatic,
            Period::During,
            None,
            None,
            2,
        );
        imported.origin = Origin::Imported;
        imported.discovery_channel = DiscoveryChannel::ArrivalTest;
        let facts = [
            fact(
                "220100",
                Classification::Confirmed,
                Period::During,
                None,
                None,
                3,
            ),
            fact(
                "220100",
                Classification::Confirmed,
                Period::Before,
                Some(Period::During),
                Some((Outcome::Died, Period::During)),
                1,
            ),
            fact(
                "220000",
                Classification::Asymptomatic,
                Period::Before,
                None,
                Some((Outcome::Released, Period::During)),
                4,
            ),
            imported,
        ];
        let Some(date) = NaiveDate::from_ymd_opt(2022, 3, 9) else {
            panic!("bad test date")
        };
        let Some(b) = compute(&tree, "220000", date, &facts, Lang::En) else {
            panic!("the scope is in the tree")
        };
        assert!(!b.by_region.is_empty() && !b.new_local_by_discovery_channel.is_empty());
        let domain = serde_json::to_value(&b).ok();
        let mirror = serde_json::to_value(BulletinOut::from(b)).ok();
        assert!(domain.is_some());
        assert_eq!(domain, mirror);
    }
}

/// The identity of a person outside the reader's jurisdiction who appears
/// linked to one inside (the contact of a case, the source of an exposure):
/// masked name and document (`mask_name`, `mask_document`), never phone or
/// address. The one place that pseudonymises: the API's [`ContactOut::shown`]
/// and [`PersonOut::pseudonymised`] and the console's pages call it.
pub fn pseudonymise(name: &str, document: &str) -> (String, String) {
    (
        closedloop_domain::access::mask_name(name),
        closedloop_domain::access::mask_document(document),
    )
}

/// The name of a case outside the reader's jurisdiction in a cluster that
/// crosses into it: `C-` and a hash of the case's person and id, stable and
/// distinct per case (the chain's nodes stay apart), not reversible without
/// the registry. Applied by `ClusterReport::masked` to the cluster's id, its
/// cases and links, so the JSON, DOT and the console's pages and SVG agree.
pub fn pseudonymise_case(case_id: &str, person_id: i64) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(format!("closedloop-case:{person_id}:{case_id}"));
    format!("C-{}", &hex::encode(h.finalize())[..10])
}

impl PersonOut {
    /// This person as a reader outside their jurisdiction sees them linked
    /// from a record inside it: see [`pseudonymise`].
    pub fn pseudonymised(mut self) -> PersonOut {
        (self.name, self.document_number) = pseudonymise(&self.name, &self.document_number);
        self.phone = None;
        self.address = None;
        self.household_id = None;
        self.birth_date = None;
        self
    }
}

/// A contact of a case, with why.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactOut {
    pub case_id: String,
    pub person_id: i64,
    pub document_number: String,
    /// Empty for someone known only by a check-in, until investigators complete the record.
    pub name: String,
    /// close_contact, secondary_contact or venue_exposed.
    pub category: String,
    /// The category in the request's language.
    pub category_label: String,
    /// 1 (exposed to the case) or 2 (exposed to a close contact).
    pub degree: u8,
    pub first_exposure: String,
    /// The person of the earliest exposure: the case, or the close contact (degree 2).
    pub via_person: i64,
    /// The first exposure in words, in the request's language.
    pub why: String,
    /// Every exposure kept (at most 8): kind (venue, household, co_travel), through
    /// (person id), place, source_stay and contact_stay ([check_in, check_out], seconds),
    /// overlap_seconds, crowd, carriage, source_row, contact_row.
    #[schema(value_type = Vec<Object>)]
    pub explanations: Vec<closedloop_domain::contact::Explanation>,
    /// The protocol profile of the tracing, name@version.
    pub profile: String,
    pub traced_at: String,
    /// True when the person lies outside the reader's jurisdiction: name and
    /// document are masked (see [`pseudonymise`]).
    pub pseudonymised: bool,
}

impl ContactOut {
    /// As the reader may see it: pseudonymised unless `visible` (the person
    /// is in the reader's jurisdiction).
    pub fn shown(mut self, visible: bool) -> ContactOut {
        if !visible {
            (self.name, self.document_number) = pseudonymise(&self.name, &self.document_number);
            self.pseudonymised = true;
        }
        self
    }

    pub fn new(c: closedloop_store::ContactRecord, v: &View) -> ContactOut {
        ContactOut {
            why: c
                .contact
                .explanations
                .first()
                .map(|e| e.describe(v.lang, v.tz))
                .unwrap_or_default(),
            case_id: c.case_id,
            person_id: c.person_id,
            document_number: c.document_number,
            name: c.name,
            category: c.contact.category.as_str().into(),
            category_label: c.contact.category.label(v.lang).into(),
            degree: c.contact.degree,
            first_exposure: v.instant(c.contact.first_exposure),
            via_person: c.contact.via_person,
            explanations: c.contact.explanations,
            profile: c.profile,
            traced_at: v.instant(c.traced_at),
            pseudonymised: false,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactList {
    pub items: Vec<ContactOut>,
}

/// A case registered through the API, with what its tracing found.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredCase {
    pub case: CaseOut,
    pub contacts: Vec<ContactOut>,
}

/// What a movement import did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportOut {
    pub batch: Option<i64>,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Stays in the server's trace index after the import.
    pub index_stays: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterCaseOut {
    /// A pseudonym (`C-` and a hash) for a case outside the reader's jurisdiction.
    pub case_id: String,
    /// None for a case outside the reader's jurisdiction.
    pub person_id: Option<i64>,
    pub reference_time: String,
    pub report_time: String,
    pub reporting_region: String,
    /// Outside the reader's jurisdiction: named by a pseudonym.
    pub pseudonymised: bool,
}

impl ClusterCaseOut {
    fn new(m: &closedloop_store::ClusterMember, v: &View) -> ClusterCaseOut {
        ClusterCaseOut {
            case_id: m.case_id.clone(),
            person_id: (!m.pseudonymised).then_some(m.person_id),
            reference_time: v.instant(m.reference_time),
            report_time: v.instant(m.report_time),
            reporting_region: m.reporting_region.clone(),
            pseudonymised: m.pseudonymised,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterPlaceOut {
    /// venue, household or co_travel.
    pub kind: String,
    /// Venue, household or trip id.
    pub id: String,
    pub name: Option<String>,
    /// school, workplace, restaurant… (venues).
    pub venue_type: Option<String>,
    pub venue_type_label: Option<String>,
    /// Links between the cluster's cases made there.
    pub links: usize,
}

impl ClusterPlaceOut {
    fn new(p: &closedloop_store::ClusterPlace, v: &View) -> ClusterPlaceOut {
        ClusterPlaceOut {
            kind: p.kind.as_str().into(),
            id: p.id.clone(),
            name: p.name.clone(),
            venue_type: p.venue_type.map(|t| t.as_str().into()),
            venue_type_label: p.venue_type.map(|t| t.label(v.lang).into()),
            links: p.links,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegionCount {
    pub code: String,
    pub name: Option<String>,
    pub cases: usize,
}

/// A cluster (聚集性疫情), named by its first case.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterOut {
    pub id: String,
    pub size: usize,
    pub first_case: ClusterCaseOut,
    pub last_case: ClusterCaseOut,
    pub places: Vec<ClusterPlaceOut>,
    /// Schools, workplaces and hospitals among the places.
    pub institutions: Vec<ClusterPlaceOut>,
    pub regions: Vec<RegionCount>,
    pub transmission_edges: usize,
    pub shared_exposures: usize,
    /// The cases by reference time.
    pub cases: Vec<ClusterCaseOut>,
}

impl ClusterOut {
    pub fn new(c: &closedloop_store::ClusterReport, v: &View) -> ClusterOut {
        ClusterOut {
            id: c.id.clone(),
            size: c.size,
            first_case: ClusterCaseOut::new(&c.first_case, v),
            last_case: ClusterCaseOut::new(&c.last_case, v),
            places: c
                .places
                .iter()
                .map(|p| ClusterPlaceOut::new(p, v))
                .collect(),
            institutions: c
                .institutions
                .iter()
                .map(|p| ClusterPlaceOut::new(p, v))
                .collect(),
            regions: c
                .regions
                .iter()
                .map(|(code, n)| RegionCount {
                    code: code.clone(),
                    name: v.region_name(Some(code)),
                    cases: *n,
                })
                .collect(),
            transmission_edges: c.transmission_edges,
            shared_exposures: c.shared_exposures,
            cases: c.cases.iter().map(|m| ClusterCaseOut::new(m, v)).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterList {
    pub items: Vec<ClusterOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChainLinkOut {
    /// The source of a transmission edge; for a shared exposure the earlier case.
    pub from: String,
    pub to: String,
    /// transmission (directed) or shared_exposure (undirected).
    pub kind: String,
    pub at: String,
    /// venue, household or co_travel.
    pub place_kind: String,
    pub place: String,
}

/// The transmission chain of a cluster (`?format=dot` gives GraphViz DOT as `{"dot": …}`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ChainOut {
    pub cluster: String,
    pub cases: Vec<ClusterCaseOut>,
    pub links: Vec<ChainLinkOut>,
    /// The transmission tree: each case's likely infector (the case that
    /// exposed it earliest) and the other candidates.
    pub tree: Vec<TreeNodeOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TreeNodeOut {
    pub case_id: String,
    /// None for a case no other case of the cluster exposed (a root).
    pub infector: Option<CandidateOut>,
    pub other_candidates: Vec<CandidateOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CandidateOut {
    pub case_id: String,
    /// The earliest exposure of the case to this source.
    pub at: String,
    /// venue, household or co_travel.
    pub place_kind: String,
    pub place: String,
}

impl CandidateOut {
    fn new(c: &closedloop_store::Candidate, v: &View) -> CandidateOut {
        CandidateOut {
            case_id: c.case_id.clone(),
            at: v.instant(c.at),
            place_kind: c.place_kind.as_str().into(),
            place: c.place.clone(),
        }
    }
}

impl ChainOut {
    pub fn new(c: &closedloop_store::ClusterReport, v: &View) -> ChainOut {
        ChainOut {
            cluster: c.id.clone(),
            cases: c.cases.iter().map(|m| ClusterCaseOut::new(m, v)).collect(),
            links: c
                .chain
                .iter()
                .map(|l| ChainLinkOut {
                    from: l.from.clone(),
                    to: l.to.clone(),
                    kind: l.kind.into(),
                    at: v.instant(l.at),
                    place_kind: l.place_kind.as_str().into(),
                    place: l.place.clone(),
                })
                .collect(),
            tree: c
                .tree()
                .iter()
                .map(|n| TreeNodeOut {
                    case_id: n.case_id.clone(),
                    infector: n.infector.as_ref().map(|p| CandidateOut::new(p, v)),
                    other_candidates: n
                        .other_candidates
                        .iter()
                        .map(|o| CandidateOut::new(o, v))
                        .collect(),
                })
                .collect(),
        }
    }
}
