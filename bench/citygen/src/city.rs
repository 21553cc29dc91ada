//! The synthetic city: people, venues and what each person does on each day.
//!
//! Everything is a pure function of the seed: a person's fixed habits (role,
//! workplace, school, favourite shops) come from a hash of (seed, person), and
//! the stays of one day from a generator seeded by (seed, person, day). So the
//! output does not depend on how the work is split between threads or chunks.

use crate::rng::{hash, Rng};

/// Seconds in a day.
pub const DAY: u32 = 86_400;
/// 2022-03-01T00:00:00+08:00 (Asia/Shanghai) in seconds since the Unix epoch.
/// Stay times are stored as seconds since this instant.
pub const T0: i64 = 1_646_064_000;
/// 2022-04-01T00:00:00+08:00 relative to [`T0`]: no stay ends at or after it.
pub const MARCH_END: u32 = 31 * DAY;
/// 1 March 2022 was a Tuesday (Monday = 0).
const FIRST_WEEKDAY: u32 = 1;

/// Changchun's county-level divisions: code, name, population weight (the demo
/// crate's rounded 2020 figures), and an approximate centre.
pub const DISTRICTS: &[(&str, &str, u32, f64, f64)] = &[
    ("220102", "南关区", 1_120_000, 43.86, 125.35),
    ("220103", "宽城区", 900_000, 43.95, 125.33),
    ("220104", "朝阳区", 1_100_000, 43.83, 125.27),
    ("220105", "二道区", 700_000, 43.87, 125.42),
    ("220106", "绿园区", 900_000, 43.90, 125.22),
    ("220112", "双阳区", 370_000, 43.52, 125.66),
    ("220113", "九台区", 650_000, 44.15, 125.84),
    ("220122", "农安县", 880_000, 44.43, 125.18),
    ("220182", "榆树市", 950_000, 44.84, 126.53),
    ("220183", "德惠市", 670_000, 44.54, 125.70),
    ("220184", "公主岭市", 826_906, 43.50, 124.82),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VenueType {
    Office,
    Factory,
    School,
    University,
    Canteen,
    Shop,
    Supermarket,
    Restaurant,
    Market,
    Station,
    Hospital,
    Mall,
}

impl VenueType {
    pub const ALL: [VenueType; 12] = [
        VenueType::Office,
        VenueType::Factory,
        VenueType::School,
        VenueType::University,
        VenueType::Canteen,
        VenueType::Shop,
        VenueType::Supermarket,
        VenueType::Restaurant,
        VenueType::Market,
        VenueType::Station,
        VenueType::Hospital,
        VenueType::Mall,
    ];

    pub fn name(self) -> &'static str {
        match self {
            VenueType::Office => "office",
            VenueType::Factory => "factory",
            VenueType::School => "school",
            VenueType::University => "university",
            VenueType::Canteen => "canteen",
            VenueType::Shop => "shop",
            VenueType::Supermarket => "supermarket",
            VenueType::Restaurant => "restaurant",
            VenueType::Market => "market",
            VenueType::Station => "station",
            VenueType::Hospital => "hospital",
            VenueType::Mall => "mall",
        }
    }

    fn label_zh(self) -> &'static str {
        match self {
            VenueType::Office => "写字楼",
            VenueType::Factory => "工厂",
            VenueType::School => "中小学",
            VenueType::University => "大学教学楼",
            VenueType::Canteen => "大学食堂",
            VenueType::Shop => "便利店",
            VenueType::Supermarket => "超市",
            VenueType::Restaurant => "餐馆",
            VenueType::Market => "农贸市场",
            VenueType::Station => "地铁站",
            VenueType::Hospital => "医院",
            VenueType::Mall => "购物中心",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Venue {
    pub kind: VenueType,
    pub region: u8,
    pub name: String,
    pub lat: f64,
    pub lon: f64,
}

/// Buildings and canteens of each university.
const UNI_BUILDINGS: usize = 8;
const UNI_CANTEENS: usize = 2;

/// One stay: seconds since [`T0`], person and venue indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stay {
    pub check_in: u32,
    pub person: u32,
    pub venue: u32,
    pub check_out: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Toddler,
    Pupil,
    Student,
    Worker,
    HospitalStaff,
    Idle,
}

pub struct City {
    pub seed: u64,
    pub people: usize,
    /// 18 bytes per person: the resident-ID-shaped person id.
    pub ids: Vec<u8>,
    pub region: Vec<u8>,
    pub age: Vec<u8>,
    pub venues: Vec<Venue>,
    /// Venues of a type, all regions.
    by_type: Vec<Vec<u32>>,
    /// Venues of a type in a region.
    by_type_region: Vec<Vec<Vec<u32>>>,
    /// Per university: its buildings then its canteens.
    universities: Vec<Vec<u32>>,
}

const TAG_REGION: u64 = 1;
const TAG_BIRTH: u64 = 2;
const TAG_VENUE: u64 = 3;
const TAG_SHUFFLE: u64 = 4;
const TAG_PERSON: u64 = 5;
const TAG_DAY: u64 = 6;
const TAG_FAV: u64 = 7;

/// Birth dates run from 1940-01-01 to 2021-12-31.
const BIRTH_FIRST_DAY: i64 = -10_958; // 1940-01-01 in days since 1970-01-01
const BIRTH_DAYS: u64 = 29_951; // 1940-01-01 ..= 2021-12-31
const BIRTH_STRIDE: u64 = 7_919; // prime, coprime with BIRTH_DAYS

fn weighted_region(u: f64) -> u8 {
    let total: u32 = DISTRICTS.iter().map(|d| d.2).sum();
    let mut x = u * total as f64;
    for (i, d) in DISTRICTS.iter().enumerate() {
        x -= d.2 as f64;
        if x < 0.0 {
            return i as u8;
        }
    }
    (DISTRICTS.len() - 1) as u8
}

/// Civil date (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// GB 11643 check character of the first 17 digits.
fn check_char(digits: &[u8]) -> u8 {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = digits
        .iter()
        .zip(W)
        .map(|(d, w)| (d - b'0') as u32 * w)
        .sum();
    b"10X98765432"[(sum % 11) as usize]
}

impl City {
    pub fn new(seed: u64, people: usize) -> City {
        assert!(people > 0 && people < u32::MAX as usize);
        // People: region, then a birth date and sequence number unique within
        // the region, so the 18-character ids are unique.
        let mut ids = vec![0u8; people * 18];
        let mut region = vec![0u8; people];
        let mut age = vec![0u8; people];
        let mut counters = vec![0u64; DISTRICTS.len()];
        let offsets: Vec<u64> = (0..DISTRICTS.len() as u64)
            .map(|r| hash(seed, TAG_BIRTH, r, 0) % BIRTH_DAYS)
            .collect();
        for p in 0..people {
            let h = hash(seed, TAG_REGION, p as u64, 0);
            let r = weighted_region(Rng::unit(h));
            region[p] = r;
            let c = counters[r as usize];
            counters[r as usize] += 1;
            let b = (c * BIRTH_STRIDE + offsets[r as usize]) % BIRTH_DAYS;
            let k = c / BIRTH_DAYS;
            assert!(k < 100, "too many people in one district for unique ids");
            let (y, m, d) = civil_from_days(BIRTH_FIRST_DAY + b as i64);
            // Sequence: two digits from the counter, one (sex) from the hash.
            let seq = k * 10 + (h >> 40) % 10;
            let id = &mut ids[p * 18..p * 18 + 18];
            let head = format!("{}{y:04}{m:02}{d:02}{seq:03}", DISTRICTS[r as usize].0);
            id[..17].copy_from_slice(head.as_bytes());
            id[17] = check_char(&id[..17]);
            // Age on 1 March 2022.
            let a = 2022 - y - if (m, d) > (3, 1) { 1 } else { 0 };
            age[p] = a.clamp(0, 255) as u8;
        }

        // Venues: counts proportional to the population.
        let n = people as f64;
        let count = |per: f64, min: usize| ((n / per).round() as usize).max(min);
        let n_uni = count(300_000.0, 1);
        let mut specs: Vec<(VenueType, u8, u32)> = Vec::new(); // type, region, university
        let push = |t: VenueType, k: usize, tag: u64, specs: &mut Vec<_>| {
            for i in 0..k {
                let r = weighted_region(Rng::unit(hash(seed, TAG_VENUE, tag, i as u64)));
                specs.push((t, r, u32::MAX));
            }
        };
        let workplaces = count(52.0, 1);
        let factories = workplaces * 3 / 10;
        push(VenueType::Office, workplaces - factories, 1, &mut specs);
        push(VenueType::Factory, factories, 2, &mut specs);
        push(VenueType::School, count(7_000.0, 1), 3, &mut specs);
        push(VenueType::Shop, count(150.0, 1), 4, &mut specs);
        push(VenueType::Supermarket, count(4_000.0, 1), 5, &mut specs);
        push(VenueType::Restaurant, count(250.0, 1), 6, &mut specs);
        push(VenueType::Market, count(3_000.0, 1), 7, &mut specs);
        push(VenueType::Station, count(20_000.0, 2), 8, &mut specs);
        push(VenueType::Hospital, count(40_000.0, 1), 9, &mut specs);
        push(VenueType::Mall, count(100_000.0, 1), 10, &mut specs);
        for u in 0..n_uni {
            let r = weighted_region(Rng::unit(hash(seed, TAG_VENUE, 11, u as u64)));
            for _ in 0..UNI_BUILDINGS {
                specs.push((VenueType::University, r, u as u32));
            }
            for _ in 0..UNI_CANTEENS {
                specs.push((VenueType::Canteen, r, u as u32));
            }
        }
        // Shuffle so that ids say nothing about the type.
        let mut rng = Rng::new(hash(seed, TAG_SHUFFLE, 0, 0));
        for i in (1..specs.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            specs.swap(i, j);
        }
        let mut venues = Vec::with_capacity(specs.len());
        let mut by_type = vec![Vec::new(); VenueType::ALL.len()];
        let mut by_type_region = vec![vec![Vec::new(); DISTRICTS.len()]; VenueType::ALL.len()];
        let mut universities = vec![Vec::new(); n_uni];
        let mut numbering = vec![vec![0u32; DISTRICTS.len()]; VenueType::ALL.len()];
        let mut uni_numbering = vec![[0u32; 2]; n_uni];
        // Universities first take their buildings in order, canteens after.
        let mut uni_canteens = vec![Vec::new(); n_uni];
        for (i, &(t, r, u)) in specs.iter().enumerate() {
            let d = &DISTRICTS[r as usize];
            let name = if u != u32::MAX {
                let slot = &mut uni_numbering[u as usize][(t == VenueType::Canteen) as usize];
                *slot += 1;
                if t == VenueType::Canteen {
                    uni_canteens[u as usize].push(i as u32);
                } else {
                    universities[u as usize].push(i as u32);
                }
                format!("{}吉林第{}大学{}{}号", d.1, u + 1, t.label_zh(), slot)
            } else {
                let slot = &mut numbering[t as usize][r as usize];
                *slot += 1;
                format!("{}{}{}号", d.1, t.label_zh(), slot)
            };
            let mut jr = Rng::new(hash(seed, TAG_VENUE, 12, i as u64));
            let lat = d.3 + (jr.unit_f64() - 0.5) * 0.1;
            let lon = d.4 + (jr.unit_f64() - 0.5) * 0.1;
            by_type[t as usize].push(i as u32);
            by_type_region[t as usize][r as usize].push(i as u32);
            venues.push(Venue {
                kind: t,
                region: r,
                name,
                lat,
                lon,
            });
        }
        for (u, c) in uni_canteens.into_iter().enumerate() {
            universities[u].extend(c);
        }
        City {
            seed,
            people,
            ids,
            region,
            age,
            venues,
            by_type,
            by_type_region,
            universities,
        }
    }

    pub fn person_id(&self, p: u32) -> &[u8] {
        &self.ids[p as usize * 18..p as usize * 18 + 18]
    }

    fn person_hash(&self, p: u32, k: u64) -> u64 {
        hash(self.seed, TAG_PERSON, p as u64, k)
    }

    pub fn role(&self, p: u32) -> Role {
        let a = self.age[p as usize];
        let u = Rng::unit(self.person_hash(p, 0));
        match a {
            0..=5 => Role::Toddler,
            6..=17 => Role::Pupil,
            18..=22 if u < 0.5 => Role::Student,
            18..=60 if u < 0.9 => {
                if Rng::unit(self.person_hash(p, 1)) < 0.02 {
                    Role::HospitalStaff
                } else {
                    Role::Worker
                }
            }
            _ => Role::Idle,
        }
    }

    /// A venue of a type, near home with probability `local`, popular ones
    /// more often (`skew` > 1).
    fn pick(&self, t: VenueType, region: u8, h: u64, local: f64, skew: f64) -> u32 {
        let mut r = Rng::new(h);
        let regional = &self.by_type_region[t as usize][region as usize];
        let list = if !regional.is_empty() && r.unit_f64() < local {
            regional
        } else {
            &self.by_type[t as usize]
        };
        let i = (r.unit_f64().powf(skew) * list.len() as f64) as usize;
        list[i.min(list.len() - 1)]
    }

    /// A venue that this person visits: one of a few favourites, or any.
    fn errand(&self, p: u32, t: VenueType, r: &mut Rng) -> u32 {
        let region = self.region[p as usize];
        if r.unit_f64() < 0.7 {
            let k = r.below(2);
            let h = hash(self.seed, TAG_FAV, p as u64, (t as u64) << 8 | k);
            self.pick(t, region, h, 0.9, 1.5)
        } else {
            self.pick(t, region, r.next_u64(), 0.8, 1.5)
        }
    }

    fn workplace(&self, p: u32, role: Role) -> u32 {
        let region = self.region[p as usize];
        let h = self.person_hash(p, 2);
        match role {
            Role::HospitalStaff => self.pick(VenueType::Hospital, region, h, 0.8, 1.0),
            _ => {
                let t = if h >> 60 < 5 {
                    VenueType::Factory
                } else {
                    VenueType::Office
                };
                self.pick(t, region, h, 0.6, 2.0)
            }
        }
    }

    pub fn university_of(&self, p: u32) -> usize {
        (self.person_hash(p, 3) % self.universities.len() as u64) as usize
    }

    /// Appends the stays that person `p` starts on day `d` (0 = 1 March).
    pub fn person_day(&self, p: u32, d: u32, out: &mut Vec<Stay>) {
        let role = self.role(p);
        let weekday = (FIRST_WEEKDAY + d) % 7;
        let weekend = weekday >= 5;
        let day0 = d * DAY;
        let mut r = Rng::new(hash(self.seed, TAG_DAY, p as u64, d as u64));
        let start = out.len();
        let mut stay = |out: &mut Vec<Stay>, venue: u32, tin: u32, dur: u32| {
            let check_in = day0 + tin.min(DAY - 1);
            let check_out = (check_in + dur).min(MARCH_END - 1);
            out.push(Stay {
                check_in,
                person: p,
                venue,
                check_out,
            });
        };
        const M: u32 = 60;
        const H: u32 = 3600;
        let ph = self.person_hash(p, 4);
        match role {
            Role::Worker | Role::HospitalStaff if !weekend || role == Role::HospitalStaff => {
                let hospital = role == Role::HospitalStaff;
                // Hospital staff work five days in seven, some at night.
                let off = hospital && (p + d) % 7 < 2;
                if !off {
                    let night = hospital && ph % 4 == 0;
                    let base = if night {
                        20 * H
                    } else {
                        7 * H + 30 * M + (ph % 120) as u32 * M
                    };
                    let len = if night {
                        12 * H
                    } else {
                        6 * H + ((ph >> 16) % 240) as u32 * M
                    };
                    let tin = base + r.range(0, 20 * M) - 10 * M;
                    let dur = len + r.range(0, 40 * M) - 20 * M;
                    let work = self.workplace(p, role);
                    // A third commute by metro: a station near home, and one near work.
                    if (ph >> 24) % 10 < 3 && !night {
                        let home_st = self.pick(
                            VenueType::Station,
                            self.region[p as usize],
                            self.person_hash(p, 5),
                            0.9,
                            1.0,
                        );
                        let work_st = self.pick(
                            VenueType::Station,
                            self.venues[work as usize].region,
                            self.person_hash(p, 6),
                            0.9,
                            1.0,
                        );
                        if r.chance(0.9) {
                            let t = tin - r.range(20 * M, 50 * M);
                            stay(out, home_st, t, r.range(3 * M, 15 * M));
                        }
                        if r.chance(0.9) {
                            let t = tin + dur + r.range(5 * M, 20 * M);
                            if t < DAY {
                                stay(out, work_st, t, r.range(3 * M, 15 * M));
                            }
                        }
                    }
                    stay(out, work, tin, dur);
                    if !night && r.chance(0.25) {
                        let v = self.errand(p, VenueType::Restaurant, &mut r);
                        stay(
                            out,
                            v,
                            r.range(11 * H + 45 * M, 12 * H + 45 * M),
                            r.range(25 * M, 60 * M),
                        );
                    }
                    let evening = tin + dur + r.range(10 * M, 60 * M);
                    if !night && r.chance(0.3) && evening < 22 * H {
                        let t = if r.chance(0.6) {
                            VenueType::Shop
                        } else {
                            VenueType::Supermarket
                        };
                        let v = self.errand(p, t, &mut r);
                        stay(out, v, evening, r.range(10 * M, 40 * M));
                    }
                    if !night && r.chance(0.08) {
                        let v = self.errand(p, VenueType::Restaurant, &mut r);
                        stay(out, v, r.range(18 * H, 20 * H), r.range(45 * M, 90 * M));
                    }
                }
                self.sick(p, &mut r, out, &mut stay, 0.01);
            }
            Role::Pupil if !weekend => {
                let school = self.pick(
                    VenueType::School,
                    self.region[p as usize],
                    self.person_hash(p, 2),
                    1.0,
                    1.0,
                );
                let tin = 7 * H + 20 * M + r.range(0, 30 * M);
                let tout = 16 * H + r.range(0, 90 * M);
                stay(out, school, tin, tout - tin);
                if r.chance(0.2) {
                    let v = self.errand(p, VenueType::Shop, &mut r);
                    stay(
                        out,
                        v,
                        tout + r.range(5 * M, 30 * M),
                        r.range(5 * M, 25 * M),
                    );
                }
                self.sick(p, &mut r, out, &mut stay, 0.005);
            }
            Role::Student => {
                let uni = &self.universities[self.university_of(p)];
                let (buildings, canteens) = uni.split_at(UNI_BUILDINGS);
                if !weekend {
                    let b = buildings[r.below(buildings.len() as u64) as usize];
                    let tin = 7 * H + 50 * M + r.range(0, 30 * M);
                    stay(out, b, tin, r.range(2 * H + 30 * M, 4 * H));
                    if r.chance(0.6) {
                        let b = buildings[r.below(buildings.len() as u64) as usize];
                        stay(
                            out,
                            b,
                            13 * H + 50 * M + r.range(0, 30 * M),
                            r.range(2 * H, 3 * H + 30 * M),
                        );
                    }
                }
                let (lunch, dinner) = if weekend { (0.6, 0.6) } else { (0.8, 0.6) };
                if r.chance(lunch) {
                    let c = canteens[r.below(canteens.len() as u64) as usize];
                    stay(
                        out,
                        c,
                        11 * H + 40 * M + r.range(0, 60 * M),
                        r.range(15 * M, 40 * M),
                    );
                }
                if r.chance(dinner) {
                    let c = canteens[r.below(canteens.len() as u64) as usize];
                    stay(out, c, 17 * H + r.range(0, 90 * M), r.range(15 * M, 40 * M));
                }
                if weekend {
                    self.leisure(p, &mut r, out, &mut stay, 0.5);
                }
                self.sick(p, &mut r, out, &mut stay, 0.005);
            }
            Role::Toddler => {
                if r.chance(0.25) {
                    let t = match r.below(10) {
                        0 => VenueType::Hospital,
                        1..=3 => VenueType::Supermarket,
                        4..=5 => VenueType::Market,
                        6..=7 => VenueType::Mall,
                        _ => VenueType::Restaurant,
                    };
                    let v = self.errand(p, t, &mut r);
                    let (tin, dur) = typical(t, &mut r);
                    stay(out, v, tin, dur);
                }
            }
            Role::Idle => {
                if r.chance(0.35) {
                    let v = self.errand(p, VenueType::Market, &mut r);
                    stay(out, v, 6 * H + r.range(0, 3 * H), r.range(20 * M, 60 * M));
                }
                for (t, pr) in [
                    (VenueType::Supermarket, 0.2),
                    (VenueType::Shop, 0.25),
                    (VenueType::Restaurant, 0.1),
                    (VenueType::Mall, if weekend { 0.1 } else { 0.04 }),
                ] {
                    if r.chance(pr) {
                        let v = self.errand(p, t, &mut r);
                        let (tin, dur) = typical(t, &mut r);
                        stay(out, v, tin, dur);
                    }
                }
                self.sick(p, &mut r, out, &mut stay, 0.08);
            }
            // Workers and pupils at the weekend.
            _ => {
                self.leisure(p, &mut r, out, &mut stay, 1.0);
                self.sick(p, &mut r, out, &mut stay, 0.01);
            }
        }
        // Imperfect records: an instant scan (check-out = check-in), and a
        // second scan at the same venue a little later (overlapping stays).
        for i in start..out.len() {
            let x = r.next_u64() % 10_000;
            if x < 10 {
                out[i].check_out = out[i].check_in;
            } else if x < 40 {
                let mut s = out[i];
                s.check_in = (s.check_in + r.range(1, 120)).min(s.check_out);
                out.push(s);
            }
        }
    }

    fn leisure<F: FnMut(&mut Vec<Stay>, u32, u32, u32)>(
        &self,
        p: u32,
        r: &mut Rng,
        out: &mut Vec<Stay>,
        stay: &mut F,
        scale: f64,
    ) {
        for (t, pr) in [
            (VenueType::Shop, 0.35),
            (VenueType::Supermarket, 0.25),
            (VenueType::Restaurant, 0.25),
            (VenueType::Mall, 0.2),
            (VenueType::Market, 0.15),
        ] {
            if r.chance(pr * scale) {
                let v = self.errand(p, t, r);
                let (tin, dur) = typical(t, r);
                stay(out, v, tin, dur);
            }
        }
    }

    fn sick<F: FnMut(&mut Vec<Stay>, u32, u32, u32)>(
        &self,
        p: u32,
        r: &mut Rng,
        out: &mut Vec<Stay>,
        stay: &mut F,
        pr: f64,
    ) {
        if r.chance(pr) {
            let v = self.errand(p, VenueType::Hospital, r);
            let (tin, dur) = typical(VenueType::Hospital, r);
            stay(out, v, tin, dur);
        }
    }

    pub fn stays_of_day(&self, d: u32, persons: std::ops::Range<u32>, out: &mut Vec<Stay>) {
        for p in persons {
            self.person_day(p, d, out);
        }
    }
}

/// Time of day and duration of a visit of a kind.
fn typical(t: VenueType, r: &mut Rng) -> (u32, u32) {
    const M: u32 = 60;
    const H: u32 = 3600;
    match t {
        VenueType::Shop => (r.range(8 * H, 21 * H), r.range(5 * M, 30 * M)),
        VenueType::Supermarket => (r.range(9 * H, 21 * H), r.range(15 * M, 60 * M)),
        VenueType::Restaurant => {
            if r.chance(0.5) {
                (
                    r.range(11 * H + 30 * M, 13 * H + 30 * M),
                    r.range(30 * M, 90 * M),
                )
            } else {
                (
                    r.range(17 * H + 30 * M, 20 * H + 30 * M),
                    r.range(30 * M, 90 * M),
                )
            }
        }
        VenueType::Market => (r.range(6 * H, 10 * H), r.range(15 * M, 60 * M)),
        VenueType::Mall => (r.range(10 * H, 20 * H), r.range(60 * M, 180 * M)),
        VenueType::Hospital => (r.range(8 * H, 16 * H), r.range(30 * M, 4 * H)),
        _ => (r.range(9 * H, 18 * H), r.range(10 * M, 60 * M)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(BIRTH_FIRST_DAY), (1940, 1, 1));
        assert_eq!(
            civil_from_days(BIRTH_FIRST_DAY + BIRTH_DAYS as i64 - 1),
            (2021, 12, 31)
        );
        assert_eq!(civil_from_days(T0.div_euclid(86_400) + 1), (2022, 3, 1));
    }

    #[test]
    fn ids_are_unique_and_shaped() {
        let city = City::new(7, 20_000);
        let mut ids: Vec<&[u8]> = (0..20_000).map(|p| city.person_id(p)).collect();
        assert!(ids.iter().all(|id| id.len() == 18
            && id[..17].iter().all(u8::is_ascii_digit)
            && check_char(&id[..17]) == id[17]));
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 20_000);
    }

    #[test]
    fn stays_are_valid_and_deterministic() {
        let city = City::new(3, 5_000);
        let again = City::new(3, 5_000);
        let mut total = 0;
        for d in 0..14 {
            let mut a = Vec::new();
            let mut b = Vec::new();
            city.stays_of_day(d, 0..5_000, &mut a);
            again.stays_of_day(d, 0..2_000, &mut b);
            again.stays_of_day(d, 2_000..5_000, &mut b);
            assert_eq!(a, b);
            for s in &a {
                assert!(s.check_out >= s.check_in);
                assert!(s.check_in >= d * DAY && s.check_in < (d + 1) * DAY);
                assert!(s.check_out < MARCH_END);
                assert!((s.venue as usize) < city.venues.len());
            }
            total += a.len();
        }
        let per_person = total as f64 / 5_000.0;
        assert!((14.0..26.0).contains(&per_person), "{per_person}");
    }
}
