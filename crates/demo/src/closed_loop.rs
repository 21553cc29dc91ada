//! The closed loop of the demo: March 2022 played through the loop for a
//! sample of cases. For each case the script says when it was transferred and
//! admitted, when its investigations and disinfection were done, and for each
//! household contact (and a few secondary contacts) when they were notified,
//! moved and quarantined, which scheduled test was positive or missed, and
//! who was lost. Delays are realistic; a few are lapses. Pure: the CLI plays
//! the script against the store.

use crate::DemoData;
use chrono::{DateTime, Duration, Utc};
use closedloop_domain::contact::ContactCategory;
use closedloop_domain::lifecycle::{FacilityKind, LoopState};
use closedloop_domain::person::Document;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub struct DemoFacility {
    pub id: String,
    pub name: String,
    pub kind: FacilityKind,
    pub region_code: String,
    pub capacity: i64,
}

/// A command (指挥部) of a region, below its parent's.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoCommand {
    pub region_code: String,
    pub name: String,
    pub parent: Option<String>,
}

/// A working group of a command, with who held its posts when.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoUnit {
    pub region_code: String,
    /// Wire name of the function (quarantine, transfer, investigation, disinfection, testing…).
    pub function: &'static str,
    pub name: String,
    /// (role wire name, official, from).
    pub appointments: Vec<(&'static str, String, DateTime<Utc>)>,
}

