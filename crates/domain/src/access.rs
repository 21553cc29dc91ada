//! Who may do what, and where: roles, their capabilities, jurisdictions and
//! the pseudonymised view of people outside a reader's jurisdiction.
//!
//! The rules here are pure; the store applies the jurisdiction in its queries
//! (a user reads and changes only records in their region subtree or
//! facility), and the server only asks these functions what a role may do.

use crate::region::RegionTree;
use crate::vocabulary;

vocabulary!(
    /// A user's role (角色). Commanders read everything in their jurisdiction;
    /// the others work on their own function within it.
    Role {
        ProvincialCommander = "provincial_commander", "省级指挥部", "Provincial commander";
        CityCommander = "city_commander", "市（州）级指挥部", "City commander";
        DistrictCommander = "district_commander", "县（市、区）级指挥部", "District commander";
        Investigator = "investigator", "流调溯源人员", "Epidemiological investigator";
        QuarantineOperator = "quarantine_operator", "隔离场所工作人员", "Quarantine-site operator";
        HospitalOperator = "hospital_operator", "定点医院工作人员", "Hospital operator";
        LabOperator = "lab_operator", "核酸检测机构人员", "Lab operator";
        TransferDispatcher = "transfer_dispatcher", "转运调度人员", "Transfer dispatcher";
        Admin = "admin", "系统管理员", "Administrator";
        Public = "public", "公众", "Public";
    }
);

vocabulary!(
    /// Something a role may do. Checked by the server before any handler
    /// runs; the jurisdiction is checked separately, in the data layer.
    Capability {
        ReadPublicBulletin = "read_public_bulletin", "查看公开通报", "Read the public bulletin";
        ReadRegistry = "read_registry", "查看人员和病例", "Read persons and cases";
        ChangeRegistry = "change_registry", "登记和修改人员、病例", "Register and change persons and cases";
        MergeDuplicates = "merge_duplicates", "合并重复人员", "Merge duplicate persons";
        ReadTracing = "read_tracing", "查看密接和传播链", "Read contacts and chains";
        RunTracing = "run_tracing", "开展流调追踪", "Run contact tracing";
        ReadLoop = "read_loop", "查看闭环管理", "Read the managed loop";
        SeeEscalations = "see_escalations", "查看超时和升级", "See overdue items and escalations";
        TransitionPeople = "transition_people", "办理转运、隔离、解除", "Move people through the loop";
        RecordResults = "record_results", "录入检测结果", "Record test results";
        DispatchTransfers = "dispatch_transfers", "调度转运", "Dispatch transfers";
        ExportRecords = "export_records", "导出名单", "Export lists of people";
        ReadAccountability = "read_accountability", "查看问责报告", "Read the accountability report";
        ManageUsers = "manage_users", "管理用户和令牌", "Manage users and tokens";
        ManageProfile = "manage_profile", "管理防控方案和区划", "Manage the profile and regions";
        ReadAudit = "read_audit", "查看审计日志", "Read the audit log";
    }
);

impl Role {
    /// Whether this role may do `capability` (within its jurisdiction).
    pub fn can(self, capability: Capability) -> bool {
        use Capability as C;
        use Role as R;
        match capability {
            C::ReadPublicBulletin => true,
            C::ReadRegistry => !matches!(self, R::Public),
            C::ChangeRegistry | C::MergeDuplicates | C::RunTracing => {
                matches!(self, R::Investigator | R::Admin)
            }
            C::ReadTracing => self.is_commander() || matches!(self, R::Investigator | R::Admin),
            C::ReadLoop => !matches!(self, R::Public | R::LabOperator),
            C::SeeEscalations | C::ReadAccountability => self.is_commander() || self == R::Admin,
            C::TransitionPeople => matches!(
                self,
                R::QuarantineOperator
                    | R::HospitalOperator
                    | R::TransferDispatcher
                    | R::Investigator
            ),
            C::RecordResults => matches!(
                self,
                R::LabOperator | R::QuarantineOperator | R::HospitalOperator
            ),
            C::DispatchTransfers => self == R::TransferDispatcher,
            C::ExportRecords => self.is_commander() || matches!(self, R::Investigator | R::Admin),
            C::ManageUsers | C::ManageProfile | C::ReadAudit => self == R::Admin,
        }
    }

    pub fn is_commander(self) -> bool {
        matches!(
            self,
            Role::ProvincialCommander | Role::CityCommander | Role::DistrictCommander
        )
    }

    /// Operators of a facility see that facility's people, not a region's.
    pub fn works_in_a_facility(self) -> bool {
        matches!(self, Role::QuarantineOperator | Role::HospitalOperator)
    }

    /// Every capability of this role, for the console's navigation and the
    /// admin page.
    pub fn capabilities(self) -> impl Iterator<Item = Capability> {
        Capability::ALL
            .iter()
            .copied()
            .filter(move |c| self.can(*c))
    }
}

