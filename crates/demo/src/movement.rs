//! Where the demo's people went: venues with venue codes (场所码), check-ins in
//! the days before each case's sample, and seats on a few trains, so that
//! contact tracing has close contacts to find.
//!
//! Everything here is drawn from its own ChaCha stream of the seed, after the
//! regions, persons and cases are final: adding movement changes none of them.

use crate::curve::apportion;
use crate::generate::{at_local, march};
use crate::people::{reference_date, STREETS, SURNAMES};
use crate::regions::{City, District, Geography, CHANGCHUN, JILIN_CITY};
use chrono::{DateTime, Utc};
use closedloop_domain::case::{CaseDraft, Origin};
use closedloop_domain::movement::{CheckinDraft, TripSeat, Venue, VenueType};
use closedloop_domain::person::PersonDraft;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{HashMap, HashSet};

/// Stream 0 of the seed makes the regions, persons and cases; drawing from it
/// here would shift everything drawn after.
const MOVEMENT_STREAM: u64 = 1;

const MINUTE: i64 = 60;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;

/// Venues at scale 1.0, and the fewest at any scale, so that the districts
/// with the most cases have several. A real city of millions has tens of
/// thousands of venue codes; the demo's people (about 70,000 at scale 1.0,
/// mostly in Changchun and Jilin City) get a few thousand venues per city, so a
/// venue holds a handful of them at a time, as in life, rather than a crowd of
/// hundreds (300 venues at scale 1.0 made one cluster of most cases). The few
/// crowded places of the story are planted by `Mover::crowds`.
const VENUES_AT_SCALE_1: f64 = 12_000.0;
const MIN_VENUES: usize = 60;

/// How far back a case's movements are traced before its sample.
const TRACE_BACK_DAYS: i64 = 4;
/// Share of a case's own stays that someone else was there for, and how many.
const WITH_COMPANIONS: f64 = 0.9;
const MAX_COMPANIONS: u32 = 6;
const COMPANION_EARLY: i64 = 45 * MINUTE;
/// Stays of people who are not cases, per person, over the month.
const BACKGROUND_PER_PERSON: usize = 5;
/// People forget to scan out; the venue type's typical stay then stands in.
/// Set above the one in ten wanted because some stays cannot leave it out.
const NO_CHECK_OUT: f64 = 0.13;
/// Share of stays a working-age case spends at its own workplace or school.
const AT_REGULAR_VENUE: f64 = 0.35;
/// Share of stays in a neighbouring district of the same city.
const NEIGHBOURING_DISTRICT: f64 = 0.15;

/// Around 12 March both cities, and soon the province, shut schools,
/// restaurants, malls and leisure venues; markets, supermarkets, pharmacies,
/// hospitals, testing sites and essential workplaces stayed open. Illustrative.
const LOCKDOWN_DAY: u32 = 12;
/// Nobody is drawn into more than this many stays in the month besides a
/// case's own, so the same few neighbours are not at every case's side.
const MAX_STAYS: usize = 40;

/// Real places the demo's story leans on; every other venue is made up.
const ANCHORS: &[(&str, VenueType, &str)] = &[
    // The agricultural-university cluster in Changchun, early March 2022.
    ("220102", VenueType::School, "吉林农业大学第一食堂"),
    ("220104", VenueType::Mall, "欧亚商都"),
    ("220104", VenueType::Mall, "红旗街万达广场"),
    ("220103", VenueType::Transit, "长春站"),
    ("220113", VenueType::Transit, "长春龙嘉国际机场"),
    ("220202", VenueType::Workplace, "吉林化纤厂车间4"),
    ("220202", VenueType::Transit, "吉林站"),
    // Where imported cases arrive: the Hunchun land port and Yanji airport.
    ("222401", VenueType::Transit, "延吉朝阳川国际机场"),
    ("222404", VenueType::Transit, "珲春口岸"),
];

/// The first venues of a district follow this order, so that even a district
/// with three venues has somewhere to buy food and somewhere to work.
const FIRST_TYPES: &[VenueType] = &[
    VenueType::Supermarket,
    VenueType::Market,
    VenueType::Workplace,
    VenueType::Other,
    VenueType::Hospital,
    VenueType::Restaurant,
    VenueType::School,
    VenueType::Shop,
    VenueType::Workplace,
    VenueType::Restaurant,
    VenueType::Mall,
    VenueType::Transit,
];

/// The mix of the rest, in relative weights.
const TYPE_MIX: &[(VenueType, u32)] = &[
    (VenueType::Workplace, 20),
    (VenueType::Restaurant, 15),
    (VenueType::Supermarket, 12),
    (VenueType::Shop, 12),
    (VenueType::Market, 8),
    (VenueType::School, 7),
    (VenueType::Hospital, 5),
    (VenueType::Other, 4),
    (VenueType::Hotel, 4),
    (VenueType::Entertainment, 4),
    (VenueType::Mall, 3),
    (VenueType::Transit, 3),
    (VenueType::Gym, 3),
];

