use closedloop_domain::{ErrorCode, Lang};

/// A row of an import that the store refused, with the column at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowRejection {
    pub line: u64,
    pub column: String,
    pub error: StoreRowError,
}

/// Why the store refused a row: it contradicts what is stored or refers to what is not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreRowError {
    #[error("unknown region code {0}")]
    UnknownRegion(String),
    #[error("parent region {0} is neither stored nor earlier in the file")]
    UnknownParent(String),
    #[error("a {child} cannot lie below a {parent}")]
    LevelOrder {
        child: &'static str,
        parent: &'static str,
    },
    #[error("conflicts with the stored record: stored {stored:?}, file {incoming:?}; use --update to overwrite")]
    Conflict { stored: String, incoming: String },
    #[error("the same key appears with other data on line {0}")]
    DuplicateInFile(u64),
    #[error("unknown venue {0}: import it with the venues first")]
    UnknownVenue(String),
}

impl ErrorCode for StoreRowError {
    fn code(&self) -> &'static str {
        match self {
            StoreRowError::UnknownRegion(_) => "unknown_region",
            StoreRowError::UnknownParent(_) => "unknown_parent_region",
            StoreRowError::LevelOrder { .. } => "region_level_order",
            StoreRowError::Conflict { .. } => "conflict",
            StoreRowError::DuplicateInFile(_) => "duplicate_in_file",
            StoreRowError::UnknownVenue(_) => "unknown_venue",
        }
    }

    fn message(&self, lang: Lang) -> String {
        match (lang, self) {
            (Lang::En, e) => e.to_string(),
            (Lang::Zh, StoreRowError::UnknownRegion(c)) => format!("区划代码{c}不存在"),
            (Lang::Zh, StoreRowError::UnknownParent(c)) => {
                format!("上级区划{c}既未入库，也不在文件前文中")
            }
            (Lang::Zh, StoreRowError::LevelOrder { child, parent }) => {
                format!("{child}级区划不能位于{parent}级之下")
            }
            (Lang::Zh, StoreRowError::Conflict { stored, incoming }) => {
                format!("与已存记录冲突：库中为“{stored}”，文件中为“{incoming}”；如需覆盖请使用 --update")
            }
            (Lang::Zh, StoreRowError::DuplicateInFile(l)) => {
                format!("同一键值在第{l}行以不同内容出现")
            }
            (Lang::Zh, StoreRowError::UnknownVenue(v)) => format!("场所{v}不存在，请先导入场所"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL {0}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Io(String),
    #[error("stored value {0:?} is not valid; was the database edited by hand?")]
    Corrupt(String),
    #[error("{entity} {id} not found")]
    NotFound { entity: &'static str, id: String },
    #[error("{0} rows were refused; nothing was written")]
    Rejected(usize, Vec<RowRejection>),
    #[error("{0}")]
    Invalid(String),
}

impl StoreError {
    pub(crate) fn connect(e: sqlx::Error) -> StoreError {
        StoreError::Connect(e.to_string())
    }
}

impl ErrorCode for StoreError {
    fn code(&self) -> &'static str {
        match self {
            StoreError::UnsupportedUrl(_) => "unsupported_database_url",
            StoreError::Connect(_) => "database_unreachable",
            StoreError::Migration(_) => "migration_failed",
            StoreError::Database(_) => "database_error",
            StoreError::Io(_) => "io_error",
            StoreError::Corrupt(_) => "corrupt_value",
            StoreError::NotFound { .. } => "not_found",
            StoreError::Rejected(..) => "rows_rejected",
            StoreError::Invalid(_) => "invalid_request",
        }
    }

    fn message(&self, lang: Lang) -> String {
        match (lang, self) {
            (Lang::En, e) => e.to_string(),
            (Lang::Zh, StoreError::UnsupportedUrl(u)) => {
                format!("不支持的数据库地址{u}：请使用 sqlite://路径 或 postgres://…")
            }
            (Lang::Zh, StoreError::Connect(e)) => format!("无法连接数据库：{e}"),
            (Lang::Zh, StoreError::Migration(e)) => format!("数据库迁移失败：{e}"),
            (Lang::Zh, StoreError::Database(e)) => format!("数据库错误：{e}"),
            (Lang::Zh, StoreError::Io(e)) => format!("文件错误：{e}"),
            (Lang::Zh, StoreError::Corrupt(v)) => {
                format!("库中值“{v}”无效，数据库是否被手工修改？")
            }
            (Lang::Zh, StoreError::NotFound { entity, id }) => {
                format!("未找到{} {id}", entity_zh(entity))
            }
            (Lang::Zh, StoreError::Rejected(n, _)) => format!("{n}行被拒绝，未写入任何数据"),
            (Lang::Zh, StoreError::Invalid(e)) => format!("请求无效：{e}"),
        }
    }
}

/// The Chinese name of an entity a `NotFound` names (its English name when unknown).
fn entity_zh(entity: &str) -> &str {
    match entity {
        "case" => "病例",
        "cluster" => "聚集性疫情",
        "command" => "指挥部",
        "escalation notice" => "升级通知",
        "facility" => "场所",
        "managed" => "管控记录",
        "open task" => "未完成任务",
        "person" => "人员",
        "region" => "地区",
        "test" => "检测",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_names_the_entity_in_each_language() {
        let e = StoreError::NotFound {
            entity: "escalation notice",
            id: "7".into(),
        };
        assert_eq!(e.message(Lang::Zh), "未找到升级通知 7");
        assert!(e.message(Lang::En).contains("escalation notice"));
        let unknown = StoreError::NotFound {
            entity: "widget",
            id: "1".into(),
        };
        assert_eq!(unknown.message(Lang::Zh), "未找到widget 1");
    }
}
