//! Validation errors of domain values. Each has a stable snake_case code that
//! the API returns and the CLI and console translate (see [`DomainError::message`]).

use crate::i18n::Lang;

/// Anything with a stable, translatable code.
pub trait ErrorCode {
    /// Stable snake_case code, e.g. `resident_id_check_digit`.
    fn code(&self) -> &'static str;
    /// The message a person reads, in their language.
    fn message(&self, lang: Lang) -> String;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("required value is missing")]
    Missing,
    #[error("unknown value {value:?}; expected one of: {expected}")]
    UnknownValue {
        value: String,
        expected: &'static str,
    },
    #[error("resident ID must be 18 characters: 17 digits and a check digit (0-9 or X)")]
    ResidentIdFormat,
    #[error("resident ID check digit is wrong: expected {expected}, found {found}")]
    ResidentIdCheckDigit { expected: char, found: char },
    #[error("resident ID holds an impossible birth date {0}")]
    ResidentIdBirthDate(String),
    #[error("birth date {given} disagrees with the resident ID ({from_id})")]
    BirthDateMismatch { given: String, from_id: String },
    #[error("sex {given} disagrees with the resident ID ({from_id})")]
    SexMismatch { given: String, from_id: String },
    #[error("document number is empty or too long (at most 64 characters)")]
    DocumentNumberLength,
    #[error("document number may hold only letters, digits and '-'")]
    DocumentNumberCharacters,
    #[error("invalid date {0:?}: use YYYY-MM-DD")]
    InvalidDate(String),
    #[error(
        "invalid time {0:?}: use RFC 3339 (2022-03-09T08:30:00+08:00) or a local YYYY-MM-DD HH:MM"
    )]
    InvalidTime(String),
    #[error("invalid number {0:?}")]
    InvalidNumber(String),
    #[error(
        "invalid region code {0:?}: 6 digits for province, city and district; 9 or 12 digits below"
    )]
    RegionCode(String),
    #[error("region level {level} does not fit a code of {digits} digits")]
    RegionLevelMismatch { level: &'static str, digits: usize },
    #[error("an asymptomatic case cannot have a reclassification time; a reclassified case is confirmed")]
    ReclassificationOfAsymptomatic,
    #[error("reclassification at {reclassified} is before the report at {reported}")]
    ReclassificationBeforeReport {
        reclassified: String,
        reported: String,
    },
    #[error("an asymptomatic case has no clinical type")]
    ClinicalTypeOnAsymptomatic,
    #[error("outcome {outcome} does not fit a {classification} case")]
    OutcomeMismatch {
        outcome: &'static str,
        classification: &'static str,
    },
    #[error("an outcome needs its time, and a time needs its outcome")]
    OutcomeWithoutTime,
    #[error("outcome at {outcome} is before the report or reclassification at {reported}")]
    OutcomeBeforeReport { outcome: String, reported: String },
    #[error("value is too long (at most {0} characters)")]
    TooLong(usize),
    #[error("phone number may hold only digits, spaces, '+' and '-'")]
    Phone,
    #[error("check-out {check_out} is before check-in {check_in}")]
    CheckOutBeforeCheckIn { check_in: String, check_out: String },
}

impl ErrorCode for DomainError {
    fn code(&self) -> &'static str {
        use DomainError::*;
        match self {
            Missing => "missing_value",
            UnknownValue { .. } => "unknown_value",
            ResidentIdFormat => "resident_id_format",
            ResidentIdCheckDigit { .. } => "resident_id_check_digit",
            ResidentIdBirthDate(_) => "resident_id_birth_date",
            BirthDateMismatch { .. } => "birth_date_mismatch",
            SexMismatch { .. } => "sex_mismatch",
            DocumentNumberLength => "document_number_length",
            DocumentNumberCharacters => "document_number_characters",
            InvalidDate(_) => "invalid_date",
            InvalidTime(_) => "invalid_time",
            InvalidNumber(_) => "invalid_number",
            RegionCode(_) => "invalid_region_code",
            RegionLevelMismatch { .. } => "region_level_mismatch",
            ReclassificationOfAsymptomatic => "reclassification_of_asymptomatic",
            ReclassificationBeforeReport { .. } => "reclassification_before_report",
            ClinicalTypeOnAsymptomatic => "clinical_type_on_asymptomatic",
            OutcomeMismatch { .. } => "outcome_mismatch",
            OutcomeWithoutTime => "outcome_without_time",
            OutcomeBeforeReport { .. } => "outcome_before_report",
            TooLong(_) => "too_long",
            Phone => "invalid_phone",
            CheckOutBeforeCheckIn { .. } => "check_out_before_check_in",
        }
    }

    fn message(&self, lang: Lang) -> String {
        use DomainError::*;
        if lang == Lang::En {
            return self.to_string();
        }
        match self {
            Missing => "缺少必填值".into(),
            UnknownValue { value, expected } => {
                format!("无法识别的值“{value}”，可选值：{expected}")
            }
            ResidentIdFormat => "居民身份证号码应为18位：17位数字加1位校验码（0-9或X）".into(),
            ResidentIdCheckDigit { expected, found } => {
                format!("居民身份证号码校验码错误：应为{expected}，实为{found}")
            }
            ResidentIdBirthDate(d) => format!("居民身份证号码中的出生日期{d}不存在"),
            BirthDateMismatch { given, from_id } => {
                format!("出生日期{given}与居民身份证号码（{from_id}）不一致")
            }
            SexMismatch { given, from_id } => {
                format!("性别{given}与居民身份证号码（{from_id}）不一致")
            }
            DocumentNumberLength => "证件号码为空或过长（最多64个字符）".into(),
            DocumentNumberCharacters => "证件号码只能包含字母、数字和“-”".into(),
            InvalidDate(v) => format!("日期“{v}”无效，请使用YYYY-MM-DD"),
            InvalidTime(v) => {
                format!("时间“{v}”无效，请使用RFC 3339（2022-03-09T08:30:00+08:00）或本地时间YYYY-MM-DD HH:MM")
            }
            InvalidNumber(v) => format!("数字“{v}”无效"),
            RegionCode(v) => {
                format!("区划代码“{v}”无效：省、市、县级为6位数字，乡镇为9位，村（社区）为12位")
            }
            RegionLevelMismatch { level, digits } => format!("区划级别{level}与{digits}位代码不符"),
            ReclassificationOfAsymptomatic => {
                "无症状感染者不能有转为确诊的时间；已转确诊的病例分类应为确诊病例".into()
            }
            ReclassificationBeforeReport {
                reclassified,
                reported,
            } => {
                format!("转为确诊时间{reclassified}早于报告时间{reported}")
            }
            ClinicalTypeOnAsymptomatic => "无症状感染者没有临床分型".into(),
            OutcomeMismatch {
                outcome,
                classification,
            } => {
                format!("转归“{outcome}”与病例分类“{classification}”不符")
            }
            OutcomeWithoutTime => "转归与转归时间须同时填写".into(),
            OutcomeBeforeReport { outcome, reported } => {
                format!("转归时间{outcome}早于报告或转确诊时间{reported}")
            }
            TooLong(n) => format!("内容过长（最多{n}个字符）"),
            Phone => "电话号码只能包含数字、空格、“+”和“-”".into(),
            CheckOutBeforeCheckIn {
                check_in,
                check_out,
            } => format!("离开时间{check_out}早于进入时间{check_in}"),
        }
    }
}