/// Approximate seats of the districts of the two hardest-hit cities, whose
/// counties lie far from the city centre, and of the two ports of entry.
const SEATS: &[(&str, f64, f64)] = &[
    ("220102", 43.86, 125.35),
    ("220103", 43.92, 125.33),
    ("220104", 43.84, 125.29),
    ("220105", 43.87, 125.38),
    ("220106", 43.88, 125.26),
    ("220112", 43.52, 125.66),
    ("220113", 44.15, 125.84),
    ("220122", 44.43, 125.18),
    ("220182", 44.83, 126.53),
    ("220183", 44.54, 125.70),
    ("220184", 43.50, 124.82),
    ("220202", 43.88, 126.57),
    ("220203", 43.91, 126.58),
    ("220204", 43.83, 126.54),
    ("220211", 43.80, 126.57),
    ("220221", 43.67, 126.50),
    ("220281", 43.72, 127.34),
    ("220282", 42.97, 126.75),
    ("220283", 44.41, 126.97),
    ("220284", 42.95, 126.06),
    ("222401", 42.89, 129.51),
    ("222404", 42.86, 130.37),
];

/// Centres of the prefectures, for districts without a seat above.
const CITY_CENTRES: &[(&str, f64, f64)] = &[
    ("220100", 43.88, 125.32),
    ("220200", 43.84, 126.55),
    ("220300", 43.17, 124.35),
    ("220400", 42.89, 125.14),
    ("220500", 41.73, 125.94),
    ("220600", 41.94, 126.42),
    ("220700", 45.14, 124.83),
    ("220800", 45.62, 122.84),
    ("222400", 42.89, 129.51),
];

/// Jilin's extent, a little inside its borders.
const LAT_RANGE: (f64, f64) = (41.0, 46.0);
const LON_RANGE: (f64, f64) = (122.2, 130.9);

/// Trains that carried a case before the travel ban of mid-March: intercity
/// trains between Changchun and Jilin City, and high-speed trains out of the
/// province. The index case lives in the given city.
const TRAINS: &[(&str, u32, &str)] = &[
    ("C1002", 4, JILIN_CITY),
    ("G1234", 5, CHANGCHUN),
    ("C1015", 6, CHANGCHUN),
    ("D7421", 7, JILIN_CITY),
    ("G8012", 9, CHANGCHUN),
];
const CARRIAGES: u32 = 16;
const ROWS: i64 = 20;
/// Rows apart that still count as near, and rows apart that are clearly far.
const NEAR_ROWS: i64 = 3;
const FAR_ROWS: i64 = 8;

/// Movement data for [`crate::DemoData`].
pub(crate) struct Movement {
    pub venues: Vec<Venue>,
    pub checkins: Vec<CheckinDraft>,
    pub trips: Vec<TripSeat>,
}

/// A case or a person: cases first, in their order, then persons.
type Agent = usize;

struct Agents<'a> {
    doc: Vec<&'a str>,
    district: Vec<Option<usize>>,
    age: Vec<u32>,
    /// A case is isolated once reported, so its stays end before its report
    /// time; anyone else's before the month ends.
    until: Vec<i64>,
    cases: usize,
}

impl Agents<'_> {
    fn is_case(&self, a: Agent) -> bool {
        a < self.cases
    }
}

struct Stay {
    agent: Agent,
    venue: usize,
    check_in: i64,
    check_out: Option<i64>,
}

struct Mover<'a> {
    rng: ChaCha8Rng,
    geo: &'a Geography,
    cases: &'a [CaseDraft],
    agents: Agents<'a>,
    venues: Vec<Venue>,
    venue_district: Vec<usize>,
    /// Venues of each district.
    venues_in: Vec<Vec<usize>>,
    /// Per city, the districts that have venues.
    venue_districts_of_city: Vec<Vec<usize>>,
    /// Per district, its schools, its universities and its workplaces, where
    /// cases go regularly (listed once: a district has thousands of venues).
    regular_in: Vec<[Vec<usize>; 3]>,
    /// Per city, its stations, ports and airports.
    transit_of_city: Vec<Vec<usize>>,
    /// Non-case persons of each district.
    persons_in: Vec<Vec<Agent>>,
    /// Cases of each district, in report order.
    cases_in: Vec<Vec<Agent>>,
    /// Cases and persons of each city.
    agents_of_city: Vec<Vec<Agent>>,
    household: HashMap<&'a str, Vec<Agent>>,
    household_of: Vec<Option<&'a str>>,
    /// Each agent's stays so far, so nobody is in two places at once.
    busy: Vec<Vec<(i64, i64)>>,
    stays: Vec<Stay>,
    march_start: i64,
    march_end: i64,
}

