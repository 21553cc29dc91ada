//! The domain of closedloop: administrative regions, people and their identity
//! documents, cases, the daily bulletin and the bilingual message catalogue.
//!
//! This crate is pure: no I/O, no SQL, no HTTP. Storage, ingest, the server
//! and the CLI are adapters around it.

pub mod access;
pub mod bulletin;
pub mod case;
pub mod contact;
pub mod error;
pub mod facility;
pub mod i18n;
pub mod lifecycle;
pub mod movement;
pub mod person;
pub mod profile;
pub mod protocol;
pub mod region;
pub mod time;

pub use error::{DomainError, ErrorCode};
pub use i18n::Lang;
