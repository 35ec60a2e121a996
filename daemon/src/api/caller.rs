//! Who is calling, and whether they may: the gate ([`super::gate`]) finds
//! the [`Principal`] behind the bearer token before any body is read; each
//! handler names the role it needs by taking a [`Viewer`], an [`Analyst`] or
//! an [`Admin`], which refuse with 403 before the handler runs (and before
//! its body is read). A handler that writes takes the principal from here —
//! the only name it can record.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;

use super::ApiError;
use crate::people::{Principal, Role};

fn principal(parts: &Parts, needed: Role) -> Result<Principal, ApiError> {
    let who = parts.extensions.get::<Principal>().cloned().ok_or_else(ApiError::unauthorized)?;
    if !who.may(needed) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("this needs the {needed} role; `{}` is {}", who.name, who.role),
        ));
    }
    Ok(who)
}

macro_rules! role_extractor {
    ($(#[$doc:meta])* $name:ident, $role:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub Principal);

        impl<S: Send + Sync> FromRequestParts<S> for $name {
            type Rejection = ApiError;
            async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
                principal(parts, $role).map($name)
            }
        }
    };
}

role_extractor!(
    /// A caller holding at least the viewer role (reads).
    Viewer,
    Role::Viewer
);
role_extractor!(
    /// A caller holding at least the analyst role (alert actions, suppressions, asset edits).
    Analyst,
    Role::Analyst
);
role_extractor!(
    /// A caller holding the admin role (agents, people, tokens, imports, the audit log).
    Admin,
    Role::Admin
);
