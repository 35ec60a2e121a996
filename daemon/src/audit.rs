//! The audit log: one append-only record per change — who, when, what, to
//! which subject, and the state before and after.
//!
//! Recorded for every asset change and register import, alert action,
//! suppression, agent, person and token change, and for sign-ins (failed,
//! throttled, successful). The table refuses updates and deletes (SQLite
//! triggers), so a record once written stays as written.
//!
//! Subjects are written `kind:name`: `asset:SRV-1`, `alert:42`,
//! `suppression:3`, `agent:lab-1`, `person:ann`, `token:7`, `register`.

use serde::{Deserialize, Serialize};

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum AuditAction {
    /// An asset was added to the register.
    #[serde(rename = "asset.create")]
    AssetCreate,
    /// An asset was changed.
    #[serde(rename = "asset.update")]
    AssetUpdate,
    /// An asset was deleted.
    #[serde(rename = "asset.delete")]
    AssetDelete,
    /// A register file was imported.
    #[serde(rename = "register.import")]
    RegisterImport,
    /// The register was synced with Snipe-IT or NetBox.
    #[serde(rename = "register.sync")]
    RegisterSync,
    /// Another tool's findings (an nmap report) were imported as observations.
    #[serde(rename = "observations.import")]
    ObservationsImport,
    /// An alert was acknowledged.
    #[serde(rename = "alert.acknowledge")]
    AlertAcknowledge,
    /// An alert was resolved by a person.
    #[serde(rename = "alert.resolve")]
    AlertResolve,
    /// A suppression rule was added.
    #[serde(rename = "suppression.add")]
    SuppressionAdd,
    /// A suppression rule was removed.
    #[serde(rename = "suppression.remove")]
    SuppressionRemove,
    /// A person's new suppression rule held this live alert (one record per
    /// alert the rule held when it was saved; its `after` names the rule).
    #[serde(rename = "alert.suppress")]
    AlertSuppress,
    /// An agent was added.
    #[serde(rename = "agent.add")]
    AgentAdd,
    /// An agent's token was revoked.
    #[serde(rename = "agent.revoke")]
    AgentRevoke,
    /// An agent's token was rotated.
    #[serde(rename = "agent.rotate")]
    AgentRotate,
    /// A full reconcile was asked for.
    #[serde(rename = "reconcile.request")]
    ReconcileRequest,
    /// A person was added.
    #[serde(rename = "person.add")]
    PersonAdd,
    /// A person was disabled.
    #[serde(rename = "person.disable")]
    PersonDisable,
    /// A person was enabled again.
    #[serde(rename = "person.enable")]
    PersonEnable,
    /// A person's password was set.
    #[serde(rename = "person.password")]
    PersonPassword,
    /// A person's role was changed.
    #[serde(rename = "person.role")]
    PersonRole,
    /// A personal API token was made.
    #[serde(rename = "token.create")]
    TokenCreate,
    /// A token or session was revoked.
    #[serde(rename = "token.revoke")]
    TokenRevoke,
    /// A sign-in succeeded.
    #[serde(rename = "login.ok")]
    LoginOk,
    /// A sign-in failed (wrong password, unknown or disabled person).
    #[serde(rename = "login.failed")]
    LoginFailed,
    /// Sign-ins to an account were refused for a while after repeated failures.
    #[serde(rename = "login.throttled")]
    LoginThrottled,
    /// A person signed out (their session ended).
    #[serde(rename = "logout")]
    Logout,
    /// A people-directory file was imported (one record per entry changed, one for the import).
    #[serde(rename = "directory.import")]
    DirectoryImport,
    /// The people directory was synced from LDAP (one record per entry changed, one for the sync).
    #[serde(rename = "directory.sync")]
    DirectorySync,
    /// Licence entitlements were imported (one record per entitlement changed, one for the import).
    #[serde(rename = "licences.import")]
    LicencesImport,
    /// A person attested an asset's data wipe (retirement checklist).
    #[serde(rename = "retirement.wipe")]
    RetirementWipe,
    /// Every checkable step of an asset's retirement passed (the checklist is the record's `after`).
    #[serde(rename = "retirement.verified")]
    RetirementVerified,
    /// An asset was disposed past unmet retirement steps, with a reason.
    #[serde(rename = "retirement.forced")]
    RetirementForced,
    /// A coverage source was defined or its definition changed.
    #[serde(rename = "source.define")]
    SourceDefine,
    /// A coverage source's list was loaded (the record counts what changed).
    #[serde(rename = "source.load")]
    SourceLoad,
    /// A coverage source and its list were removed.
    #[serde(rename = "source.remove")]
    SourceRemove,
}

impl AuditAction {
    /// Every action, for documentation and validation.
    pub const ALL: [AuditAction; 35] = [
        AuditAction::AssetCreate,
        AuditAction::AssetUpdate,
        AuditAction::AssetDelete,
        AuditAction::RegisterImport,
        AuditAction::RegisterSync,
        AuditAction::ObservationsImport,
        AuditAction::AlertAcknowledge,
        AuditAction::AlertResolve,
        AuditAction::SuppressionAdd,
        AuditAction::SuppressionRemove,
        AuditAction::AlertSuppress,
        AuditAction::AgentAdd,
        AuditAction::AgentRevoke,
        AuditAction::AgentRotate,
        AuditAction::ReconcileRequest,
        AuditAction::PersonAdd,
        AuditAction::PersonDisable,
        AuditAction::PersonEnable,
        AuditAction::PersonPassword,
        AuditAction::PersonRole,
        AuditAction::TokenCreate,
        AuditAction::TokenRevoke,
        AuditAction::LoginOk,
        AuditAction::LoginFailed,
        AuditAction::LoginThrottled,
        AuditAction::Logout,
        AuditAction::DirectoryImport,
        AuditAction::DirectorySync,
        AuditAction::LicencesImport,
        AuditAction::RetirementWipe,
        AuditAction::RetirementVerified,
        AuditAction::RetirementForced,
        AuditAction::SourceDefine,
        AuditAction::SourceLoad,
        AuditAction::SourceRemove,
    ];

