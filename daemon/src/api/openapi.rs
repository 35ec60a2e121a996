//! The API's OpenAPI 3.1 description, served at `GET /api/v1/openapi.json`.
//!
//! It is generated from the code (utoipa): every route is registered
//! through `utoipa_axum`'s `routes!`, which adds the handler's
//! `#[utoipa::path]` to the document in the same call that adds it to the
//! router — a route cannot exist without its description, and the test
//! `every_route_is_described_and_every_description_routes` checks both ways
//! against a running daemon. Schemas come from the same types the handlers
//! serialise (`#[derive(ToSchema)]`).
//!
//! What every operation can answer besides its own results is added here
//! once, by [`CommonResponses`]: 400 (a malformed path, query or body, the
//! field named), 401 (no valid bearer token), 403 (the caller's role is too
//! low), 408 (a body not received in time), 413 (a body over
//! `max_body_mb`) and 503 (the database cannot be reached; `Retry-After`
//! says when to try again); error bodies are always [`ErrorBody`].

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, RefOr, ResponseBuilder};
use utoipa::{Modify, PartialSchema, ToSchema};

/// The error body of every 4xx and 5xx answer.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for people.
    pub error: String,
    /// The field at fault (`segments[2]`, `limit`, `hosts[17].ip`), when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Row- or field-level problems (imports, validation).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<serde_json::Value>,
}

/// The document's fixed parts.
#[derive(utoipa::OpenApi)]
#[openapi(info(
    title = "Census daemon API",
    description = "The IT asset register and what the agents' sweeps see, reconciled. \
            All routes under /api/v1 need a bearer token (an agent's for POST /api/v1/batches; a person's \
            API token or session, or the configuration's admin token, elsewhere) except sign-in and this \
            document. Lists page with `limit` and `cursor` (the next page in the Link and \
            Census-Next-Cursor headers). Times are unix milliseconds unless named otherwise.",
    license(name = "Apache-2.0", identifier = "Apache-2.0")
))]
pub struct ApiDoc;

/// Adds the bearer scheme and the answers every operation can give.
pub struct CommonResponses;

fn error(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content("application/json", ContentBuilder::new().schema(Some(ErrorBody::schema())).build())
            .build(),
    )
}

impl CommonResponses {
    /// Apply to a whole document (after the routes' paths were added).
    pub fn modify_document(&self, doc: &mut OpenApi) {
        self.modify(doc);
    }
}

impl Modify for CommonResponses {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        for (path, item) in &mut doc.paths.paths {
            let public = path == super::people::LOGIN_PATH || path == OPENAPI_PATH;
            let ops: [&mut Option<Operation>; 4] = [&mut item.get, &mut item.post, &mut item.put, &mut item.delete];
            for op in ops.into_iter().flatten() {
                let r = &mut op.responses.responses;
                r.entry("400".into()).or_insert_with(|| error("Malformed path, query or body; `field` names it"));
                if !public {
                    r.entry("401".into()).or_insert_with(|| error("No valid bearer token"));
                    r.entry("403".into()).or_insert_with(|| error("The token's role may not do this"));
                    op.security =
                        Some(vec![utoipa::openapi::security::SecurityRequirement::new("bearer", Vec::<String>::new())]);
                }
                if path != OPENAPI_PATH {
                    r.entry("503".into()).or_insert_with(|| {
                        error("The database cannot be reached just now; nothing was changed. Retry after `Retry-After` seconds")
                    });
                }
                if op.request_body.is_some() {
                    r.entry("408".into()).or_insert_with(|| error("The body did not arrive in time"));
                    r.entry("413".into()).or_insert_with(|| error("The body is larger than `max_body_mb`"));
                }
            }
        }
    }
}

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";