/// A state change at a time, with the facility for placements and admissions.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoStep {
    pub to: LoopState,
    pub at: DateTime<Utc>,
    pub facility: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DemoContact {
    pub document: Document,
    pub category: ContactCategory,
    pub degree: u8,
    /// The person they were exposed to: the case, or a close contact.
    pub via: Document,
    pub first_exposure: DateTime<Utc>,
    pub steps: Vec<DemoStep>,
    /// The scheduled test (by order) that was positive.
    pub positive_test: Option<usize>,
    /// The scheduled test (by order) nobody took.
    pub missed_test: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DemoLoopCase {
    pub case_id: String,
    pub document: Document,
    pub report_time: DateTime<Utc>,
    pub steps: Vec<DemoStep>,
    /// (task kind wire name, done at; None: never done).
    pub tasks: Vec<(&'static str, Option<DateTime<Utc>>)>,
    /// When tracing identified the contacts.
    pub identified_at: DateTime<Utc>,
    pub contacts: Vec<DemoContact>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoopDemo {
    pub facilities: Vec<DemoFacility>,
    pub commands: Vec<DemoCommand>,
    pub units: Vec<DemoUnit>,
    pub cases: Vec<DemoLoopCase>,
    /// The demo's "now": the end of March 2022 (Beijing time).
    pub end: DateTime<Utc>,
}

fn minutes(m: i64) -> Duration {
    Duration::minutes(m)
}

/// The script for at most `max_cases` local cases of 10–24 March, in report order.
pub fn loop_script(data: &DemoData, seed: u64, max_cases: usize) -> LoopDemo {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x100F_100F);
    let beijing = |d: u32, h: u32| {
        chrono::NaiveDate::from_ymd_opt(2022, 3, d)
            .and_then(|x| x.and_hms_opt(h, 0, 0))
            .map(|x| x.and_utc() - Duration::hours(8))
            .unwrap_or_default()
    };
    let end = beijing(31, 0) + Duration::hours(24);
    let root = data
        .regions
        .iter()
        .find(|r| r.parent_code.is_none())
        .map(|r| r.code.clone())
        .unwrap_or_else(|| "220000".into());
    let cities = [("220100", "长春市"), ("220200", "吉林市")];
    let mut commands = vec![DemoCommand {
        region_code: root.clone(),
        name: "吉林省新冠肺炎疫情防控工作领导小组指挥部".into(),
        parent: None,
    }];
    let mut units = Vec::new();
    let mut facilities = Vec::new();
    // The province's own working groups answer for places without a city command.
    for (function, group) in [
        ("investigation", "流调溯源组"),
        ("transfer", "转运组"),
        ("quarantine", "隔离管控组"),
        ("testing", "核酸检测组"),
        ("disinfection", "消杀组"),
    ] {
        units.push(DemoUnit {
            region_code: root.clone(),
            function,
            name: format!("省指挥部{group}"),
            appointments: vec![
                ("head", format!("省{group}组长"), beijing(1, 0)),
                ("assignee", format!("省{group}责任人"), beijing(1, 0)),
            ],
        });
    }
    for (i, (code, name)) in cities.iter().enumerate() {
        if !data.regions.iter().any(|r| r.code == *code) {
            continue;
        }
        commands.push(DemoCommand {
            region_code: (*code).into(),
            name: format!("{name}疫情防控指挥部"),
            parent: Some(root.clone()),
        });
        for (function, group) in [
            ("investigation", "流调溯源组"),
            ("transfer", "转运组"),
            ("quarantine", "隔离管控组"),
            ("testing", "核酸检测组"),
            ("disinfection", "消杀组"),
        ] {
            let n = i * 10 + units.len();
            let mut appointments = vec![
                ("head", format!("{name}{group}组长甲{n}"), beijing(1, 0)),
                (
                    "assignee",
                    format!("{name}{group}责任人乙{n}"),
                    beijing(1, 0),
                ),
            ];
            // On 10 March the quarantine group's assignee is replaced.
            if function == "quarantine" {
                appointments.push((
                    "assignee",
                    format!("{name}{group}责任人丙{n}"),
                    beijing(10, 12),
                ));
            }
            units.push(DemoUnit {
                region_code: (*code).into(),
                function,
                name: format!("{name}{group}"),
                appointments,
            });
        }
        for k in 0..3 {
            facilities.push(DemoFacility {
                id: format!("{code}-H{k}"),
                name: format!("{name}第{}集中隔离点", k + 1),
                kind: FacilityKind::QuarantineHotel,
                region_code: (*code).into(),
                capacity: 300 + 100 * k as i64,
            });
        }
        facilities.push(DemoFacility {
            id: format!("{code}-F1"),
            name: format!("{name}方舱医院"),
            kind: FacilityKind::Fangcang,
            region_code: (*code).into(),
            capacity: 3000,
        });
        facilities.push(DemoFacility {
            id: format!("{code}-D1"),
            name: format!("{name}定点医院"),
            kind: FacilityKind::DesignatedHospital,
            region_code: (*code).into(),
            capacity: 800,
        });
    }
    let mut households: HashMap<&str, Vec<&Document>> = HashMap::new();
    for p in &data.persons {
        if let Some(h) = p.household_id.as_deref() {
            households.entry(h).or_default().push(&p.document);
        }
    }
    // Anyone may be a colleague; `used` keeps people to one record each.
    let background: Vec<&Document> = data.persons.iter().map(|p| &p.document).collect();
    let mut used: std::collections::HashSet<&str> = data
        .cases
        .iter()
        .map(|c| c.person.document.number.as_str())
        .collect();
    let mut cases = Vec::new();
    for c in &data.cases {
        if cases.len() >= max_cases {
            break;
        }
        let city = &c.reporting_region[..4];
        let Some(city_code) = cities.iter().map(|x| x.0).find(|x| x.starts_with(city)) else {
            continue;
        };
        if c.report_time < beijing(10, 0) || c.report_time >= beijing(25, 0) || c.outcome.is_some()
        {
            continue;
        }
        let r = c.report_time;
        // Admission: 2 h target; about one in eight is late.
        let late = rng.gen_bool(0.12);
        let admitted = r + minutes(if late {
            rng.gen_range(150..480)
        } else {
            rng.gen_range(70..115)
        });
        let hospital = if c
            .clinical_type
            .is_some_and(|t| t != closedloop_domain::case::ClinicalType::Mild)
        {
            format!("{city_code}-D1")
        } else {
            format!("{city_code}-F1")
        };
        let ordered = r + minutes(rng.gen_range(10..40));
        let moving = (admitted - minutes(rng.gen_range(20..45))).max(ordered + minutes(5));
        let steps = vec![
            DemoStep {
                to: LoopState::TransferOrdered,
                at: ordered,
                facility: None,
            },
            DemoStep {
                to: LoopState::InTransfer,
                at: moving,
                facility: None,
            },
            DemoStep {
                to: LoopState::Admitted,
                at: admitted,
                facility: Some(hospital),
            },
        ];
        let mut done = |target: i64, lapse: f64| -> Option<DateTime<Utc>> {
            if rng.gen_bool(lapse / 3.0) {
                None
            } else if rng.gen_bool(lapse) {
                Some(r + minutes(target + rng.gen_range(30..600)))
            } else {
                Some(r + minutes(rng.gen_range(target / 3..target)))
            }
        };
        let tasks = vec![
            ("investigate_core", done(240, 0.1)),
            ("investigate_full", done(1440, 0.08)),
            ("disinfect", done(1440, 0.1)),
        ];
        let identified_at = r + minutes(rng.gen_range(60..200));
        let mut contacts = Vec::new();
        let members = c
            .person
            .household_id
            .as_deref()
            .and_then(|h| households.get(h))
            .cloned()
            .unwrap_or_default();
        for doc in members.into_iter().take(4) {
            if !used.insert(doc.number.as_str()) {
                continue;
            }
            let exposed = r - Duration::hours(rng.gen_range(4..30));
            contacts.push(contact_script(
                &mut rng,
                doc,
                &c.person.document,
                ContactCategory::CloseContact,
                1,
                exposed,
                identified_at,
                city_code,
            ));
        }
        // Colleagues (同单位) when the household gives fewer than two.
        let mut tries = 0;
        while contacts.len() < 2 && !background.is_empty() && tries < 10 {
            tries += 1;
            let doc = background[rng.gen_range(0..background.len())];
            if used.insert(doc.number.as_str()) {
                let exposed = r - Duration::hours(rng.gen_range(4..30));
                contacts.push(contact_script(
                    &mut rng,
                    doc,
                    &c.person.document,
                    ContactCategory::CloseContact,
                    1,
                    exposed,
                    identified_at,
                    city_code,
                ));
            }
        }
        // A case waiting too long for the ambulance goes on exposing its
        // household: the first contact's last exposure falls after the
        // admission deadline, and half of them turn positive.
        if late {
            if let Some(first) = contacts.first_mut() {
                let waited = (admitted - r).num_minutes() - 120;
                first.first_exposure = r + minutes(120 + rng.gen_range(1..waited.max(2)));
                if rng.gen_bool(0.5) {
                    first.positive_test = Some(rng.gen_range(0..2));
                    first.missed_test = None;
                }
            }
        }
        // Every other case: a colleague of the first close contact, a secondary contact.
        if let (Some(first), true) = (
            contacts.first().map(|x| x.document.clone()),
            cases.len() % 2 == 0,
        ) {
            let pick = background.get(rng.gen_range(0..background.len().max(1)));
            if let Some(doc) = pick.filter(|d| used.insert(d.number.as_str())) {
                let exposed = r - Duration::hours(rng.gen_range(2..20));
                contacts.push(contact_script(
                    &mut rng,
                    doc,
                    &first,
                    ContactCategory::SecondaryContact,
                    2,
                    exposed,
                    identified_at,
                    city_code,
                ));
            }
        }
        cases.push(DemoLoopCase {
            case_id: c.case_id.clone(),
            document: c.person.document.clone(),
            report_time: r,
            steps,
            tasks,
            identified_at,
            contacts,
        });
    }
    LoopDemo {
        facilities,
        commands,
        units,
        cases,
        end,
    }
}

#[allow(clippy::too_many_arguments)]
fn contact_script(
    rng: &mut ChaCha8Rng,
    doc: &Document,
    via: &Document,
    category: ContactCategory,
    degree: u8,
    exposed: DateTime<Utc>,
    identified: DateTime<Utc>,
    city: &str,
) -> DemoContact {
    let mut steps = vec![
        DemoStep {
            to: LoopState::Notified,
            at: identified + minutes(rng.gen_range(10..60)),
            facility: None,
        },
        DemoStep {
            to: LoopState::PlacementOrdered,
            at: identified + minutes(rng.gen_range(60..120)),
            facility: None,
        },
    ];
    let roll: f64 = rng.gen();
    if roll < 0.03 {
        // 失联: the phone is off and nobody is at the address.
        steps.push(DemoStep {
            to: LoopState::Lost,
            at: identified + minutes(rng.gen_range(130..300)),
            facility: None,
        });
    } else {
        // Close contacts are due under control in 8 h, secondary in 12 h; about one in ten is late.
        let moved = if roll < 0.13 {
            rng.gen_range(780..2400)
        } else {
            rng.gen_range(150..440)
        };
        steps.push(DemoStep {
            to: LoopState::InTransfer,
            at: identified + minutes(moved),
            facility: None,
        });
        steps.push(DemoStep {
            to: LoopState::UnderQuarantine,
            at: identified + minutes(moved + rng.gen_range(30..90)),
            facility: Some(format!("{city}-H{}", rng.gen_range(0..3))),
        });
    }
    let positive_test = rng.gen_bool(0.06).then(|| rng.gen_range(0..2));
    let missed_test = rng.gen_bool(0.05).then(|| rng.gen_range(1..3));
    DemoContact {
        document: doc.clone(),
        category,
        degree,
        via: via.clone(),
        first_exposure: exposed,
        steps,
        positive_test,
        missed_test,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{generate_without_movement, DemoConfig};

    #[test]
    fn the_script_is_deterministic_and_has_lapses_and_leaks() {
        let data = generate_without_movement(&DemoConfig {
            scale: 0.1,
            seed: 2022,
        });
        let a = loop_script(&data, 2022, 150);
        assert_eq!(a, loop_script(&data, 2022, 150));
        assert!(!a.cases.is_empty() && a.cases.len() <= 150);
        let contacts: Vec<&DemoContact> = a.cases.iter().flat_map(|c| &c.contacts).collect();
        assert!(
            contacts.len() >= a.cases.len() * 2,
            "{} contacts",
            contacts.len()
        );
        assert!(contacts.iter().any(|c| c.positive_test.is_some()));
        assert!(
            a.cases
                .iter()
                .any(|c| c.steps[2].at - c.report_time > Duration::hours(2)),
            "a late admission"
        );
        for c in &a.cases {
            assert!(c.steps.windows(2).all(|w| w[0].at <= w[1].at));
            for k in &c.contacts {
                assert!(k.steps.windows(2).all(|w| w[0].at <= w[1].at));
                assert!(k.steps[0].at > c.identified_at);
            }
        }
        assert_eq!(
            a.units.iter().filter(|u| u.appointments.len() == 3).count(),
            2
        );
    }
}