    /// The action's name as stored and shown (`asset.update`).
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::AssetCreate => "asset.create",
            AuditAction::AssetUpdate => "asset.update",
            AuditAction::AssetDelete => "asset.delete",
            AuditAction::RegisterImport => "register.import",
            AuditAction::RegisterSync => "register.sync",
            AuditAction::ObservationsImport => "observations.import",
            AuditAction::AlertAcknowledge => "alert.acknowledge",
            AuditAction::AlertResolve => "alert.resolve",
            AuditAction::SuppressionAdd => "suppression.add",
            AuditAction::SuppressionRemove => "suppression.remove",
            AuditAction::AlertSuppress => "alert.suppress",
            AuditAction::AgentAdd => "agent.add",
            AuditAction::AgentRevoke => "agent.revoke",
            AuditAction::AgentRotate => "agent.rotate",
            AuditAction::ReconcileRequest => "reconcile.request",
            AuditAction::PersonAdd => "person.add",
            AuditAction::PersonDisable => "person.disable",
            AuditAction::PersonEnable => "person.enable",
            AuditAction::PersonPassword => "person.password",
            AuditAction::PersonRole => "person.role",
            AuditAction::TokenCreate => "token.create",
            AuditAction::TokenRevoke => "token.revoke",
            AuditAction::LoginOk => "login.ok",
            AuditAction::LoginFailed => "login.failed",
            AuditAction::LoginThrottled => "login.throttled",
            AuditAction::Logout => "logout",
            AuditAction::DirectoryImport => "directory.import",
            AuditAction::DirectorySync => "directory.sync",
            AuditAction::LicencesImport => "licences.import",
            AuditAction::RetirementWipe => "retirement.wipe",
            AuditAction::RetirementVerified => "retirement.verified",
            AuditAction::RetirementForced => "retirement.forced",
            AuditAction::SourceDefine => "source.define",
            AuditAction::SourceLoad => "source.load",
            AuditAction::SourceRemove => "source.remove",
        }
    }
}

impl std::str::FromStr for AuditAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AuditAction::ALL.into_iter().find(|a| a.as_str() == s).ok_or_else(|| {
            let all: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
            format!("unknown audit action `{}` (one of {})", s.escape_debug(), all.join(", "))
        })
    }
}

/// A record to append.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// When (unix ms).
    pub at_ms: i64,
    /// Who: a person's name, `admin` (the built-in admin token), `anonymous` (a failed sign-in).
    pub actor: String,
    /// What.
    pub action: AuditAction,
    /// To what (`kind:name`).
    pub subject: String,
    /// The subject before (JSON), when there was one.
    pub before: Option<serde_json::Value>,
    /// The subject after (JSON), when there is one.
    pub after: Option<serde_json::Value>,
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    /// Its position in the log (increasing).
    pub id: i64,
    /// The entry.
    #[serde(flatten)]
    pub entry: AuditEntry,
}

/// What to list, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this actor's records.
    pub actor: Option<String>,
    /// Only these actions.
    pub action: Option<AuditAction>,
    /// Only this subject (`asset:SRV-1`), or with a trailing `*` those starting with it (`asset:*`).
    pub subject: Option<String>,
    /// Only records at or after (unix ms).
    pub since_ms: Option<i64>,
    /// Only records before (unix ms).
    pub until_ms: Option<i64>,
    /// Only records older than this id (the paging cursor).
    pub before_id: Option<i64>,
    /// At most this many.
    pub limit: usize,
}

impl AuditFilter {
    /// [`AuditFilter::subject`] as the store matches it: (the subject
    /// exactly, or the prefix a trailing `*` asks for); at most one is set.
    pub fn subject_match(&self) -> (Option<&str>, Option<&str>) {
        match self.subject.as_deref() {
            Some(s) if s.ends_with('*') => (None, Some(s.trim_end_matches('*'))),
            Some(s) => (Some(s), None),
            None => (None, None),
        }
    }
}

/// Whether `subject` names an account: `person:NAME` for sign-ins.
pub fn person_subject(name: &str) -> String {
    let clean: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
    format!("person:{clean}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip_by_name_and_serde() {
        for a in AuditAction::ALL {
            assert_eq!(a.as_str().parse::<AuditAction>(), Ok(a));
            assert_eq!(serde_json::to_value(a).unwrap(), serde_json::json!(a.as_str()));
        }
        assert!("asset.eat".parse::<AuditAction>().unwrap_err().contains("asset.create"));
    }

    #[test]
    fn account_subjects_carry_no_control_bytes() {
        assert_eq!(person_subject("ann\u{1b}[2J"), "person:ann[2J");
        assert_eq!(person_subject(&"x".repeat(500)).len(), "person:".len() + 64);
    }
}
