//! Synthetic people: names, resident IDs, phones, addresses and households.

use crate::regions::{Geography, PROVINCE};
use chrono::{Datelike, Duration, NaiveDate};
use closedloop_domain::person::{
    resident_id_check_digit, Document, DocumentType, PersonDraft, Sex,
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;

pub(crate) const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林",
    "何", "郭", "马", "罗", "梁", "宋", "郑", "谢", "韩", "唐", "冯", "于", "董", "曹", "袁", "邓",
    "许", "沈", "曾", "彭", "吕", "苏", "卢", "蒋", "蔡", "贾", "丁", "魏", "薛", "叶", "阎", "潘",
    "杜", "戴", "姜", "范", "方", "石", "姚", "谭", "邹", "金", "陆", "郝", "孔", "白", "崔", "康",
    "毛", "邱", "秦", "史", "顾", "侯", "邵", "孟", "段", "尹", "常", "武", "乔", "关", "佟", "付",
];

/// Yanbian is home to most of China's Korean minority, whose few surnames dominate there.
const KOREAN_SURNAMES: &[&str] = &["金", "朴", "崔", "李", "郑", "韩", "姜", "申", "俞"];

const MALE_CHARS: &[&str] = &[
    "伟", "强", "磊", "军", "勇", "杰", "涛", "斌", "超", "明", "刚", "平", "辉", "鹏", "华", "飞",
    "鑫", "波", "宇", "浩", "凯", "健", "俊", "帆", "旭", "宁", "龙", "阳", "建", "国", "志", "海",
    "东", "亮", "成", "峰", "博", "文",
];

const FEMALE_CHARS: &[&str] = &[
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "燕", "玲", "桂", "英", "秀", "兰", "萍", "红",
    "梅", "琳", "雪", "婷", "倩", "颖", "佳", "丹", "慧", "晶", "玉", "洁", "莉", "欣", "悦", "怡",
    "琪", "月",
];

pub(crate) const STREETS: &[&str] = &[
    "人民大街",
    "解放大路",
    "新华路",
    "建设街",
    "胜利街",
    "和平路",
    "光明路",
    "民主街",
    "中兴路",
    "长江路",
    "松江路",
    "黄河路",
    "文化街",
    "朝阳路",
    "青年路",
    "繁荣路",
    "幸福街",
    "团结路",
    "工农路",
    "站前街",
];

/// Mobile prefixes of the three carriers, all within 13x/15x/18x.
const PHONE_PREFIXES: &[&str] = &[
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152",
    "153", "155", "156", "157", "158", "159", "180", "181", "182", "183", "185", "186", "187",
    "188", "189",
];

/// The day ages are counted from: the start of the demo month.
pub(crate) fn reference_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2022, 3, 1).unwrap_or_default()
}

/// An age in years, 0–90, shaped like Jilin's ageing population: few children,
/// many people in their forties to sixties.
pub(crate) fn random_age(rng: &mut ChaCha8Rng) -> u32 {
    const BANDS: [(u32, u32, u32); 6] = [
        (0, 14, 11),
        (15, 29, 16),
        (30, 44, 22),
        (45, 59, 28),
        (60, 74, 17),
        (75, 90, 6),
    ];
    let mut x = rng.gen_range(0..100);
    for (lo, hi, pct) in BANDS {
        if x < pct {
            return rng.gen_range(lo..=hi);
        }
        x -= pct;
    }
    40
}

pub(crate) fn random_sex(rng: &mut ChaCha8Rng) -> Sex {
    if rng.gen_bool(0.5) {
        Sex::Male
    } else {
        Sex::Female
    }
}

/// A birth date at which a person is exactly `age` on the reference date.
pub(crate) fn birth_date_for_age(rng: &mut ChaCha8Rng, age: u32) -> NaiveDate {
    let r = reference_date();
    let year = r.year() - age as i32;
    // 1 March exists in every year, so both ends are valid dates.
    let latest = r.with_year(year).unwrap_or(r);
    let earliest = r.with_year(year - 1).unwrap_or(r) + Duration::days(1);
    earliest + Duration::days(rng.gen_range(0..=(latest - earliest).num_days()))
}

