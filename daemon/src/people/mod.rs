//! People, their roles and how a request is attributed to one.
//!
//! Census knows three roles, each including the one before it:
//!
//! | role | may |
//! |---|---|
//! | `viewer` | read everything but the audit log |
//! | `analyst` | also acknowledge, resolve and suppress alerts, and edit assets |
//! | `admin` | also manage agents, people, tokens, register imports, full reconciles; read the audit log |
//!
//! A request is made by a [`Principal`]: a person (through a personal API
//! token or a signed-in session) or the built-in admin (the admin token of
//! the configuration, so that installations from before people existed keep
//! working). Every write is recorded under the principal's name — never a
//! name the caller sends.
//!
//! The rules here are pure: [`password`] hashes and checks passwords
//! (argon2id), [`throttle`] decides when an account's sign-ins are slowed.

pub mod password;
pub mod throttle;

use serde::{Deserialize, Serialize};

/// What a principal may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything but the audit log.
    Viewer,
    /// Also acts on alerts and suppressions, and edits assets.
    Analyst,
    /// Also manages agents, people, tokens and imports; reads the audit log.
    Admin,
}

impl Role {
    /// The role's name as written in the CLI, the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "analyst" => Ok(Role::Analyst),
            "admin" => Ok(Role::Admin),
            other => Err(format!("unknown role `{other}` (viewer, analyst or admin)")),
        }
    }
}

/// Name of the built-in admin (the configuration's admin token) in records.
pub const BUILTIN_ADMIN: &str = "admin";

/// Names records use for others than people: Census itself (`census`,
/// `system`), failed sign-ins (`anonymous`), and `root`, which reads as the host's.
pub const RESERVED: &[&str] = &["census", "system", "anonymous", "root"];

/// Who makes a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Principal {
    /// The person's name, or [`BUILTIN_ADMIN`].
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// The configuration's admin token rather than a person.
    pub builtin: bool,
}

impl Principal {
    /// The built-in admin.
    pub fn builtin_admin() -> Self {
        Principal { name: BUILTIN_ADMIN.into(), role: Role::Admin, builtin: true }
    }

    /// A person with `role` (as found by their token).
    pub fn person(name: &str, role: Role) -> Self {
        Principal { name: name.into(), role, builtin: false }
    }

    /// Whether the principal holds at least `needed`.
    pub fn may(&self, needed: Role) -> bool {
        self.role >= needed
    }
}

/// A person as stored (never their password or token hashes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Person {
    /// Sign-in name: 1–64 characters of `a-z 0-9 . _ @ -`, unique, case-sensitive.
    pub name: String,
    /// Their role.
    pub role: Role,
    /// When they were added (unix ms).
    pub created_ms: i64,
    /// When they were disabled (unix ms); a disabled person's tokens and sessions stop working at once.
    pub disabled_ms: Option<i64>,
    /// When their password was last set (unix ms).
    pub password_set_ms: Option<i64>,
}

/// A personal API token or a session, as listed (never its secret or hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    /// Its id, for `censusd token revoke`.
    pub id: i64,
    /// Whose.
    pub person: String,
    /// `api` (made by `censusd token create`) or `session` (a sign-in).
    pub kind: String,
    /// What it is for, as given at creation.
    pub label: String,
    /// When it was made (unix ms).
    pub created_ms: i64,
    /// When it stops working (unix ms), if ever.
    pub expires_ms: Option<i64>,
    /// When it was revoked (unix ms).
    pub revoked_ms: Option<i64>,
}

/// Check a person's name.
///
/// # Errors
/// A sentence saying what is wrong with it.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err("a person's name is 1 to 64 characters".into());
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._@-".contains(&b)) {
        return Err(format!(
            "`{}` is not a valid name: use lowercase letters, digits and . _ @ -",
            name.escape_debug()
        ));
    }
    if name == BUILTIN_ADMIN {
        return Err(format!("`{BUILTIN_ADMIN}` is the built-in admin (the configuration's admin token)"));
    }
    if RESERVED.contains(&name) {
        return Err(format!("`{name}` is reserved: records made by Census itself and by strangers carry it"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_ones_before_them() {
        let analyst = Principal { name: "ann".into(), role: Role::Analyst, builtin: false };
        assert!(analyst.may(Role::Viewer) && analyst.may(Role::Analyst) && !analyst.may(Role::Admin));
        assert!(Principal::builtin_admin().may(Role::Admin));
        for r in [Role::Viewer, Role::Analyst, Role::Admin] {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("root".parse::<Role>().unwrap_err().contains("viewer, analyst or admin"));
    }

    #[test]
    fn names_are_plain_and_never_the_builtin_admin() {
        assert!(validate_name("ann.lee@corp").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name(&"a".repeat(65)).is_err());
        assert!(validate_name("Ann").is_err());
        assert!(validate_name("ann\u{1b}[31m").unwrap_err().contains("\\u{1b}"));
        assert!(validate_name("admin").unwrap_err().contains("built-in"));
        for r in RESERVED {
            assert!(validate_name(r).unwrap_err().contains("reserved"), "{r}");
        }
    }
}