/// Where a user may read and change records: a region subtree, narrowed to
/// one facility for facility operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jurisdiction {
    /// The region at the top of the user's subtree.
    pub region: String,
    /// The facility of a quarantine-site or hospital operator.
    pub facility: Option<String>,
}

impl Jurisdiction {
    /// Whether a record held in `region_code` lies in this jurisdiction's
    /// region subtree. The facility narrowing is applied by the store, which
    /// knows where each person is placed.
    pub fn covers_region(&self, tree: &RegionTree, region_code: &str) -> bool {
        tree.is_within(region_code, &self.region)
    }
}

/// How a person's identity is shown to a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// In the reader's jurisdiction: name, document, phone and address.
    Named,
    /// Linked from outside (for example the source case of a contact): masked
    /// name and document, no phone, no address.
    Pseudonymised,
}

/// Masks a name to its first character: 张三丰 → 张**, Li Wei → L******.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.trim().chars();
    match chars.next() {
        None => String::new(),
        Some(first) => std::iter::once(first)
            .chain(chars.map(|c| if c.is_whitespace() { c } else { '*' }))
            .collect(),
    }
}

/// Masks a document number, keeping the first 6 characters (the issuing
/// region of a resident ID) and the last 4, the form Chinese health codes
/// print: 220102199003071234 → 220102********1234. Short numbers keep only
/// their last character.
pub fn mask_document(number: &str) -> String {
    let chars: Vec<char> = number.trim().chars().collect();
    let n = chars.len();
    if n == 0 {
        return String::new();
    }
    let (head, tail) = if n >= 12 { (6, 4) } else { (0, 1) };
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < head || i >= n - tail { *c } else { '*' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::{Region, RegionLevel};

    fn tree() -> RegionTree {
        let r = |code: &str, parent: Option<&str>, level| Region {
            code: code.into(),
            parent_code: parent.map(Into::into),
            level,
            name_zh: code.into(),
            name_en: code.into(),
            population: 0,
        };
        RegionTree::new([
            r("220000", None, RegionLevel::Province),
            r("220100", Some("220000"), RegionLevel::City),
            r("220102", Some("220100"), RegionLevel::District),
            r("220103", Some("220100"), RegionLevel::District),
            r("220200", Some("220000"), RegionLevel::City),
        ])
    }

    #[test]
    fn public_reads_only_the_public_bulletin() {
        let caps: Vec<_> = Role::Public.capabilities().collect();
        assert_eq!(caps, vec![Capability::ReadPublicBulletin]);
    }

    #[test]
    fn only_admins_manage_users_and_read_the_audit_log() {
        for role in Role::ALL {
            assert_eq!(role.can(Capability::ManageUsers), *role == Role::Admin);
            assert_eq!(role.can(Capability::ReadAudit), *role == Role::Admin);
        }
    }

    #[test]
    fn commanders_see_escalations_and_operators_do_not() {
        assert!(Role::DistrictCommander.can(Capability::SeeEscalations));
        assert!(Role::ProvincialCommander.can(Capability::ReadAccountability));
        assert!(!Role::QuarantineOperator.can(Capability::SeeEscalations));
        assert!(!Role::LabOperator.can(Capability::TransitionPeople));
        assert!(Role::LabOperator.can(Capability::RecordResults));
        assert!(Role::TransferDispatcher.can(Capability::DispatchTransfers));
        assert!(!Role::Investigator.can(Capability::DispatchTransfers));
    }

    #[test]
    fn roles_round_trip_their_wire_names_and_labels() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()).unwrap(), *role);
            assert_eq!(
                Role::parse(role.label(crate::Lang::Zh)).unwrap(),
                *role,
                "{role}"
            );
        }
    }

    #[test]
    fn a_district_jurisdiction_covers_its_subtree_only() {
        let t = tree();
        let district = Jurisdiction {
            region: "220102".into(),
            facility: None,
        };
        assert!(district.covers_region(&t, "220102"));
        assert!(!district.covers_region(&t, "220103"));
        assert!(!district.covers_region(&t, "220100"));
        let city = Jurisdiction {
            region: "220100".into(),
            facility: None,
        };
        assert!(city.covers_region(&t, "220103"));
        assert!(!city.covers_region(&t, "220200"));
        assert!(!city.covers_region(&t, "999999"));
    }

    #[test]
    fn names_and_documents_are_masked() {
        assert_eq!(mask_name("张三丰"), "张**");
        assert_eq!(mask_name("Li Wei"), "L* ***");
        assert_eq!(mask_name(""), "");
        assert_eq!(mask_document("220102199003071234"), "220102********1234");
        assert_eq!(mask_document("E1234567"), "*******7");
        assert_eq!(mask_document(""), "");
    }
}
