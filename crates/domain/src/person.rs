//! People and their identity documents. The same document is the same person.

use crate::error::DomainError;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Declares a closed vocabulary with its wire name and its zh/en labels.
#[macro_export]
macro_rules! vocabulary {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $wire:literal, $zh:literal, $en:literal;)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant,)+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];
            pub const EXPECTED: &'static str = concat!($($wire, " "),+);

            /// The stable wire name used in files, the database and the API.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire,)+ }
            }

            /// The label a person reads.
            pub fn label(self, lang: $crate::i18n::Lang) -> &'static str {
                match self { $($name::$variant => lang.pick($zh, $en),)+ }
            }

            /// Reads the wire name (case-insensitive) or either label.
            pub fn parse(raw: &str) -> Result<Self, $crate::error::DomainError> {
                let s = raw.trim();
                if s.is_empty() {
                    return Err($crate::error::DomainError::Missing);
                }
                $(if s.eq_ignore_ascii_case($wire) || s == $zh || s.eq_ignore_ascii_case($en) {
                    return Ok($name::$variant);
                })+
                Err($crate::error::DomainError::UnknownValue {
                    value: s.chars().take(40).collect(),
                    expected: Self::EXPECTED.trim_end(),
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary!(
    /// The kind of identity document.
    DocumentType {
        ResidentId = "resident_id", "居民身份证", "Resident ID";
        Passport = "passport", "护照", "Passport";
        Other = "other", "其他证件", "Other document";
    }
);

vocabulary!(
    Sex {
        Male = "male", "男", "Male";
        Female = "female", "女", "Female";
    }
);

/// A normalised document number of a known type. For `resident_id` it has passed
/// the GB 11643 check, so its birth date and sex can be trusted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Document {
    pub kind: DocumentType,
    pub number: String,
}

const RESIDENT_ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const RESIDENT_ID_CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// The GB 11643 check character for the first 17 digits.
pub fn resident_id_check_digit(first17: &str) -> Option<char> {
    if first17.len() != 17 || !first17.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = first17
        .bytes()
        .zip(RESIDENT_ID_WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    Some(RESIDENT_ID_CHECK[(sum % 11) as usize])
}

/// Document numbers compare trimmed, without inner spaces and upper-cased (a resident ID's x is X).
pub fn normalize_document_number(raw: &str) -> String {
    raw.trim()
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// The document a bare number most likely is: a valid resident ID, otherwise `other`.
pub fn document_from_bare_number(raw: &str) -> Result<Document, DomainError> {
    Document::parse(DocumentType::ResidentId, raw)
        .or_else(|_| Document::parse(DocumentType::Other, raw))
}

impl Document {
    /// Normalises (trims, upper-cases, drops inner spaces) and validates a number.
    pub fn parse(kind: DocumentType, raw: &str) -> Result<Document, DomainError> {
        let number = normalize_document_number(raw);
        if number.is_empty() || number.chars().count() > 64 {
            return Err(DomainError::DocumentNumberLength);
        }
        match kind {
            DocumentType::ResidentId => {
                let b = number.as_bytes();
                if b.len() != 18
                    || !b[..17].iter().all(u8::is_ascii_digit)
                    || !(b[17].is_ascii_digit() || b[17] == b'X')
                {
                    return Err(DomainError::ResidentIdFormat);
                }
                let expected =
                    resident_id_check_digit(&number[..17]).ok_or(DomainError::ResidentIdFormat)?;
                let found = char::from(b[17]);
                if expected != found {
                    return Err(DomainError::ResidentIdCheckDigit { expected, found });
                }
                let birth = &number[6..14];
                if NaiveDate::parse_from_str(birth, "%Y%m%d").is_err() {
                    return Err(DomainError::ResidentIdBirthDate(birth.to_string()));
                }
            }
            DocumentType::Passport | DocumentType::Other => {
                if !number
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-')
                {
                    return Err(DomainError::DocumentNumberCharacters);
                }
            }
        }
        Ok(Document { kind, number })
    }

    /// Birth date encoded in a resident ID.
    pub fn birth_date(&self) -> Option<NaiveDate> {
        // Fields are public, so a number may not have come through `parse`: never index blindly.
        let digits = self
            .number
            .get(6..14)
            .filter(|_| self.kind == DocumentType::ResidentId)?;
        NaiveDate::parse_from_str(digits, "%Y%m%d").ok()
    }

    /// Sex encoded in a resident ID: the 17th digit is odd for men.
    pub fn sex(&self) -> Option<Sex> {
        if self.kind != DocumentType::ResidentId {
            return None;
        }
        let d = self
            .number
            .as_bytes()
            .get(16)
            .filter(|b| b.is_ascii_digit())?
            - b'0';
        Some(if d % 2 == 1 { Sex::Male } else { Sex::Female })
    }
}

/// A person as entered or imported, validated. Fields other than the document
/// may be unknown: investigators complete them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonDraft {
    pub document: Document,
    pub name: String,
    pub sex: Option<Sex>,
    pub birth_date: Option<NaiveDate>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub region_code: Option<String>,
    pub household_id: Option<String>,
}

impl PersonDraft {
    /// A person known only by name and document; sex and birth date come from a resident ID.
    pub fn new(document: Document, name: impl Into<String>) -> Self {
        PersonDraft {
            sex: document.sex(),
            birth_date: document.birth_date(),
            document,
            name: name.into(),
            phone: None,
            address: None,
            region_code: None,
            household_id: None,
        }
    }

    /// Checks that birth date and sex agree with a resident ID, filling them from it when absent.
    pub fn reconcile_with_document(&mut self) -> Result<(), DomainError> {
        if let Some(from_id) = self.document.birth_date() {
            match self.birth_date {
                Some(given) if given != from_id => {
                    return Err(DomainError::BirthDateMismatch {
                        given: given.to_string(),
                        from_id: from_id.to_string(),
                    })
                }
                _ => self.birth_date = Some(from_id),
            }
        }
        if let Some(from_id) = self.document.sex() {
            match self.sex {
                Some(given) if given != from_id => {
                    return Err(DomainError::SexMismatch {
                        given: given.as_str().into(),
                        from_id: from_id.as_str().into(),
                    })
                }
                _ => self.sex = Some(from_id),
            }
        }
        Ok(())
    }
}

/// Normalises a phone number; `None` when empty.
pub fn parse_phone(raw: &str) -> Result<Option<String>, DomainError> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.len() > 32 {
        return Err(DomainError::TooLong(32));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_digit() || c == '+' || c == '-' || c == ' ')
    {
        return Err(DomainError::Phone);
    }
    Ok(Some(
        s.chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect(),
    ))
}

/// Likely duplicates share name, birth date and phone. People without all three are never flagged.
pub fn duplicate_key(
    name: &str,
    birth_date: Option<NaiveDate>,
    phone: Option<&str>,
) -> Option<String> {
    let name = name.trim();
    match (name.is_empty(), birth_date, phone) {
        (false, Some(b), Some(p)) if !p.is_empty() => Some(format!("{name}|{b}|{p}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Completes 17 digits into a valid resident ID.
    fn complete(first17: &str) -> String {
        format!("{first17}{}", resident_id_check_digit(first17).unwrap())
    }

    #[test]
    fn known_resident_ids_validate() {
        // The published GB 11643 example.
        let d = Document::parse(DocumentType::ResidentId, " 11010519491231002x ").unwrap();
        assert_eq!(d.number, "11010519491231002X");
        assert_eq!(d.birth_date(), NaiveDate::from_ymd_opt(1949, 12, 31));
        assert_eq!(d.sex(), Some(Sex::Female));
    }

    #[test]
    fn a_wrong_check_digit_is_refused_with_the_expected_one() {
        let err = Document::parse(DocumentType::ResidentId, "110105194912310021").unwrap_err();
        assert_eq!(
            err,
            DomainError::ResidentIdCheckDigit {
                expected: 'X',
                found: '1'
            }
        );
    }

    #[test]
    fn an_impossible_birth_date_is_refused() {
        let id = complete("22010219900230123");
        assert_eq!(
            Document::parse(DocumentType::ResidentId, &id).unwrap_err(),
            DomainError::ResidentIdBirthDate("19900230".into())
        );
    }

    #[test]
    fn sex_and_birth_date_must_agree_with_the_id() {
        let doc =
            Document::parse(DocumentType::ResidentId, &complete("22010219900101123")).unwrap();
        let mut p = PersonDraft::new(doc.clone(), "张三");
        p.sex = Some(Sex::Female);
        assert!(matches!(
            p.reconcile_with_document(),
            Err(DomainError::SexMismatch { .. })
        ));
        let mut p = PersonDraft::new(doc, "张三");
        p.birth_date = NaiveDate::from_ymd_opt(1990, 1, 2);
        assert!(matches!(
            p.reconcile_with_document(),
            Err(DomainError::BirthDateMismatch { .. })
        ));
    }

    #[test]
    fn passports_are_normalised() {
        let d = Document::parse(DocumentType::Passport, " e1234567 ").unwrap();
        assert_eq!(d.number, "E1234567");
        assert!(Document::parse(DocumentType::Passport, "E12;34").is_err());
        assert!(Document::parse(DocumentType::Passport, "   ").is_err());
    }

    /// Reference: the check digit by the textbook formula, written independently.
    fn reference_check(first17: &str) -> char {
        let mut s = 0u64;
        for (i, c) in first17.chars().enumerate() {
            let w = (1u64 << (17 - i)) % 11;
            s += c.to_digit(10).unwrap() as u64 * w;
        }
        let r = (12 - (s % 11)) % 11;
        if r == 10 {
            'X'
        } else {
            char::from_digit(r as u32, 10).unwrap()
        }
    }

    proptest! {
        #[test]
        fn check_digit_matches_the_reference(first17 in "[0-9]{17}") {
            prop_assert_eq!(resident_id_check_digit(&first17).unwrap(), reference_check(&first17));
        }

        #[test]
        fn exactly_one_check_character_is_accepted(first17 in "220[0-9]{3}19[5-9][0-9](0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])[0-9]{3}") {
            let accepted: Vec<char> = "0123456789X".chars()
                .filter(|c| Document::parse(DocumentType::ResidentId, &format!("{first17}{c}")).is_ok())
                .collect();
            prop_assert_eq!(accepted.len(), 1);
        }

        #[test]
        fn parsing_never_panics(kind in 0usize..3, raw in "\\PC{0,80}") {
            let _ = Document::parse(DocumentType::ALL[kind], &raw);
        }
    }
}