pub(crate) fn run(
    geo: &Geography,
    persons: &[PersonDraft],
    cases: &[CaseDraft],
    scale: f64,
    seed: u64,
) -> Movement {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(MOVEMENT_STREAM);
    let district_of: HashMap<&str, usize> = geo
        .districts
        .iter()
        .enumerate()
        .map(|(i, d)| (d.code, i))
        .collect();
    let agents = agents(&district_of, persons, cases);
    let (venues, venue_district) = make_venues(&mut rng, geo, &agents, scale);
    let nd = geo.districts.len();
    let mut venues_in = vec![Vec::new(); nd];
    for (v, &d) in venue_district.iter().enumerate() {
        venues_in[d].push(v);
    }
    let mut venue_districts_of_city = vec![Vec::new(); geo.cities.len()];
    for (d, list) in venues_in.iter().enumerate() {
        if !list.is_empty() {
            venue_districts_of_city[geo.districts[d].city].push(d);
        }
    }
    let mut regular_in = vec![[Vec::new(), Vec::new(), Vec::new()]; nd];
    let mut transit_of_city = vec![Vec::new(); geo.cities.len()];
    for (d, list) in venues_in.iter().enumerate() {
        for &v in list {
            let venue = &venues[v];
            match venue.venue_type {
                VenueType::School if venue.name.contains("大学") => regular_in[d][1].push(v),
                VenueType::School => regular_in[d][0].push(v),
                VenueType::Workplace => regular_in[d][2].push(v),
                VenueType::Transit => transit_of_city[geo.districts[d].city].push(v),
                _ => {}
            }
        }
    }
    let total = agents.doc.len();
    let (mut persons_in, mut cases_in) = (vec![Vec::new(); nd], vec![Vec::new(); nd]);
    let mut agents_of_city = vec![Vec::new(); geo.cities.len()];
    let mut household: HashMap<&str, Vec<Agent>> = HashMap::new();
    let mut household_of = Vec::with_capacity(total);
    for a in 0..total {
        if let Some(d) = agents.district[a] {
            if agents.is_case(a) {
                cases_in[d].push(a);
            } else {
                persons_in[d].push(a);
            }
            agents_of_city[geo.districts[d].city].push(a);
        }
        let person = if a < cases.len() {
            &cases[a].person
        } else {
            &persons[a - cases.len()]
        };
        let h = person.household_id.as_deref();
        if let Some(h) = h {
            household.entry(h).or_default().push(a);
        }
        household_of.push(h);
    }
    let mut m = Mover {
        rng,
        geo,
        cases,
        agents,
        venues,
        venue_district,
        venues_in,
        venue_districts_of_city,
        regular_in,
        transit_of_city,
        persons_in,
        cases_in,
        agents_of_city,
        household,
        household_of,
        busy: vec![Vec::new(); total],
        stays: Vec::with_capacity(25 * cases.len() + 6 * persons.len()),
        march_start: at_local(march(1), 0).timestamp(),
        march_end: at_local(march(31), 86_399).timestamp() + 1,
    };
    m.crowds();
    m.case_stays();
    m.background(persons.len() * BACKGROUND_PER_PERSON);
    let trips = m.trips();
    m.finish(trips)
}

fn agents<'a>(
    district_of: &HashMap<&str, usize>,
    persons: &'a [PersonDraft],
    cases: &'a [CaseDraft],
) -> Agents<'a> {
    let n = cases.len() + persons.len();
    let mut a = Agents {
        doc: Vec::with_capacity(n),
        district: Vec::with_capacity(n),
        age: Vec::with_capacity(n),
        until: Vec::with_capacity(n),
        cases: cases.len(),
    };
    let age = |p: &PersonDraft| {
        p.birth_date
            .and_then(|b| reference_date().years_since(b))
            .unwrap_or(40)
    };
    for c in cases {
        a.doc.push(c.person.document.number.as_str());
        a.district
            .push(district_of.get(c.reporting_region.as_str()).copied());
        a.age.push(age(&c.person));
        a.until.push(c.report_time.timestamp());
    }
    for p in persons {
        // A home region's code starts with its district's. A person outside any
        // household is the second record of a planted duplicate, the same human
        // registered again: their stays belong to the first record, so they stay home.
        let district = p
            .household_id
            .as_ref()
            .and(p.region_code.as_deref())
            .and_then(|code| code.get(..6))
            .and_then(|code| district_of.get(code).copied());
        a.doc.push(p.document.number.as_str());
        a.district.push(district);
        a.age.push(age(p));
        a.until.push(i64::MAX);
    }
    a
}

