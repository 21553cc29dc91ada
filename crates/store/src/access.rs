//! Jurisdiction in the data layer (filled in below).