pub(crate) fn surname(rng: &mut ChaCha8Rng, korean_area: bool) -> &'static str {
    if korean_area && rng.gen_bool(0.4) {
        KOREAN_SURNAMES[rng.gen_range(0..KOREAN_SURNAMES.len())]
    } else {
        SURNAMES[rng.gen_range(0..SURNAMES.len())]
    }
}

pub(crate) fn given_name(rng: &mut ChaCha8Rng, sex: Sex) -> String {
    let chars = match sex {
        Sex::Male => MALE_CHARS,
        Sex::Female => FEMALE_CHARS,
    };
    let mut name = String::from(chars[rng.gen_range(0..chars.len())]);
    if rng.gen_bool(0.7) {
        name.push_str(chars[rng.gen_range(0..chars.len())]);
    }
    name
}

pub(crate) fn random_phone(rng: &mut ChaCha8Rng) -> String {
    let prefix = PHONE_PREFIXES[rng.gen_range(0..PHONE_PREFIXES.len())];
    format!("{prefix}{:08}", rng.gen_range(0..100_000_000u32))
}

/// Hands out document numbers, none twice.
#[derive(Default)]
pub(crate) struct Documents {
    used: HashSet<(DocumentType, String)>,
}

impl Documents {
    /// A valid, unused 18-digit resident ID registered in `district`.
    pub fn resident_id(
        &mut self,
        rng: &mut ChaCha8Rng,
        district: &str,
        birth: NaiveDate,
        sex: Sex,
    ) -> Document {
        loop {
            // The 17th digit is odd for men and even for women (GB 11643).
            let parity = match sex {
                Sex::Male => 1,
                Sex::Female => 0,
            };
            let seq = rng.gen_range(0..100u32) * 10 + rng.gen_range(0..5u32) * 2 + parity;
            let first17 = format!("{district}{}{seq:03}", birth.format("%Y%m%d"));
            let Some(check) = resident_id_check_digit(&first17) else {
                continue;
            };
            let number = format!("{first17}{check}");
            if let Some(doc) = self.claim(DocumentType::ResidentId, number) {
                return doc;
            }
        }
    }

    /// An unused ordinary passport number: E and eight digits.
    pub fn passport(&mut self, rng: &mut ChaCha8Rng) -> Document {
        loop {
            let number = format!("E{:08}", rng.gen_range(0..100_000_000u32));
            if let Some(doc) = self.claim(DocumentType::Passport, number) {
                return doc;
            }
        }
    }

    /// An unused number of some certificate outside the resident-ID scheme.
    pub fn other(&mut self, rng: &mut ChaCha8Rng) -> Document {
        loop {
            let number = format!("QT-{:08}", rng.gen_range(0..100_000_000u32));
            if let Some(doc) = self.claim(DocumentType::Other, number) {
                return doc;
            }
        }
    }

    fn claim(&mut self, kind: DocumentType, number: String) -> Option<Document> {
        let doc = Document::parse(kind, &number).ok()?;
        self.used.insert((kind, doc.number.clone())).then_some(doc)
    }
}

/// A household: people who share an address and a household ID.
#[derive(Debug, Clone)]
pub(crate) struct Household {
    pub id: String,
    pub district: usize,
    pub region_code: String,
    pub address: String,
    pub surname: &'static str,
    pub phone: String,
    pub head_age: u32,
    pub head_sex: Sex,
    pub members: u32,
    /// Day of March the household's first case was reported; 0 when none.
    pub first_case_day: u32,
}

impl Household {
    pub fn new(rng: &mut ChaCha8Rng, geo: &Geography, district: usize, seq: usize) -> Household {
        let d = &geo.districts[district];
        let place = d.place_at(rng.gen_range(0..d.population.max(1)));
        let city = &geo.cities[d.city];
        let street = STREETS[rng.gen_range(0..STREETS.len())];
        let address = format!(
            "{}{}{}{}{}{}号{}栋{}单元{}{:02}室",
            PROVINCE.1,
            city.name_zh,
            d.name_zh,
            place.local_zh,
            street,
            rng.gen_range(1..=999),
            rng.gen_range(1..=30),
            rng.gen_range(1..=6),
            rng.gen_range(1..=18),
            rng.gen_range(1..=4),
        );
        let korean_area = city.code == "222400" || d.code == "220623";
        Household {
            id: format!("HH-{}-{:06}", d.code, seq),
            district,
            region_code: place.code.clone(),
            address,
            surname: surname(rng, korean_area),
            phone: random_phone(rng),
            head_age: 0,
            head_sex: Sex::Male,
            members: 0,
            first_case_day: 0,
        }
    }