/// Venues spread over the districts by their cases; with no cases at all, over
/// the two big cities by population.
fn make_venues(
    rng: &mut ChaCha8Rng,
    geo: &Geography,
    agents: &Agents,
    scale: f64,
) -> (Vec<Venue>, Vec<usize>) {
    let nd = geo.districts.len();
    let wanted = ((VENUES_AT_SCALE_1 * scale).round() as usize).max(MIN_VENUES);
    let mut weight = vec![0u64; nd];
    for d in agents.district[..agents.cases].iter().flatten() {
        weight[*d] += 1;
    }
    if weight.iter().all(|&w| w == 0) {
        for (w, d) in weight.iter_mut().zip(&geo.districts) {
            let city = geo.cities[d.city].code;
            if city == CHANGCHUN || city == JILIN_CITY {
                *w = d.population as u64;
            }
        }
    }
    // Every city with cases gets a venue in its busiest district; the other
    // districts share its venues when they have none of their own.
    let mut slots = vec![0; nd];
    for city in &geo.cities {
        let busiest = city.districts.iter().copied().max_by_key(|&d| weight[d]);
        if let Some(d) = busiest.filter(|&d| weight[d] > 0) {
            slots[d] = 1;
        }
    }
    for (code, _, _) in ANCHORS {
        if let Some(d) = geo.districts.iter().position(|d| d.code == *code) {
            let anchors = ANCHORS.iter().filter(|a| a.0 == *code).count();
            slots[d] = slots[d].max(anchors);
        }
    }
    let rest = wanted.saturating_sub(slots.iter().sum());
    // A district that would get fewer than two venues gets none: its cases go
    // to its city's venues rather than all crowd into a single supermarket.
    let total: u64 = weight.iter().sum();
    let mut share: Vec<u64> = weight
        .iter()
        .map(|&w| if w * rest as u64 >= 2 * total { w } else { 0 })
        .collect();
    if share.iter().all(|&w| w == 0) {
        share = weight;
    }
    for (s, extra) in slots.iter_mut().zip(apportion(rest as u32, &share)) {
        *s += extra as usize;
    }

    let mix_total: u32 = TYPE_MIX.iter().map(|t| t.1).sum();
    let mut venues = Vec::new();
    let mut district_of = Vec::new();
    for (d, district) in geo.districts.iter().enumerate() {
        let city = &geo.cities[district.city];
        let (lat, lon) = seat(rng, district, city);
        let mut types: Vec<(VenueType, Option<&str>)> = ANCHORS
            .iter()
            .filter(|a| a.0 == district.code)
            .map(|a| (a.1, Some(a.2)))
            .collect();
        let mut first = FIRST_TYPES.iter();
        while types.len() < slots[d] {
            let t = match first.next() {
                Some(&t) => t,
                None => {
                    let mut x = rng.gen_range(0..mix_total);
                    let mut pick = VenueType::Other;
                    for &(t, w) in TYPE_MIX {
                        if x < w {
                            pick = t;
                            break;
                        }
                        x -= w;
                    }
                    pick
                }
            };
            types.push((t, None));
        }
        let mut of_type: HashMap<VenueType, usize> = HashMap::new();
        for (seq, (t, anchor)) in types.into_iter().enumerate() {
            let n = of_type.entry(t).or_insert(0);
            *n += 1;
            let name = match anchor {
                Some(name) => name.to_string(),
                None => venue_name(rng, t, district, city, *n),
            };
            let spread = if is_urban(district) { 0.03 } else { 0.05 };
            venues.push(Venue {
                venue_id: format!("V-{}-{:04}", district.code, seq + 1),
                name,
                venue_type: t,
                region_code: Some(district.code.to_string()),
                lat: Some(coordinate(lat + rng.gen_range(-spread..spread), LAT_RANGE)),
                lon: Some(coordinate(lon + rng.gen_range(-spread..spread), LON_RANGE)),
            });
            district_of.push(d);
        }
    }
    (venues, district_of)
}

fn is_urban(d: &District) -> bool {
    d.name_zh.ends_with('区')
}

/// Where a district's venues cluster: its seat when known, otherwise near its
/// prefecture's centre, urban districts closer than counties.
fn seat(rng: &mut ChaCha8Rng, d: &District, city: &City) -> (f64, f64) {
    let (clat, clon) = CITY_CENTRES
        .iter()
        .find(|c| c.0 == city.code)
        .map(|c| (c.1, c.2))
        .unwrap_or((43.9, 125.3));
    let spread = if is_urban(d) { 0.06 } else { 0.35 };
    let (dlat, dlon) = (
        rng.gen_range(-spread..spread),
        rng.gen_range(-spread..spread),
    );
    SEATS
        .iter()
        .find(|s| s.0 == d.code)
        .map(|s| (s.1, s.2))
        .unwrap_or((clat + dlat, clon + dlon))
}

/// Six decimals, as map services give them, and inside the province.
fn coordinate(x: f64, (lo, hi): (f64, f64)) -> f64 {
    (x.clamp(lo, hi) * 1e6).round() / 1e6
}

/// A district or city name without its 区/县/市 or its autonomous title, as
/// shop signs use it: 昌邑区 → 昌邑, 伊通满族自治县 → 伊通.
fn short_name(name: &str) -> String {
    if name.contains("自治") {
        name.chars().take(2).collect()
    } else {
        let mut s = name.to_string();
        if s.chars().count() > 2 && s.ends_with(['区', '县', '市', '州']) {
            s.pop();
        }
        s
    }
}

fn pick<'a>(rng: &mut ChaCha8Rng, list: &[&'a str]) -> &'a str {
    list[rng.gen_range(0..list.len())]
}

