//! The facility register (隔离场所和收治机构): quarantine hotels, fangcang and
//! designated hospitals, and the home. Room- and bed-level inventory comes
//! later, below a facility (its id stays the key they hang from).

use crate::error::DomainError;
use crate::lifecycle::FacilityKind;
use serde::{Deserialize, Serialize};

/// The longest facility id, name and address accepted, in characters.
pub const FACILITY_ID_MAX: usize = 64;
pub const FACILITY_NAME_MAX: usize = 200;
pub const FACILITY_ADDRESS_MAX: usize = 500;
/// The largest capacity accepted (beds or rooms).
pub const CAPACITY_MAX: i64 = 1_000_000;

/// A place in the facility register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facility {
    pub facility_id: String,
    pub name: String,
    pub kind: FacilityKind,
    pub region_code: Option<String>,
    pub address: String,
    /// Beds (hospitals, fangcang) or rooms (quarantine hotels); 0 for the home.
    pub capacity: i64,
}

/// A capacity: a whole number from 0 to [`CAPACITY_MAX`].
pub fn parse_capacity(raw: &str) -> Result<i64, DomainError> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| (0..=CAPACITY_MAX).contains(n))
        .ok_or_else(|| DomainError::InvalidNumber(raw.chars().take(40).collect()))
}

impl Facility {
    /// A facility needs an id and a name within their lengths, an address
    /// within its length, and a capacity from 0 to [`CAPACITY_MAX`], which
    /// only the home may leave at 0. Names the column at fault.
    pub fn check(&self) -> Result<(), (&'static str, DomainError)> {
        let id = self.facility_id.trim();
        if id.is_empty() {
            return Err(("facility_id", DomainError::Missing));
        }
        if id.chars().count() > FACILITY_ID_MAX {
            return Err(("facility_id", DomainError::TooLong(FACILITY_ID_MAX)));
        }
        if self.name.trim().is_empty() {
            return Err(("name", DomainError::Missing));
        }
        if self.name.chars().count() > FACILITY_NAME_MAX {
            return Err(("name", DomainError::TooLong(FACILITY_NAME_MAX)));
        }
        if self.address.chars().count() > FACILITY_ADDRESS_MAX {
            return Err(("address", DomainError::TooLong(FACILITY_ADDRESS_MAX)));
        }
        if !(0..=CAPACITY_MAX).contains(&self.capacity)
            || (self.capacity == 0 && self.kind != FacilityKind::Home)
        {
            return Err((
                "capacity",
                DomainError::InvalidNumber(self.capacity.to_string()),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hotel() -> Facility {
        Facility {
            facility_id: "H1".into(),
            name: "南关区隔离酒店".into(),
            kind: FacilityKind::QuarantineHotel,
            region_code: Some("220102".into()),
            address: "长春市南关区".into(),
            capacity: 300,
        }
    }

    #[test]
    fn a_facility_needs_an_id_a_name_and_a_capacity_except_at_home() {
        assert_eq!(hotel().check(), Ok(()));
        let column = |f: Facility| f.check().map_err(|(c, _)| c);
        assert_eq!(
            column(Facility {
                facility_id: " ".into(),
                ..hotel()
            }),
            Err("facility_id")
        );
        assert_eq!(
            column(Facility {
                name: String::new(),
                ..hotel()
            }),
            Err("name")
        );
        assert_eq!(
            column(Facility {
                capacity: 0,
                ..hotel()
            }),
            Err("capacity")
        );
        assert_eq!(
            column(Facility {
                capacity: -1,
                ..hotel()
            }),
            Err("capacity")
        );
        assert_eq!(
            column(Facility {
                address: "x".repeat(FACILITY_ADDRESS_MAX + 1),
                ..hotel()
            }),
            Err("address")
        );
        assert_eq!(
            column(Facility {
                kind: FacilityKind::Home,
                capacity: 0,
                ..hotel()
            }),
            Ok(())
        );
        assert_eq!(parse_capacity(" 800 "), Ok(800));
        assert!(parse_capacity("-3").is_err());
        assert!(parse_capacity("lots").is_err());
    }
}
