//! Administrative divisions: province → city → district → subdistrict → community.

use crate::error::DomainError;
use crate::i18n::Lang;
use crate::vocabulary;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

vocabulary!(
    /// Level of an administrative division. Codes have 6 digits for the first three
    /// levels (GB/T 2260), 9 for subdistricts and 12 for communities (statistical codes).
    RegionLevel {
        Province = "province", "省级", "Province";
        City = "city", "地市级", "City/prefecture";
        District = "district", "县区级", "District/county";
        Subdistrict = "subdistrict", "乡镇街道", "Subdistrict/township";
        Community = "community", "村居社区", "Community/village";
    }
);

impl RegionLevel {
    pub fn code_digits(self) -> usize {
        match self {
            RegionLevel::Province | RegionLevel::City | RegionLevel::District => 6,
            RegionLevel::Subdistrict => 9,
            RegionLevel::Community => 12,
        }
    }

    pub fn depth(self) -> u8 {
        match self {
            RegionLevel::Province => 0,
            RegionLevel::City => 1,
            RegionLevel::District => 2,
            RegionLevel::Subdistrict => 3,
            RegionLevel::Community => 4,
        }
    }

    /// How a bulletin names the whole of a region of this level: 全省, 全市, 全区…
    pub fn whole_of(self, lang: Lang) -> &'static str {
        match self {
            RegionLevel::Province => lang.pick("全省", "the province"),
            RegionLevel::City => lang.pick("全市", "the city"),
            RegionLevel::District => lang.pick("全区", "the district"),
            RegionLevel::Subdistrict => lang.pick("全街道", "the subdistrict"),
            RegionLevel::Community => lang.pick("全社区", "the community"),
        }
    }
}

/// Checks a region code's shape.
pub fn parse_region_code(raw: &str) -> Result<String, DomainError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(DomainError::Missing);
    }
    if !matches!(s.len(), 6 | 9 | 12) || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DomainError::RegionCode(s.chars().take(20).collect()));
    }
    Ok(s.to_string())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    pub code: String,
    pub parent_code: Option<String>,
    pub level: RegionLevel,
    pub name_zh: String,
    pub name_en: String,
    pub population: i64,
}

impl Region {
    pub fn name(&self, lang: Lang) -> &str {
        match lang {
            Lang::Zh => &self.name_zh,
            Lang::En if self.name_en.is_empty() => &self.name_zh,
            Lang::En => &self.name_en,
        }
    }

    /// Checks that the code's length fits the level.
    pub fn check(&self) -> Result<(), DomainError> {
        parse_region_code(&self.code)?;
        if self.code.len() != self.level.code_digits() {
            return Err(DomainError::RegionLevelMismatch {
                level: self.level.as_str(),
                digits: self.code.len(),
            });
        }
        Ok(())
    }
}

/// The region tree in memory: small (thousands of nodes), read everywhere.
#[derive(Debug, Clone, Default)]
pub struct RegionTree {
    regions: HashMap<String, Region>,
    children: HashMap<String, Vec<String>>,
    roots: Vec<String>,
}

impl RegionTree {
    pub fn new(regions: impl IntoIterator<Item = Region>) -> Self {
        let mut tree = RegionTree::default();
        for r in regions {
            tree.regions.insert(r.code.clone(), r);
        }
        for r in tree.regions.values() {
            match r
                .parent_code
                .as_ref()
                .filter(|p| tree.regions.contains_key(*p))
            {
                Some(p) => tree
                    .children
                    .entry(p.clone())
                    .or_default()
                    .push(r.code.clone()),
                None => tree.roots.push(r.code.clone()),
            }
        }
        for c in tree.children.values_mut() {
            c.sort();
        }
        tree.roots.sort();
        tree
    }

    pub fn get(&self, code: &str) -> Option<&Region> {
        self.regions.get(code)
    }

    pub fn len(&self) -> usize {
        self.regions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }

    /// Top-level regions, by code.
    pub fn roots(&self) -> impl Iterator<Item = &Region> {
        self.roots.iter().filter_map(|c| self.regions.get(c))
    }

    /// The default scope: the only root, if there is exactly one.
    pub fn single_root(&self) -> Option<&Region> {
        match self.roots.as_slice() {
            [only] => self.regions.get(only),
            _ => None,
        }
    }

    pub fn children(&self, code: &str) -> impl Iterator<Item = &Region> {
        self.children
            .get(code)
            .into_iter()
            .flatten()
            .filter_map(|c| self.regions.get(c))
    }

    /// The chain from `code` up to its root, `code` first.
    pub fn ancestors<'a>(&'a self, code: &str) -> impl Iterator<Item = &'a Region> + 'a {
        let mut next = self.regions.get(code);
        std::iter::from_fn(move || {
            let here = next?;
            next = here
                .parent_code
                .as_deref()
                .and_then(|p| self.regions.get(p));
            Some(here)
        })
    }

    /// Whether `code` is `scope` or lies below it.
    pub fn is_within(&self, code: &str, scope: &str) -> bool {
        self.ancestors(code).any(|r| r.code == scope)
    }

    /// The child of `scope` that holds `code` (`None` when `code` is `scope` itself or outside it).
    pub fn child_of_scope_holding(&self, scope: &str, code: &str) -> Option<&Region> {
        let mut below: Option<&Region> = None;
        for r in self.ancestors(code) {
            if r.code == scope {
                return below;
            }
            below = Some(r);
        }
        None
    }

    /// `scope` and every code below it.
    pub fn subtree_codes(&self, scope: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![scope.to_string()];
        while let Some(c) = stack.pop() {
            if let Some(kids) = self.children.get(&c) {
                stack.extend(kids.iter().cloned());
            }
            out.push(c);
        }
        out
    }

    pub fn iter(&self) -> impl Iterator<Item = &Region> {
        self.regions.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(code: &str, parent: Option<&str>, level: RegionLevel) -> Region {
        Region {
            code: code.into(),
            parent_code: parent.map(Into::into),
            level,
            name_zh: code.into(),
            name_en: String::new(),
            population: 0,
        }
    }

    #[test]
    fn the_tree_finds_the_child_holding_a_code() {
        let t = RegionTree::new([
            r("220000", None, RegionLevel::Province),
            r("220100", Some("220000"), RegionLevel::City),
            r("220102", Some("220100"), RegionLevel::District),
            r("220102001", Some("220102"), RegionLevel::Subdistrict),
            r("220200", Some("220000"), RegionLevel::City),
        ]);
        assert_eq!(t.single_root().unwrap().code, "220000");
        assert_eq!(
            t.child_of_scope_holding("220000", "220102001")
                .unwrap()
                .code,
            "220100"
        );
        assert_eq!(
            t.child_of_scope_holding("220100", "220102001")
                .unwrap()
                .code,
            "220102"
        );
        assert!(t.child_of_scope_holding("220000", "220000").is_none());
        assert!(t.child_of_scope_holding("220200", "220102").is_none());
        assert!(t.is_within("220102001", "220100"));
        assert!(!t.is_within("220200", "220100"));
        let mut sub = t.subtree_codes("220100");
        sub.sort();
        assert_eq!(sub, ["220100", "220102", "220102001"]);
        assert_eq!(t.children("220000").count(), 2);
    }

    #[test]
    fn codes_must_fit_their_level() {
        assert!(r("220000", None, RegionLevel::Province).check().is_ok());
        assert!(r("220102001", None, RegionLevel::District).check().is_err());
        assert!(parse_region_code("22A000").is_err());
        assert!(parse_region_code("2200").is_err());
    }
}