/// A plausible name; `n` counts the venues of this type in the district from 1.
fn venue_name(rng: &mut ChaCha8Rng, t: VenueType, d: &District, city: &City, n: usize) -> String {
    let full = d.name_zh;
    let short = short_name(full);
    let street = pick(rng, STREETS);
    match t {
        VenueType::Market if n % 2 == 1 => format!("{full}第{n}菜市场"),
        VenueType::Market => format!("{street}早市"),
        VenueType::Supermarket => {
            let brand = pick(
                rng,
                &[
                    "欧亚超市",
                    "大润发",
                    "沃尔玛",
                    "华联超市",
                    "家乐福",
                    "百姓超市",
                ],
            );
            format!("{brand}（{short}{street}店）")
        }
        VenueType::Restaurant => {
            let food = pick(
                rng,
                &[
                    "饺子馆",
                    "烧烤",
                    "麻辣烫",
                    "冷面馆",
                    "砂锅居",
                    "锅包肉",
                    "火锅",
                    "包子铺",
                ],
            );
            let surname = pick(rng, SURNAMES);
            if rng.gen_bool(0.5) {
                format!("老{surname}家{food}")
            } else {
                format!("{surname}记{food}")
            }
        }
        VenueType::Shop => {
            let kind = pick(
                rng,
                &["便利店", "大药房", "五金店", "理发店", "手机店", "水果店"],
            );
            format!("{street}{kind}")
        }
        VenueType::Mall => match n {
            1 => format!("{short}百货大楼"),
            2 => format!("{short}购物中心"),
            _ => format!("{street}商业城"),
        },
        VenueType::Transit if n == 1 => format!("{short}客运站"),
        VenueType::Transit => format!("{street}公交枢纽站"),
        VenueType::Hospital => match n {
            1 => format!("{full}人民医院"),
            2 => format!("{full}中医院"),
            _ => format!("{street}社区卫生服务中心"),
        },
        VenueType::School => match n % 3 {
            1 => format!("{full}第{}中学", n.div_ceil(3)),
            2 => format!("{full}实验小学"),
            _ => format!("{short}职业技术学校"),
        },
        VenueType::Workplace => match rng.gen_range(0..4) {
            0 => format!("{short}物流园"),
            1 => format!("{street}写字楼"),
            _ => {
                let industry = pick(rng, &["机械", "食品", "化工", "制药", "汽车零部件", "建材"]);
                format!("{short}{industry}厂车间{n}")
            }
        },
        VenueType::Hotel => {
            let brand = pick(rng, &["如家", "汉庭", "锦江之星", "格林豪泰", "7天"]);
            format!("{brand}酒店（{}{street}店）", short_name(city.name_zh))
        }
        VenueType::Entertainment => {
            let kind = pick(rng, &["洗浴中心", "KTV", "网吧", "棋牌室"]);
            format!("{street}{kind}")
        }
        VenueType::Gym => format!("{street}健身房"),
        VenueType::Residential => format!("{street}小区"),
        VenueType::Other => format!("{full}第{n}核酸采样点"),
    }
}

/// Earliest and latest check-in, seconds after local midnight: markets are
/// early-morning 早市, bath houses and KTV are evenings.
fn opening(rng: &mut ChaCha8Rng, t: VenueType) -> (i64, i64) {
    let hm = |h: i64, m: i64| h * HOUR + m * MINUTE;
    match t {
        VenueType::Workplace => (hm(7, 0), hm(9, 30)),
        VenueType::School => (hm(6, 30), hm(12, 0)),
        VenueType::Restaurant if rng.gen_bool(0.4) => (hm(11, 0), hm(13, 0)),
        VenueType::Restaurant => (hm(17, 0), hm(19, 30)),
        VenueType::Shop | VenueType::Supermarket => (hm(8, 0), hm(20, 0)),
        VenueType::Market => (hm(5, 0), hm(9, 30)),
        VenueType::Mall => (hm(10, 0), hm(19, 30)),
        VenueType::Transit => (hm(6, 0), hm(21, 0)),
        VenueType::Hospital => (hm(7, 30), hm(16, 0)),
        VenueType::Hotel => (hm(14, 0), hm(22, 0)),
        VenueType::Entertainment => (hm(18, 0), hm(22, 30)),
        VenueType::Gym => (hm(6, 0), hm(20, 30)),
        VenueType::Residential => (hm(17, 0), hm(20, 0)),
        VenueType::Other => (hm(7, 0), hm(18, 0)),
    }
}

/// How likely a visit to a venue of this type is, once drawn, on `day`:
/// people shop daily, pass stations rarely, and after the lockdown only
/// essential places are open.
fn visit_chance(t: VenueType, day: u32) -> f64 {
    let before = day < LOCKDOWN_DAY;
    match t {
        VenueType::Supermarket | VenueType::Market | VenueType::Residential => 1.0,
        VenueType::Shop => 0.8,
        // Testing sites filled up once the rounds of mass testing began.
        VenueType::Other if before => 0.4,
        VenueType::Other => 1.0,
        VenueType::Workplace | VenueType::School if before => 1.0,
        // Most workplaces closed or worked from home; essential ones did not.
        VenueType::Workplace => 0.3,
        VenueType::Hospital => 0.3,
        VenueType::Transit if before => 0.15,
        VenueType::Transit => 0.03,
        VenueType::Restaurant | VenueType::Mall if before => 0.8,
        VenueType::Entertainment | VenueType::Gym | VenueType::Hotel if before => 0.4,
        _ => 0.0,
    }
}

fn overlaps(busy: &[(i64, i64)], start: i64, end: i64) -> bool {
    busy.iter().any(|&(s, e)| s < end && start < e)
}

