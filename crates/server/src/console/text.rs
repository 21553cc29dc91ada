//! The console's words: every UI string in zh-CN and English, in one table,
//! and the localised formatting of dates, times and numbers.
//!
//! A page says `page.t(T::Dashboard)` in its template (or `T::Dashboard.get(lang)`
//! in Rust). Add a key here, with both languages, to add a string; the
//! compiler then refuses any page naming a key that does not exist. Labels of
//! domain vocabularies (roles, states, classifications…) are not repeated
//! here: use their `label(lang)`. Error messages come from `ErrorCode::message`.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use closedloop_domain::Lang;

/// Declares the UI strings: `Key => "中文", "English";`.
macro_rules! ui_text {
    ($($key:ident => $zh:literal, $en:literal;)+) => {
        /// A UI string's key. Not every key is on a page at every moment.
        #[allow(dead_code)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum T { $($key,)+ }

        impl T {
            #[allow(dead_code)]
            pub const ALL: &'static [T] = &[$(T::$key,)+];

            /// The string in `lang`.
            pub fn get(self, lang: Lang) -> &'static str {
                match self { $(T::$key => lang.pick($zh, $en),)+ }
            }
        }
    };
}

ui_text! {
    AppName => "闭环管理指挥平台", "Closed-loop command console";
    SkipToContent => "跳到正文", "Skip to content";
    SignOut => "退出登录", "Sign out";
    SignIn => "登录", "Sign in";
    Account => "账户", "Account";
    Language => "语言", "Language";
    Jurisdiction => "辖区", "Jurisdiction";
    Role => "角色", "Role";
    Navigation => "导航", "Navigation";
    Dashboard => "总览", "Dashboard";
    Cases => "病例", "Cases";
    Persons => "人员", "Persons";
    Search => "搜索", "Search";
    Duplicates => "疑似重复", "Duplicates";
    Clusters => "聚集性疫情", "Clusters";
    Loop => "闭环任务", "Loop tasks";
    Overdue => "超时事项", "Overdue";
    Leaks => "漏洞", "Leaks";
    Accountability => "问责报告", "Accountability";
    Bulletin => "疫情通报", "Bulletin";
    PublicBulletin => "公开通报", "Public bulletin";
    Users => "用户", "Users";
    Tokens => "API 令牌", "API tokens";
    Audit => "审计日志", "Audit log";
    AuditVerify => "审计链校验", "Audit chain check";
    Date => "日期", "Date";
    Day => "日期", "Day";
    Region => "区划", "Region";
    From => "起", "From";
    To => "止", "To";
    Show => "查看", "Show";
    Filter => "筛选", "Filter";
    Clear => "清除", "Clear";
    Print => "打印", "Print";
    Previous => "上一页", "Previous";
    Next => "下一页", "Next";
    PageN => "页", "Page";
    Total => "合计", "Total";
    Count => "数量", "Count";
    None => "无", "None";
    NoRows => "没有符合条件的记录。", "Nothing matches.";
    TableOfChart => "图表数据", "Data of the chart";
    // dashboard
    EpiCurve => "疫情曲线（本土）", "Epidemic curve (local)";
    EpiCurveDesc => "每日新增本土确诊病例和无症状感染者（堆叠），标出无症状感染者转为确诊病例。", "New local confirmed cases and asymptomatic infections per day (stacked), with reclassifications (asymptomatic → confirmed) marked.";
    NewConfirmed => "新增确诊", "New confirmed";
    NewAsymptomatic => "新增无症状", "New asymptomatic";
    Reclassified => "无症状转确诊", "Reclassified";
    Cumulative => "累计", "Cumulative";
    CumulativeConfirmed => "累计确诊", "Cumulative confirmed";
    CumulativeAsymptomatic => "累计无症状", "Cumulative asymptomatic";
    UnderManagement => "在管", "Under management";
    LoopFunnel => "闭环管理漏斗", "Closed-loop funnel";
    LoopFunnelDesc => "各闭环状态的人数。", "People in each state of the closed loop.";
    State => "状态", "State";
    Category => "类别", "Category";
    People => "人数", "People";
    ByRegion => "分区情况", "By region";
    SelectedDay => "所选日期", "Selected day";
    TheDaysBulletin => "当日通报", "The day's bulletin";
    SeeAll => "查看全部", "See all";
    OverdueItems => "超时事项", "Overdue items";
    LeakItems => "漏洞", "Leaks";
    Capacity => "收治和隔离容量", "Capacity";
    CapacityDesc => "各类场所的容量（虚线）和在管人数（实心，超出容量为红色）。", "Capacity of each kind of facility (dashed) and the people held there (filled; red when over capacity).";
    CapacityBeds => "容量", "Capacity";
    Occupied => "在管人数", "People held";
    // loop
    Task => "任务", "Task";
    Tasks => "任务", "Tasks";
    Unit => "责任单位", "Responsible unit";
    Assignee => "责任人", "Assignee";
    Due => "时限", "Due";
    Status => "状态", "Status";
    Person => "人员", "Person";
    OverdueBy => "超时", "Overdue by";
    Escalation => "上报层级", "Escalation";
    Notified => "通知", "Notified";
    Kind => "类型", "Kind";
    Detail => "详情", "Detail";
    Since => "自", "Since";
    OnlyOverdue => "只看超时", "Overdue only";
    AllStatuses => "全部状态", "All statuses";
    AllUnits => "全部单位", "All units";
    Done => "已完成", "Done";
    NoUnit => "未分配责任单位", "No unit assigned";
    NotDone => "未完成", "Not done";
    JudgedAt => "判定时点", "Judged at";
    TasksShown => "条任务", "tasks";
    Period => "期间", "Period";
    Minutes => "分钟", "minutes";
    MinutesLate => "超时时长", "Time late";
    Step => "环节", "Step";
    Official => "在岗负责人", "Official in post";
    Deadline => "时限", "Deadline";
    Consequence => "后果", "Consequence";
    ExposedWhileUncontrolled => "失控期间暴露的密接", "Contacts exposed while uncontrolled";
    BecameCases => "其中转为病例", "Of whom became cases";
    Lapses => "失职事项", "Lapses";
    ByUnit => "按责任单位", "By unit";
    ByOfficial => "按负责人", "By official";
    Pseudonymised => "已化名", "pseudonymised";
    // admin
    Login => "登录名", "Sign-in name";
    DisplayName => "姓名", "Name";
    Password => "密码", "Password";
    NewPassword => "新密码", "New password";
    Create => "创建", "Create";
    CreateUser => "新建用户", "New user";
    Disable => "停用", "Disable";
    Enable => "启用", "Enable";
    Disabled => "已停用", "Disabled";
    Active => "正常", "Active";
    ResetPassword => "重置密码", "Reset password";
    Revoke => "吊销", "Revoke";
    Revoked => "已吊销", "Revoked";
    Owner => "所有者", "Owner";
    Name => "名称", "Name";
    Created => "创建时间", "Created";
    LastUsed => "最近使用", "Last used";
    Actions => "操作", "Actions";
    Time => "时间", "Time";
    Actor => "操作人", "Actor";
    Entity => "对象", "Entity";
    EntityId => "对象编号", "Entity id";
    Action => "动作", "Action";
    Sequence => "序号", "Seq.";
    Changes => "变更", "Changes";
    ChainIntact => "审计链完整，未发现篡改。", "The audit chain is intact: nothing altered, inserted or removed.";
    ChainBroken => "审计链被破坏", "The audit chain is broken";
    Entries => "条记录", "entries";
    ChainHead => "链头", "Chain head";
    Verify => "校验", "Verify";
    Saved => "已保存。", "Saved.";
    UserCreated => "用户已创建。", "The user was created.";
    UserDisabled => "用户已停用，其会话已结束。", "The user was disabled; their sessions have ended.";
    UserEnabled => "用户已启用。", "The user was enabled.";
    PasswordReset => "密码已重置。", "The password was reset.";
    TokenRevoked => "令牌已吊销。", "The token was revoked.";
    CannotDisableSelf => "不能停用自己的账户。", "You cannot disable your own account.";
    Facility => "场所", "Facility";
    Prefix => "前缀", "Prefix";
    AuditPage => "第", "Page";
    Of => "/", "of";
    ConfirmDisable => "确定停用该用户吗？", "Disable this user?";
    ConfirmRevoke => "确定吊销该令牌吗？", "Revoke this token?";
    // errors
    ErrorTitle => "出错了", "Something went wrong";
    NotFoundTitle => "未找到", "Not found";
    ForbiddenTitle => "无权访问", "Not allowed";
    ServerErrorTitle => "服务器错误", "Server error";
    BackToDashboard => "返回总览", "Back to the dashboard";
    // public
    PublicNote => "本页仅公布汇总数字，不含任何个人信息。", "This page shows aggregate figures only, no personal data.";
    // records and tracing pages (engineer B2's block)
    RecCaseId => "病例编号", "Case ID";
    RecClassification => "分类", "Classification";
    RecDiscoveryChannel => "发现途径", "Discovery channel";
    RecLoopState => "闭环状态", "Loop state";
    RecReportTime => "报告时间", "Reported";
    RecReportingRegion => "报告地区", "Reporting region";
    RecOnsetDate => "发病日期", "Onset";
    RecAny => "全部", "Any";
    RecSortBy => "排序", "Sort by";
    RecAscending => "升序", "Ascending";
    RecDescending => "降序", "Descending";
    RecSortedAsc => "（升序）", " (ascending)";
    RecSortedDesc => "（降序）", " (descending)";
    RecExportCsv => "导出 CSV", "Export CSV";
    RecExportXlsx => "导出 XLSX", "Export XLSX";
    RecExportNote => "导出当前筛选条件下的全部记录（不限于本页）。", "Exports everything the filter selects (every page).";
    RecMatching => "条符合条件", "matching";
    RecPersonList => "人员名单", "Persons";
    RecSearchHint => "姓名（前缀）、证件号码或手机号", "Name (prefix), document number or phone";
    RecDocument => "证件号码", "Document";
    RecPhone => "手机号", "Phone";
    RecAddress => "住址", "Address";
    RecSex => "性别", "Sex";
    RecBirthDate => "出生日期", "Birth date";
    RecIdentity => "身份信息", "Identity";
    RecHousehold => "同户人员", "Household";
    RecCaseRecords => "病例记录", "Case records";
    RecManagedRecords => "闭环管理记录", "Managed records";
    RecExposures => "暴露情况", "Exposures";
    RecWhen => "时间", "When";
    RecThroughWhom => "经由", "Through whom";
    RecWhy => "判定依据", "Why";
    RecSourceCase => "传染源病例", "Source case";
    RecTimeline => "状态变更记录", "State timeline";
    RecFromState => "原状态", "From";
    RecToState => "新状态", "To";
    RecFacility => "场所", "Facility";
    RecReason => "原因", "Reason";
    RecIdentifiedAt => "纳入闭环", "Entered the loop";
    RecTransition => "办理状态变更", "Change of state";
    RecTransitionSubmit => "确认变更", "Change the state";
    RecNoTransitions => "当前状态没有可办理的变更。", "No change of state is possible from the current state.";
    RecTransitionDone => "状态已变更。", "The state was changed.";
    RecTransitionRefused => "未能变更状态", "The change was refused";
    RecNoFacility => "（不指定）", "(none)";
    RecCaseDetail => "病例详情", "Case";
    RecContacts => "密接人员", "Contacts";
    RecContactsOf => "病例的密接人员", "Contacts of the case";
    RecDegree => "代际", "Degree";
    RecFirstExposure => "首次暴露", "First exposure";
    RecClusterSize => "病例数", "Cases";
    RecFirstCase => "首例", "First case";
    RecLastCase => "末例", "Last case";
    RecEdges => "传播关系", "Transmission links";
    RecSharedExposures => "共同暴露", "Shared exposures";
    RecChainGraph => "传播链图", "Transmission chain";
    RecChainDesc => "按参考时间（发病、采样或报告）分层，每个节点是一个病例；箭头为传播关系，虚线为共同暴露。", "Layered by reference time (onset, sampling or report); each node is a case, arrows are transmission links, dashed lines shared exposures.";
    RecChainCapped => "病例过多，图中只画出最早的部分病例；表格列出全部关系。画出的病例数：", "Too many cases to draw: only the earliest are drawn; the table lists every link. Cases drawn: ";
    RecOutside => "辖区外", "outside the jurisdiction";
    RecLinkKind => "关系", "Link";
    RecTransmission => "传播", "Transmission";
    RecPlace => "地点", "Place";
    RecInstitutions => "涉及机构", "Institutions";
    RecRegions => "涉及地区", "Regions";
    RecDuplicateGroups => "疑似重复人员", "Likely duplicates";
    RecKeep => "保留", "Keep";
    RecMergeAway => "并入保留记录", "Merge into the kept one";
    RecMerge => "合并", "Merge";
    RecConfirmMerge => "确认合并", "Confirm the merge";
    RecMergeWarning => "合并后，被合并人员的病例、扫码记录、乘车记录和密接记录将移到保留人员名下，不能撤销。", "The merged person's cases, check-ins, trip seats and contact records move to the kept person. This cannot be undone.";
    RecMerged => "已合并。", "Merged.";
    RecCancel => "取消", "Cancel";
    RecReferenceTime => "参考时间", "Reference time";
    RecNotInLoop => "未纳入闭环", "Not in the loop";
    RecClassificationHistory => "分类变化", "Classification history";
    RecOutcome => "转归", "Outcome";
    RecIsolatedAt => "隔离管控时间", "Under control since";
    RecOrigin => "来源", "Origin";
    RecClinicalType => "临床分型", "Clinical type";
    RecPersonPage => "人员详情", "Person";
    RecMergedInto => "已合并到", "Merged into";
    RecTests => "检测", "Tests";
    RecPageOf => "页，共", "of";
    RecQuarantineEnd => "隔离期至", "Quarantine until";
    RecMonitoringEnd => "健康监测至", "Monitoring until";
    EscNotices => "上报通知", "Escalation notices";
    EscNoticesNote => "逾期任务依次通知责任人、单位负责人和上一级指挥部，每条通知均留存；通知对象为升级时在任者。", "An overdue task notifies its assignee, then the unit head, then the command one level up; every notice is kept, naming who was in office when the rung was reached.";
    EscReachedAt => "升级时点", "Reached at";
    EscRung => "层级", "Rung";
    EscTaskStatus => "任务状态", "Task status";
    EscAcknowledge => "确认收到", "Acknowledge";
    EscAcknowledged => "已确认", "Acknowledged";
    EscNotAcknowledged => "未确认", "Not acknowledged";
    EscAcknowledgedDone => "已确认收到该通知。", "Notice acknowledged.";
    EscNoNotices => "暂无上报通知。", "No escalation notices.";
    EscUnacknowledgedCount => "未确认通知", "Unacknowledged notices";
}

