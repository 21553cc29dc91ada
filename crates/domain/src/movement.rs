//! Where people were: venues (场所) scanned with venue codes (场所码), and seats on trips.

use crate::error::DomainError;
use crate::vocabulary;
use serde::{Deserialize, Serialize};

vocabulary!(
    /// Kind of venue. Each has a typical stay, used when a check-in has no check-out.
    VenueType {
        Workplace = "workplace", "工作场所", "Workplace";
        School = "school", "学校", "School";
        Restaurant = "restaurant", "餐馆", "Restaurant";
        Shop = "shop", "商店", "Shop";
        Supermarket = "supermarket", "超市", "Supermarket";
        Market = "market", "农贸市场", "Market";
        Mall = "mall", "商场", "Mall";
        Transit = "transit", "交通场站", "Transit station";
        Hospital = "hospital", "医疗机构", "Hospital or clinic";
        Hotel = "hotel", "宾馆酒店", "Hotel";
        Entertainment = "entertainment", "娱乐场所", "Entertainment venue";
        Gym = "gym", "健身场所", "Gym";
        Residential = "residential", "居民小区", "Residential compound";
        Other = "other", "其他场所", "Other";
    }
);

impl VenueType {
    /// Default typical stay in minutes. A protocol profile may override it.
    pub fn typical_stay_minutes(self) -> i64 {
        match self {
            VenueType::Workplace => 480,
            VenueType::School => 420,
            VenueType::Restaurant => 60,
            VenueType::Shop => 20,
            VenueType::Supermarket => 30,
            VenueType::Market => 45,
            VenueType::Mall => 120,
            VenueType::Transit => 15,
            VenueType::Hospital => 90,
            VenueType::Hotel => 720,
            VenueType::Entertainment => 120,
            VenueType::Gym => 75,
            VenueType::Residential => 600,
            VenueType::Other => 60,
        }
    }
}

/// The longest venue, trip or carriage id accepted.
pub const PLACE_ID_MAX: usize = 64;

/// Checks a venue, trip or carriage identifier.
pub fn parse_place_id(raw: &str) -> Result<String, DomainError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(DomainError::Missing);
    }
    if s.chars().count() > PLACE_ID_MAX {
        return Err(DomainError::TooLong(PLACE_ID_MAX));
    }
    Ok(s.to_string())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Venue {
    pub venue_id: String,
    pub name: String,
    pub venue_type: VenueType,
    pub region_code: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

impl Venue {
    /// Latitude and longitude must be on the globe, and given together.
    pub fn check(&self) -> Result<(), (&'static str, DomainError)> {
        match (self.lat, self.lon) {
            (Some(lat), _) if !(-90.0..=90.0).contains(&lat) => {
                Err(("lat", DomainError::InvalidNumber(lat.to_string())))
            }
            (_, Some(lon)) if !(-180.0..=180.0).contains(&lon) => {
                Err(("lon", DomainError::InvalidNumber(lon.to_string())))
            }
            (Some(_), None) => Err(("lon", DomainError::Missing)),
            (None, Some(_)) => Err(("lat", DomainError::Missing)),
            _ => Ok(()),
        }
    }
}

/// A person's seat on a trip (train, flight, coach): the same carriage and nearby rows make close contacts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TripSeat {
    /// The person's document number, as the check-in systems record it.
    pub person_id: String,
    pub trip_id: String,
    pub carriage: String,
    pub seat_row: Option<i64>,
}

/// One check-in as imported: `person_id` is the person's document number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CheckinDraft {
    pub person_id: String,
    pub venue_id: String,
    pub check_in: chrono::DateTime<chrono::Utc>,
    /// Missing when the person never checked out; the venue type's typical stay fills it.
    pub check_out: Option<chrono::DateTime<chrono::Utc>>,
}

impl CheckinDraft {
    pub fn check(&self) -> Result<(), (&'static str, DomainError)> {
        match self.check_out {
            Some(out) if out < self.check_in => Err((
                "check_out",
                DomainError::CheckOutBeforeCheckIn {
                    check_in: self.check_in.to_rfc3339(),
                    check_out: out.to_rfc3339(),
                },
            )),
            _ => Ok(()),
        }
    }
}
