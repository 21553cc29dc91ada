//! Jilin Province's administrative divisions as of 2022 (GB/T 2260 codes),
//! with a few synthetic subdistricts and communities below four urban districts.

use closedloop_domain::region::{Region, RegionLevel};

pub(crate) const PROVINCE: (&str, &str, &str) = ("220000", "吉林省", "Jilin Province");

pub(crate) const CHANGCHUN: &str = "220100";
pub(crate) const JILIN_CITY: &str = "220200";

/// The nine prefecture-level divisions.
const CITIES: [(&str, &str, &str); 9] = [
    ("220100", "长春市", "Changchun"),
    ("220200", "吉林市", "Jilin City"),
    ("220300", "四平市", "Siping"),
    ("220400", "辽源市", "Liaoyuan"),
    ("220500", "通化市", "Tonghua"),
    ("220600", "白山市", "Baishan"),
    ("220700", "松原市", "Songyuan"),
    ("220800", "白城市", "Baicheng"),
    (
        "222400",
        "延边朝鲜族自治州",
        "Yanbian Korean Autonomous Prefecture",
    ),
];

/// County-level divisions with a resident population. The figures are rounded
/// estimates chosen so that each prefecture adds up to its 2020 census total
/// (Changchun 9,066,906; Jilin City 3,623,713; province 24,073,453), with the
/// development zones folded into their host districts; they are not census
/// figures per district.
const DISTRICTS: &[(&str, &str, &str, i64)] = &[
    ("220102", "南关区", "Nanguan District", 1_120_000),
    ("220103", "宽城区", "Kuancheng District", 900_000),
    ("220104", "朝阳区", "Chaoyang District", 1_100_000),
    ("220105", "二道区", "Erdao District", 700_000),
    ("220106", "绿园区", "Lüyuan District", 900_000),
    ("220112", "双阳区", "Shuangyang District", 370_000),
    ("220113", "九台区", "Jiutai District", 650_000),
    ("220122", "农安县", "Nong'an County", 880_000),
    ("220182", "榆树市", "Yushu City", 950_000),
    ("220183", "德惠市", "Dehui City", 670_000),
    ("220184", "公主岭市", "Gongzhuling City", 826_906),
    ("220202", "昌邑区", "Changyi District", 640_000),
    ("220203", "龙潭区", "Longtan District", 400_000),
    ("220204", "船营区", "Chuanying District", 430_000),
    ("220211", "丰满区", "Fengman District", 320_000),
    ("220221", "永吉县", "Yongji County", 330_000),
    ("220281", "蛟河市", "Jiaohe City", 330_000),
    ("220282", "桦甸市", "Huadian City", 330_000),
    ("220283", "舒兰市", "Shulan City", 420_000),
    ("220284", "磐石市", "Panshi City", 423_713),
    ("220302", "铁西区", "Tiexi District", 330_000),
    ("220303", "铁东区", "Tiedong District", 370_000),
    ("220322", "梨树县", "Lishu County", 560_000),
    (
        "220323",
        "伊通满族自治县",
        "Yitong Manchu Autonomous County",
        300_000,
    ),
    ("220382", "双辽市", "Shuangliao City", 254_733),
    ("220402", "龙山区", "Longshan District", 360_000),
    ("220403", "西安区", "Xi'an District", 160_000),
    ("220421", "东丰县", "Dongfeng County", 290_000),
    ("220422", "东辽县", "Dongliao County", 186_903),
    ("220502", "东昌区", "Dongchang District", 300_000),
    ("220503", "二道江区", "Erdaojiang District", 110_000),
    ("220521", "通化县", "Tonghua County", 180_000),
    ("220523", "辉南县", "Huinan County", 240_000),
    ("220524", "柳河县", "Liuhe County", 290_000),
    ("220581", "梅河口市", "Meihekou City", 574_013),
    ("220582", "集安市", "Ji'an City", 180_000),
    ("220602", "浑江区", "Hunjiang District", 280_000),
    ("220605", "江源区", "Jiangyuan District", 150_000),
    ("220621", "抚松县", "Fusong County", 220_000),
    ("220622", "靖宇县", "Jingyu County", 110_000),
    (
        "220623",
        "长白朝鲜族自治县",
        "Changbai Korean Autonomous County",
        60_000,
    ),
    ("220681", "临江市", "Linjiang City", 131_113),
    ("220702", "宁江区", "Ningjiang District", 620_000),
    (
        "220721",
        "前郭尔罗斯蒙古族自治县",
        "Qian Gorlos Mongol Autonomous County",
        560_000,
    ),
    ("220722", "长岭县", "Changling County", 450_000),
    ("220723", "乾安县", "Qian'an County", 200_000),
    ("220781", "扶余市", "Fuyu City", 422_994),
    ("220802", "洮北区", "Taobei District", 480_000),
    ("220821", "镇赉县", "Zhenlai County", 240_000),
    ("220822", "通榆县", "Tongyu County", 290_000),
    ("220881", "洮南市", "Taonan City", 300_000),
    ("220882", "大安市", "Da'an City", 241_378),
    ("222401", "延吉市", "Yanji City", 680_000),
    ("222402", "图们市", "Tumen City", 90_000),
    ("222403", "敦化市", "Dunhua City", 390_000),
    ("222404", "珲春市", "Hunchun City", 230_000),
    ("222405", "龙井市", "Longjing City", 130_000),
    ("222406", "和龙市", "Helong City", 130_000),
    ("222424", "汪清县", "Wangqing County", 150_000),
    ("222426", "安图县", "Antu County", 141_700),
];

