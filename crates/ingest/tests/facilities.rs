//! The facilities contract: rows in, facilities or located errors out, and
//! an export that reads back unchanged (CSV and XLSX).

use closedloop_domain::facility::Facility;
use closedloop_domain::lifecycle::FacilityKind;
use closedloop_ingest::*;

fn csv(text: &str) -> Table {
    read_table_from(text.as_bytes(), FileFormat::Csv, "facilities.csv").unwrap()
}

#[test]
fn facilities_are_read_and_every_bad_value_is_named_by_line_and_column() {
    let t = csv("facility_id,name,kind,region_code,address,capacity\n\
                 H1,南关区第一集中隔离点,quarantine_hotel,220102,长春市南关区某路1号,300\n\
                 F1,方舱医院,方舱医院,220100,,3000\n\
                 HOME,居家,home,,,0\n\
                 X1,,fangcang,220100,,10\n\
                 X2,酒店,hotel,220100,,10\n\
                 X3,酒店,quarantine_hotel,22010,,10\n\
                 X4,酒店,quarantine_hotel,220100,,0\n\
                 X5,酒店,quarantine_hotel,220100,,many\n");
    let parsed = parse_facilities(&t).unwrap();
    assert_eq!(
        parsed.records,
        vec![
            (
                2,
                Facility {
                    facility_id: "H1".into(),
                    name: "南关区第一集中隔离点".into(),
                    kind: FacilityKind::QuarantineHotel,
                    region_code: Some("220102".into()),
                    address: "长春市南关区某路1号".into(),
                    capacity: 300,
                }
            ),
            (
                3,
                Facility {
                    facility_id: "F1".into(),
                    name: "方舱医院".into(),
                    kind: FacilityKind::Fangcang,
                    region_code: Some("220100".into()),
                    address: String::new(),
                    capacity: 3000,
                }
            ),
            (
                4,
                Facility {
                    facility_id: "HOME".into(),
                    name: "居家".into(),
                    kind: FacilityKind::Home,
                    region_code: None,
                    address: String::new(),
                    capacity: 0,
                }
            ),
        ]
    );
    let located: Vec<(u64, &str)> = parsed
        .errors
        .iter()
        .map(|e| (e.line, e.column.as_str()))
        .collect();
    assert_eq!(
        located,
        vec![
            (5, "name"),
            (6, "kind"),
            (7, "region_code"),
            (8, "capacity"),
            (9, "capacity")
        ]
    );
    assert!(parsed.errors.iter().all(|e| e.source == "facilities.csv"));
}

#[test]
fn unknown_columns_and_missing_required_ones_refuse_the_file() {
    assert!(
        parse_facilities(&csv("facility_id,name,kind,capacity,beds\nH1,a,home,0,1\n")).is_err()
    );
    assert!(parse_facilities(&csv("facility_id,name,capacity\nH1,a,1\n")).is_err());
}

#[test]
fn an_exported_register_reads_back_unchanged() {
    let register = vec![
        Facility {
            facility_id: "D1".into(),
            name: "定点医院, \"北院\"".into(),
            kind: FacilityKind::DesignatedHospital,
            region_code: Some("220100".into()),
            address: "长春市\n某路".into(),
            capacity: 800,
        },
        Facility {
            facility_id: "HOME".into(),
            name: "居家".into(),
            kind: FacilityKind::Home,
            region_code: None,
            address: String::new(),
            capacity: 0,
        },
    ];
    let mut out = Vec::new();
    write_csv(
        &mut out,
        Contract::Facilities,
        register.iter().map(facility_record),
    )
    .unwrap();
    let back = parse_facilities(
        &read_table_from(out.as_slice(), FileFormat::Csv, "facilities.csv").unwrap(),
    )
    .unwrap();
    assert!(back.errors.is_empty(), "{:?}", back.errors);
    assert_eq!(
        back.records.into_iter().map(|(_, f)| f).collect::<Vec<_>>(),
        register
    );
    let mut xlsx = Vec::new();
    write_xlsx_to(
        &mut xlsx,
        Contract::Facilities,
        register.iter().map(facility_record),
    )
    .unwrap();
    let back = parse_facilities(
        &read_table_from(xlsx.as_slice(), FileFormat::Xlsx, "facilities.xlsx").unwrap(),
    )
    .unwrap();
    assert_eq!(
        back.records.into_iter().map(|(_, f)| f).collect::<Vec<_>>(),
        register
    );
}