/// A date as people write it: 2022年3月14日, 14 March 2022.
pub fn date(d: NaiveDate, lang: Lang) -> String {
    match lang {
        Lang::Zh => format!("{}年{}月{}日", d.year(), d.month(), d.day()),
        Lang::En => d.format("%-d %B %Y").to_string(),
    }
}

/// A short date for chart axes and dense tables: 3月14日, 14 Mar.
pub fn short_date(d: NaiveDate, lang: Lang) -> String {
    match lang {
        Lang::Zh => format!("{}月{}日", d.month(), d.day()),
        Lang::En => d.format("%-d %b").to_string(),
    }
}

/// An instant in the deployment's zone: 2022年3月14日 08:30, 14 Mar 2022 08:30.
pub fn datetime(t: DateTime<Utc>, tz: Tz, lang: Lang) -> String {
    let local = t.with_timezone(&tz);
    match lang {
        Lang::Zh => format!(
            "{}年{}月{}日 {}",
            local.year(),
            local.month(),
            local.day(),
            local.format("%H:%M")
        ),
        Lang::En => local.format("%-d %b %Y %H:%M").to_string(),
    }
}

/// A count: thousands grouped in English (12,345); Chinese official
/// figures are written without separators below 100 000 (12345) and with
/// them above, as the health commissions print them.
pub fn int(n: i64, lang: Lang) -> String {
    let digits = n.unsigned_abs().to_string();
    let group = match lang {
        Lang::En => digits.len() > 3,
        Lang::Zh => digits.len() > 5,
    };
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if group && i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration in minutes as hours and minutes: 3小时5分钟, 3 h 5 min.
pub fn minutes(m: i64, lang: Lang) -> String {
    let (h, mm) = (m / 60, m % 60);
    match (lang, h) {
        (Lang::Zh, 0) => format!("{mm}分钟"),
        (Lang::Zh, _) => format!("{}小时{}分钟", int(h, lang), mm),
        (Lang::En, 0) => format!("{mm} min"),
        (Lang::En, _) => format!("{} h {} min", int(h, lang), mm),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_string_exists_in_both_languages() {
        for t in T::ALL {
            assert!(!t.get(Lang::Zh).is_empty(), "{t:?}");
            assert!(!t.get(Lang::En).is_empty(), "{t:?}");
        }
        assert_ne!(T::Dashboard.get(Lang::Zh), T::Dashboard.get(Lang::En));
    }

    #[test]
    fn dates_and_numbers_are_localised() {
        let d = NaiveDate::from_ymd_opt(2022, 3, 4).unwrap();
        assert_eq!(date(d, Lang::Zh), "2022年3月4日");
        assert_eq!(date(d, Lang::En), "4 March 2022");
        assert_eq!(short_date(d, Lang::En), "4 Mar");
        assert_eq!(int(1234567, Lang::En), "1,234,567");
        assert_eq!(int(12345, Lang::Zh), "12345");
        assert_eq!(int(1234567, Lang::Zh), "1,234,567");
        assert_eq!(int(-1000, Lang::En), "-1,000");
        assert_eq!(int(0, Lang::En), "0");
        assert_eq!(minutes(185, Lang::Zh), "3小时5分钟");
        assert_eq!(minutes(5, Lang::En), "5 min");
        let t = DateTime::parse_from_rfc3339("2022-03-14T00:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            datetime(t, chrono_tz::Asia::Shanghai, Lang::Zh),
            "2022年3月14日 08:30"
        );
        assert_eq!(
            datetime(t, chrono_tz::Asia::Shanghai, Lang::En),
            "14 Mar 2022 08:30"
        );
    }
}