/// Districts that get synthetic subdistricts and communities, so the demo
/// exercises all five levels. The codes use the 9xx block, above the 001–599
/// ranges that real subdistricts, towns and townships are given, so a demo
/// code is unlikely to collide with a real one.
const DIVIDED: [&str; 4] = ["220102", "220103", "220202", "220204"];
const SUBDISTRICTS_EACH: u32 = 4;
const COMMUNITIES_EACH: u32 = 3;
const SUBDISTRICT_WEIGHTS: [u64; SUBDISTRICTS_EACH as usize] = [30, 27, 23, 20];
const COMMUNITY_WEIGHTS: [u64; COMMUNITIES_EACH as usize] = [40, 33, 27];

/// Within a prefecture, how much likelier than its population share a district
/// is to hold a case: the wave hit the urban cores hardest. Illustrative.
fn hotspot_factor(code: &str) -> f64 {
    match code {
        "220204" | "220202" => 3.0,
        "220211" | "220203" => 2.0,
        "220283" => 1.5,
        "220103" | "220104" | "220102" => 2.0,
        "220105" | "220106" | "220113" => 1.5,
        _ => 1.0,
    }
}

/// Weight of a prefecture in the thin remainder of cases outside Jilin City and
/// Changchun. Siping and Yanbian reported the most of the rest.
fn remainder_weight(city: &str) -> f64 {
    match city {
        "220300" => 25.0,
        "222400" => 20.0,
        "220700" => 15.0,
        "220600" | "220500" => 12.0,
        _ => 8.0,
    }
}

/// A place where a person can live: a community, or a district without any.
#[derive(Debug, Clone)]
pub(crate) struct Place {
    pub code: String,
    /// Names of the subdistrict and community, for the address.
    pub local_zh: String,
    pub population: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct District {
    pub code: &'static str,
    pub city: usize,
    pub name_zh: &'static str,
    pub population: i64,
    pub places: Vec<Place>,
    place_cumulative: Vec<i64>,
}

impl District {
    /// The place for a value in `[0, population)`, by population.
    pub fn place_at(&self, x: i64) -> &Place {
        let i = self.place_cumulative.partition_point(|&c| c <= x);
        &self.places[i.min(self.places.len() - 1)]
    }
}

#[derive(Debug, Clone)]
pub(crate) struct City {
    pub code: &'static str,
    pub name_zh: &'static str,
    pub districts: Vec<usize>,
    /// Cumulative case weights of `districts`, hotspots included.
    pub case_cumulative: Vec<f64>,
}

/// The province as the generator sees it.
#[derive(Debug, Clone)]
pub(crate) struct Geography {
    pub cities: Vec<City>,
    pub districts: Vec<District>,
    /// Cumulative population over `districts`, to place background households.
    pub population_cumulative: Vec<i64>,
    /// Cities outside Jilin City and Changchun with their cumulative weights.
    pub remainder_cities: Vec<usize>,
    pub remainder_cumulative: Vec<f64>,
    pub regions: Vec<Region>,
}

fn parent_city(district: &str) -> String {
    format!("{}00", &district[..4])
}

fn cumulative_f64(w: impl Iterator<Item = f64>) -> Vec<f64> {
    w.scan(0.0, |acc, x| {
        *acc += x;
        Some(*acc)
    })
    .collect()
}

fn cumulative_i64(w: impl Iterator<Item = i64>) -> Vec<i64> {
    w.scan(0, |acc, x| {
        *acc += x;
        Some(*acc)
    })
    .collect()
}

/// Splits a population by fixed weights, exactly.
fn split_population(total: i64, weights: &[u64]) -> Vec<i64> {
    let sum: u64 = weights.iter().sum();
    let t = total.max(0) as u64;
    let mut out: Vec<i64> = weights.iter().map(|w| (t * w / sum) as i64).collect();
    let given: i64 = out.iter().sum();
    out[0] += total.max(0) - given;
    out
}

impl Geography {
    pub fn jilin() -> Geography {
        let mut regions = Vec::new();
        let mut cities: Vec<City> = CITIES
            .iter()
            .map(|&(code, name_zh, _)| City {
                code,
                name_zh,
                districts: Vec::new(),
                case_cumulative: Vec::new(),
            })
            .collect();
        let mut districts = Vec::new();
        let mut lower = Vec::new();
        for &(code, name_zh, name_en, population) in DISTRICTS.iter() {
            let city_code = parent_city(code);
            let city = CITIES.iter().position(|c| c.0 == city_code).unwrap_or(0);
            regions.push(Region {
                code: code.into(),
                parent_code: Some(city_code),
                level: RegionLevel::District,
                name_zh: name_zh.into(),
                name_en: name_en.into(),
                population,
            });
            let places = if DIVIDED.contains(&code) {
                divide(code, population, &mut lower)
            } else {
                vec![Place {
                    code: code.into(),
                    local_zh: String::new(),
                    population,
                }]
            };
            let place_cumulative = cumulative_i64(places.iter().map(|p| p.population));
            cities[city].districts.push(districts.len());
            districts.push(District {
                code,
                city,
                name_zh,
                population,
                places,
                place_cumulative,
            });
        }
        for city in &mut cities {
            city.case_cumulative = cumulative_f64(
                city.districts
                    .iter()
                    .map(|&d| districts[d].population as f64 * hotspot_factor(districts[d].code)),
            );
        }
        let mut top = Vec::new();
        for (i, &(code, name_zh, name_en)) in CITIES.iter().enumerate() {
            let population = cities[i]
                .districts
                .iter()
                .map(|&d| districts[d].population)
                .sum();
            top.push(Region {
                code: code.into(),
                parent_code: Some(PROVINCE.0.into()),
                level: RegionLevel::City,
                name_zh: name_zh.into(),
                name_en: name_en.into(),
                population,
            });
        }
        let province = Region {
            code: PROVINCE.0.into(),
            parent_code: None,
            level: RegionLevel::Province,
            name_zh: PROVINCE.1.into(),
            name_en: PROVINCE.2.into(),
            population: top.iter().map(|r| r.population).sum(),
        };
        let remainder_cities: Vec<usize> = (0..cities.len())
            .filter(|&i| cities[i].code != JILIN_CITY && cities[i].code != CHANGCHUN)
            .collect();
        let remainder_cumulative = cumulative_f64(
            remainder_cities
                .iter()
                .map(|&i| remainder_weight(cities[i].code)),
        );
        let population_cumulative = cumulative_i64(districts.iter().map(|d| d.population));

        let mut all = vec![province];
        all.extend(top);
        all.extend(regions);
        all.extend(lower);
        Geography {
            cities,
            districts,
            population_cumulative,
            remainder_cities,
            remainder_cumulative,
            regions: all,
        }
    }

