//! A posted console form: `application/x-www-form-urlencoded`, at most
//! [`MAX_FORM_BYTES`], sent from this site (no foreign `Origin`) and carrying
//! the session's CSRF token — checked before a handler reads any field.

use axum::http::{HeaderMap, StatusCode, header};

use super::layout::{self, Refusal};
use super::session::{Signed, cross_site};

/// The largest form the console takes (a bulk selection of 500 alerts is about 6 KB).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// The fields of a posted form, in order (a name may repeat: `id=1&id=2`).
#[derive(Debug, Default)]
pub struct Form {
    fields: Vec<(String, String)>,
}

impl Form {
    /// Decode `body` without any check (the sign-in form, which has no session yet).
    ///
    /// # Errors
    /// A 400/413/415 page when the body is not a small urlencoded form.
    pub fn decode(headers: &HeaderMap, body: &[u8]) -> Result<Form, Refusal> {
        let refuse = |status, why: &str| Err(layout::error_page(status, "Form refused", why, None).into());
        let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !ct.starts_with("application/x-www-form-urlencoded") {
            return refuse(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Forms are sent as application/x-www-form-urlencoded.");
        }
        if body.len() > MAX_FORM_BYTES {
            return refuse(StatusCode::PAYLOAD_TOO_LARGE, "The form is larger than 64 KB.");
        }
        if cross_site(headers) {
            tracing::warn!("console form refused: posted from another site");
            return refuse(StatusCode::FORBIDDEN, "The form was posted from another site.");
        }
        let fields = form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        Ok(Form { fields })
    }

    /// Decode a signed-in person's form and check its CSRF token.
    ///
    /// # Errors
    /// As [`Form::decode`]; a 403 page for a missing or wrong CSRF token.
    pub fn parse(headers: &HeaderMap, body: &[u8], signed: &Signed) -> Result<Form, Refusal> {
        let form = Form::decode(headers, body)?;
        signed.check_csrf(form.one("csrf"))?;
        Ok(form)
    }

    /// [`Form::parse`], for a person holding at least `role` (else a 403 page).
    ///
    /// # Errors
    /// As [`Form::parse`]; the 403 page for a lesser role.
    pub fn parse_as(
        headers: &HeaderMap,
        body: &[u8],
        signed: &Signed,
        role: crate::people::Role,
    ) -> Result<Form, Refusal> {
        let form = Form::parse(headers, body, signed)?;
        signed.require(role)?;
        Ok(form)
    }

    /// The first value of `name`, trimmed; `None` when absent or empty.
    pub fn one(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }

    /// The first value of `name`, trimmed, empty kept (a field emptied on
    /// purpose); `None` only when the form has no such field.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim())
    }

    /// Every value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}