impl Mover<'_> {
    fn midnight(&self, day: u32) -> i64 {
        // Shanghai kept no daylight saving in 2022: every day is 24 hours.
        self.march_start + i64::from(day - 1) * DAY
    }

    fn day_of(&self, t: i64) -> u32 {
        ((t - self.march_start).div_euclid(DAY) + 1).clamp(1, 31) as u32
    }

    fn typical(&self, venue: usize) -> i64 {
        self.venues[venue].venue_type.typical_stay_minutes() * MINUTE
    }

    /// A stay at `venue` on `day`: a check-in during its hours and about its typical length.
    fn draw_stay(&mut self, venue: usize, day: u32) -> (i64, i64) {
        let (open, last) = opening(&mut self.rng, self.venues[venue].venue_type);
        let start = self.midnight(day) + self.rng.gen_range(open..=last);
        let typical = self.typical(venue);
        let length = (typical as f64 * self.rng.gen_range(0.5..1.5)) as i64;
        (start, start + length.max(5 * MINUTE))
    }

    /// Whether `agent` may be at a venue over `[start, end)`.
    fn free(&self, agent: Agent, start: i64, end: i64) -> bool {
        start >= self.march_start
            && end > start
            && end <= self.agents.until[agent].min(self.march_end)
            && !overlaps(&self.busy[agent], start, end)
    }

    /// Whether `agent` may be drawn into one more stay that is not a case's own.
    fn sociable(&self, agent: Agent) -> bool {
        self.busy[agent].len() < MAX_STAYS
    }

    /// Records a stay and returns when it ends for tracing: its check-out, or
    /// the typical stay when the check-out is left out. `may_drop_out` is false
    /// when leaving it out could break an overlap the caller relies on.
    fn record(
        &mut self,
        agent: Agent,
        venue: usize,
        start: i64,
        end: i64,
        may_drop_out: bool,
    ) -> i64 {
        let implied = start + self.typical(venue);
        let drop_out = may_drop_out
            && self.rng.gen_bool(NO_CHECK_OUT)
            && (end >= implied || self.free(agent, end, implied));
        let until = if drop_out { implied } else { end };
        self.busy[agent].push((start, until));
        self.stays.push(Stay {
            agent,
            venue,
            check_in: start,
            check_out: (!drop_out).then_some(end),
        });
        until
    }

    /// A random venue for someone living in `district` on `day`: mostly at
    /// home, sometimes in a neighbouring district of the same city.
    fn venue_near(&mut self, district: usize, day: u32) -> Option<usize> {
        let city = self.geo.districts[district].city;
        if self.venue_districts_of_city[city].is_empty() {
            return None;
        }
        let at_home = !self.venues_in[district].is_empty();
        for _ in 0..4 {
            let d = if at_home && !self.rng.gen_bool(NEIGHBOURING_DISTRICT) {
                district
            } else {
                let nearby = &self.venue_districts_of_city[city];
                nearby[self.rng.gen_range(0..nearby.len())]
            };
            let list = &self.venues_in[d];
            let v = list[self.rng.gen_range(0..list.len())];
            if self.visits(v, day) {
                return Some(v);
            }
        }
        None
    }

    fn visits(&mut self, venue: usize, day: u32) -> bool {
        let chance = visit_chance(self.venues[venue].venue_type, day);
        chance > 0.0 && self.rng.gen_bool(chance)
    }

    /// Where a case works or studies, if its district has such a place:
    /// children go to school, students to the university.
    fn regular_venue(&mut self, agent: Agent) -> Option<usize> {
        let district = self.agents.district[agent]?;
        let (t, university) = match self.agents.age[agent] {
            6..=17 => (VenueType::School, false),
            18..=22 => (VenueType::School, true),
            23..=60 => (VenueType::Workplace, false),
            _ => return None,
        };
        let kind = match (t, university) {
            (VenueType::School, false) => 0,
            (VenueType::School, true) => 1,
            _ => 2,
        };
        self.regular_in[district][kind]
            .choose(&mut self.rng)
            .copied()
    }

    /// Each local case's stays over the days before its sample, with people
    /// who were there at the same time; imported cases only passed the border.
    fn case_stays(&mut self) {
        for ci in 0..self.cases.len() {
            let case = &self.cases[ci];
            let sample = case.sample_time.unwrap_or(case.report_time).timestamp();
            if case.origin == Origin::Imported {
                self.arrival(ci, sample);
                continue;
            }
            let Some(district) = self.agents.district[ci] else {
                continue;
            };
            let from = (sample - TRACE_BACK_DAYS * DAY).max(self.march_start);
            let to = sample.min(self.agents.until[ci]);
            if to - from < 6 * HOUR {
                continue;
            }
            let regular = self.regular_venue(ci);
            let wanted = self.rng.gen_range(3..=8);
            let mut made = 0;
            for _ in 0..wanted * 8 {
                if made == wanted {
                    break;
                }
                let day = self.rng.gen_range(self.day_of(from)..=self.day_of(to - 1));
                let venue = match regular {
                    Some(v) if self.rng.gen_bool(AT_REGULAR_VENUE) => {
                        self.visits(v, day).then_some(v)
                    }
                    _ => self.venue_near(district, day),
                };
                let Some(venue) = venue else { continue };
                let (start, end) = self.draw_stay(venue, day);
                if start < from || end > to || !self.free(ci, start, end) {
                    continue;
                }
                let until = self.record(ci, venue, start, end, true);
                made += 1;
                if self.rng.gen_bool(WITH_COMPANIONS) {
                    let n = self.rng.gen_range(1..=MAX_COMPANIONS);
                    self.companions(ci, venue, start, until, n);
                }
            }
        }
    }

    /// Travellers are tested on arrival: the port or airport of their district
    /// or city is their only stay in the province before the sample.
    fn arrival(&mut self, ci: Agent, sample: i64) {
        let Some(district) = self.agents.district[ci] else {
            return;
        };
        let city = self.geo.districts[district].city;
        let Some(&port) = self.transit_of_city[city].choose(&mut self.rng) else {
            return;
        };
        let start = sample - self.rng.gen_range(HOUR..5 * HOUR);
        let end = start + self.rng.gen_range(20 * MINUTE..90 * MINUTE);
        if end <= sample && self.free(ci, start, end) {
            self.record(ci, port, start, end, false);
        }
    }

    /// Up to `n` others at `venue` overlapping `[start, until)`: household
    /// members, neighbours, and people who become cases later.
    fn companions(&mut self, index: Agent, venue: usize, start: i64, until: i64, n: u32) {
        let district = self.venue_district[venue];
        let mut group = vec![index];
        for _ in 0..n {
            for _ in 0..6 {
                let Some(a) = self.companion(index, district, until) else {
                    continue;
                };
                if group.contains(&a) {
                    continue;
                }
                // Others arrive a little before or any time during the stay,
                // never hours early: a venue keeps its hours.
                let earliest = start - ((until - start) / 4).min(COMPANION_EARLY);
                let latest = (until - 5 * MINUTE).max(start + 1);
                let c_start = self.rng.gen_range(earliest..latest);
                let typical = self.typical(venue);
                let c_length = (typical as f64 * self.rng.gen_range(0.5..1.5)) as i64;
                let c_end = (c_start + c_length).max(start + 10 * MINUTE);
                if !self.sociable(a) || !self.free(a, c_start, c_end) {
                    continue;
                }
                // Without a check-out the stay runs for the typical length from
                // check-in, which still overlaps only if it began inside the other.
                self.record(a, venue, c_start, c_end, c_start >= start);
                group.push(a);
                break;
            }
        }
    }

    fn companion(&mut self, index: Agent, district: usize, after: i64) -> Option<Agent> {
        match self.rng.gen_range(0..20) {
            0..=4 => {
                let h = self.household_of[index]?;
                let members = self.household.get(h)?;
                members.choose(&mut self.rng).copied()
            }
            5..=11 => self.persons_in[district].choose(&mut self.rng).copied(),
            _ => {
                // Only cases still out and about: those reported after this stay.
                let list = &self.cases_in[district];
                let first = list.partition_point(|&c| self.agents.until[c] <= after);
                let later = &list[first..];
                later.choose(&mut self.rng).copied()
            }
        }
    }

    /// Residents' everyday stays over the month, so not every stay touches a case.
    fn background(&mut self, wanted: usize) {
        let persons = self.agents.doc.len() - self.agents.cases;
        if persons == 0 {
            return;
        }
        let mut made = 0;
        for _ in 0..wanted * 3 {
            if made == wanted {
                break;
            }
            let a = self.agents.cases + self.rng.gen_range(0..persons);
            let Some(district) = self.agents.district[a] else {
                continue;
            };
            let day = self.rng.gen_range(1..=31);
            let Some(venue) = self.venue_near(district, day) else {
                continue;
            };
            let (start, end) = self.draw_stay(venue, day);
            if self.sociable(a) && self.free(a, start, end) {
                self.record(a, venue, start, end, true);
                made += 1;
            }
        }
    }

    /// A few packed places on a few days before the lockdown: a department
    /// store at the weekend, a morning market, the university canteen at lunch.
    fn crowds(&mut self) {
        let find = |m: &Self, pred: &dyn Fn(&Venue, &District) -> bool| {
            (0..m.venues.len()).find(|&v| pred(&m.venues[v], &m.geo.districts[m.venue_district[v]]))
        };
        let mall = find(self, &|v, _| v.name == "欧亚商都");
        let market = find(self, &|v, d| {
            v.venue_type == VenueType::Market && d.code == "220202"
        })
        .or_else(|| {
            find(self, &|v, d| {
                v.venue_type == VenueType::Market && d.code.starts_with("2202")
            })
        });
        let canteen = find(self, &|v, _| v.name == "吉林农业大学第一食堂");
        let hm = |h: i64, m: i64| h * HOUR + m * MINUTE;
        let plans = [
            (mall, [5, 6], (hm(13, 0), hm(16, 0)), (60, 180), None),
            (market, [7, 8], (hm(5, 30), hm(7, 30)), (20, 60), None),
            (
                canteen,
                [8, 9],
                (hm(11, 20), hm(12, 20)),
                (20, 50),
                Some(17..=25),
            ),
        ];
        for (venue, days, (open, last), (short, long), ages) in plans {
            let Some(venue) = venue else { continue };
            let city = self.geo.districts[self.venue_district[venue]].city;
            let mut pool = self.agents_of_city[city].clone();
            if let Some(ages) = &ages {
                pool.retain(|&a| ages.contains(&self.agents.age[a]));
            }
            for day in days {
                let wanted = self.rng.gen_range(30..=60);
                let mut came = HashSet::new();
                for _ in 0..wanted * 4 {
                    if came.len() == wanted {
                        break;
                    }
                    let Some(&a) = pool.choose(&mut self.rng) else {
                        break;
                    };
                    let start = self.midnight(day) + self.rng.gen_range(open..=last);
                    let end = start + self.rng.gen_range(short..=long) * MINUTE;
                    if !came.contains(&a) && self.sociable(a) && self.free(a, start, end) {
                        self.record(a, venue, start, end, true);
                        came.insert(a);
                    }
                }
            }
        }
    }

    /// Each train carries a case who fell ill within days, fellow passengers a
    /// few rows away in the same carriage, others at the far end of it, and
    /// some in other carriages.
    fn trips(&mut self) -> Vec<TripSeat> {
        let mut seats = Vec::new();
        for &(train, day, city_code) in TRAINS {
            let city = self.geo.city_index(city_code);
            let departs = self.midnight(day) + 12 * HOUR;
            let index_cases: Vec<Agent> = (0..self.agents.cases)
                .filter(|&c| {
                    let case = &self.cases[c];
                    let sample = case.sample_time.unwrap_or(case.report_time).timestamp();
                    case.origin == Origin::Local
                        && self.agents.district[c].map(|d| self.geo.districts[d].city) == Some(city)
                        && sample > departs
                        && sample < departs + 6 * DAY
                })
                .collect();
            let Some(&index) = index_cases.choose(&mut self.rng) else {
                continue;
            };
            let pool: Vec<Agent> = self.agents_of_city[city]
                .iter()
                .copied()
                .filter(|&a| self.agents.until[a] > departs + DAY)
                .collect();
            let trip_id = format!("{train}-202203{day:02}");
            let carriage = self.rng.gen_range(1..=CARRIAGES);
            let row = self.rng.gen_range(NEAR_ROWS..=ROWS - NEAR_ROWS);
            let far_rows: Vec<i64> = (1..=ROWS).filter(|r| (r - row).abs() >= FAR_ROWS).collect();
            let mut aboard = HashSet::from([index]);
            let seat = |a: Agent, carriage: u32, row: Option<i64>| TripSeat {
                person_id: self.agents.doc[a].to_string(),
                trip_id: trip_id.clone(),
                carriage: format!("{carriage:02}"),
                seat_row: row,
            };
            seats.push(seat(index, carriage, Some(row)));
            let near = self.rng.gen_range(2..=6);
            let far = self.rng.gen_range(2..=4);
            let elsewhere = self.rng.gen_range(3..=8);
            for k in 0..near + far + elsewhere {
                let Some(a) = (0..10)
                    .filter_map(|_| pool.choose(&mut self.rng).copied())
                    .find(|a| !aboard.contains(a))
                else {
                    break;
                };
                aboard.insert(a);
                let placed = if k < near {
                    let r = row + self.rng.gen_range(-NEAR_ROWS..=NEAR_ROWS);
                    (carriage, Some(r.clamp(1, ROWS)))
                } else if k < near + far {
                    let r = far_rows.choose(&mut self.rng).copied();
                    (carriage, r)
                } else {
                    let other = (carriage + self.rng.gen_range(1..CARRIAGES) - 1) % CARRIAGES + 1;
                    // Standing tickets (无座) have a carriage but no row.
                    let r = (!self.rng.gen_bool(0.1)).then(|| self.rng.gen_range(1..=ROWS));
                    (other, r)
                };
                seats.push(seat(a, placed.0, placed.1));
            }
        }
        seats
    }

    fn finish(self, trips: Vec<TripSeat>) -> Movement {
        // The check-ins' strings can reuse this memory.
        drop(self.busy);
        // By check-in, ties in the order drawn. Check-ins fall on the seconds
        // of one month, so two stable counting passes (second of the minute,
        // then minute of the month) sort them in linear time, much faster than
        // a comparison sort in the debug builds the tests run.
        let second: Vec<usize> = self
            .stays
            .iter()
            .map(|s| (s.check_in - self.march_start) as usize)
            .collect();
        let minutes = ((self.march_end - self.march_start) / MINUTE) as usize + 1;
        let order: Vec<usize> = (0..self.stays.len()).collect();
        let order = counting_sort(&order, 60, |i| second[i] % 60);
        let order = counting_sort(&order, minutes, |i| second[i] / 60);
        let instant = |t: i64| DateTime::<Utc>::from_timestamp(t, 0).unwrap_or_default();
        let checkins = order
            .into_iter()
            .map(|i| &self.stays[i])
            .map(|s| CheckinDraft {
                person_id: self.agents.doc[s.agent].to_string(),
                venue_id: self.venues[s.venue].venue_id.clone(),
                check_in: instant(s.check_in),
                check_out: s.check_out.map(instant),
            })
            .collect();
        Movement {
            venues: self.venues,
            checkins,
            trips,
        }
    }
}

/// `items` stably ordered by `key`, which is below `buckets`.
fn counting_sort(items: &[usize], buckets: usize, key: impl Fn(usize) -> usize) -> Vec<usize> {
    let mut next = vec![0; buckets + 1];
    for &i in items {
        next[key(i) + 1] += 1;
    }
    for b in 1..next.len() {
        next[b] += next[b - 1];
    }
    let mut out = vec![0; items.len()];
    for &i in items {
        let k = key(i);
        out[next[k]] = i;
        next[k] += 1;
    }
    out
}