    pub fn city_index(&self, code: &str) -> usize {
        self.cities.iter().position(|c| c.code == code).unwrap_or(0)
    }

    pub fn district_index(&self, code: &str) -> usize {
        self.districts
            .iter()
            .position(|d| d.code == code)
            .unwrap_or(0)
    }
}

/// Synthetic subdistricts and communities below `district`; returns the
/// communities as places and appends all new regions to `out`.
fn divide(district: &str, population: i64, out: &mut Vec<Region>) -> Vec<Place> {
    let mut places = Vec::new();
    let sub_pops = split_population(population, &SUBDISTRICT_WEIGHTS);
    for (s, sub_pop) in (1..=SUBDISTRICTS_EACH).zip(sub_pops) {
        let sub_code = format!("{district}{}", 900 + s);
        let sub_zh = format!("示范街道{s}");
        out.push(Region {
            code: sub_code.clone(),
            parent_code: Some(district.into()),
            level: RegionLevel::Subdistrict,
            name_zh: sub_zh.clone(),
            name_en: format!("Demo Subdistrict {s}"),
            population: sub_pop,
        });
        let com_pops = split_population(sub_pop, &COMMUNITY_WEIGHTS);
        for (c, com_pop) in (1..=COMMUNITIES_EACH).zip(com_pops) {
            let n = (s - 1) * COMMUNITIES_EACH + c;
            let code = format!("{sub_code}{c:03}");
            let name_zh = format!("示范社区{n}");
            out.push(Region {
                code: code.clone(),
                parent_code: Some(sub_code.clone()),
                level: RegionLevel::Community,
                name_zh: name_zh.clone(),
                name_en: format!("Demo Community {n}"),
                population: com_pop,
            });
            places.push(Place {
                code,
                local_zh: format!("{sub_zh}{name_zh}"),
                population: com_pop,
            });
        }
    }
    places
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefecture_totals_match_the_2020_census() {
        let g = Geography::jilin();
        let pop = |code: &str| {
            g.regions
                .iter()
                .find(|r| r.code == code)
                .unwrap()
                .population
        };
        assert_eq!(pop("220000"), 24_073_453);
        assert_eq!(pop("220100"), 9_066_906);
        assert_eq!(pop("220200"), 3_623_713);
    }

    #[test]
    fn district_codes_are_unique() {
        let mut codes: Vec<&str> = DISTRICTS.iter().map(|d| d.0).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), DISTRICTS.len());
    }

    #[test]
    fn places_cover_the_whole_district() {
        let g = Geography::jilin();
        let d = &g.districts[g.district_index("220204")];
        assert_eq!(d.places.len(), 12);
        assert_eq!(d.place_at(0).code, "220204901001");
        assert_eq!(d.place_at(d.population - 1).code, "220204904003");
    }
}