    /// Age, sex and whether the next member carries the household's surname,
    /// shaped like a family around the first member: a spouse, children, a parent.
    pub fn next_member(&self, rng: &mut ChaCha8Rng) -> (u32, Sex, bool) {
        let head = self.head_age;
        let near = |rng: &mut ChaCha8Rng, age: u32, spread: u32| {
            (age + rng.gen_range(0..=2 * spread))
                .saturating_sub(spread)
                .min(90)
        };
        match self.members {
            0 => (random_age(rng), random_sex(rng), true),
            1 if head >= 22 => (near(rng, head, 4).max(20), opposite(self.head_sex), false),
            4 if head + 24 <= 90 => (near(rng, head + 28, 4), random_sex(rng), true),
            _ if head >= 24 => {
                let gap = rng.gen_range(22..=36).min(head);
                (head - gap, random_sex(rng), true)
            }
            // A child or young adult first member: the others are parents or siblings.
            _ => {
                let age = if rng.gen_bool(0.7) {
                    near(rng, head + 28, 5)
                } else {
                    near(rng, head, 5)
                };
                (age, random_sex(rng), rng.gen_bool(0.7))
            }
        }
    }

    /// Adds a member and returns them as a person.
    pub fn add_member(
        &mut self,
        rng: &mut ChaCha8Rng,
        geo: &Geography,
        docs: &mut Documents,
    ) -> PersonDraft {
        let (age, sex, same_surname) = self.next_member(rng);
        if self.members == 0 {
            self.head_age = age;
            self.head_sex = sex;
        }
        self.members += 1;
        let family = if same_surname {
            self.surname
        } else {
            let korean = self.surname_is_korean();
            surname(rng, korean)
        };
        let name = format!("{family}{}", given_name(rng, sex));
        let district = geo.districts[self.district].code;
        let birth = birth_date_for_age(rng, age);
        let document = docs.resident_id(rng, district, birth, sex);
        let mut person = PersonDraft::new(document, name);
        // Children under 12 rarely have a phone; the household's contact answers for them.
        person.phone = Some(if age < 12 || self.members == 1 {
            self.phone.clone()
        } else {
            random_phone(rng)
        });
        person.address = Some(self.address.clone());
        person.region_code = Some(self.region_code.clone());
        person.household_id = Some(self.id.clone());
        person
    }

    fn surname_is_korean(&self) -> bool {
        KOREAN_SURNAMES.contains(&self.surname) && self.surname != "李"
    }
}

fn opposite(sex: Sex) -> Sex {
    match sex {
        Sex::Male => Sex::Female,
        Sex::Female => Sex::Male,
    }
}

/// A household size, 1–5, weighted like urban China: mostly two or three people.
pub(crate) fn household_size(rng: &mut ChaCha8Rng) -> u32 {
    match rng.gen_range(0..100) {
        0..=17 => 1,
        18..=49 => 2,
        50..=77 => 3,
        78..=91 => 4,
        _ => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn resident_ids_are_valid_and_carry_sex_and_birth() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut docs = Documents::default();
        for _ in 0..500 {
            let sex = random_sex(&mut rng);
            let age = random_age(&mut rng);
            let birth = birth_date_for_age(&mut rng, age);
            let doc = docs.resident_id(&mut rng, "220204", birth, sex);
            let parsed = Document::parse(DocumentType::ResidentId, &doc.number).unwrap();
            assert_eq!(parsed.sex(), Some(sex));
            assert_eq!(parsed.birth_date(), Some(birth));
            assert!(doc.number.starts_with("220204"));
        }
    }

    #[test]
    fn ages_stay_within_zero_to_ninety() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for _ in 0..2000 {
            let age = random_age(&mut rng);
            assert!(age <= 90);
            let b = birth_date_for_age(&mut rng, age);
            let years = reference_date().years_since(b).unwrap();
            assert_eq!(years, age, "{b}");
        }
    }

    #[test]
    fn phones_are_eleven_digit_mobiles() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..100 {
            let p = random_phone(&mut rng);
            assert_eq!(p.len(), 11);
            assert!(["13", "15", "18"].contains(&&p[..2]));
        }
    }
}
