//! Where a request names its tenant: a header, the `Host`'s subdomain, a path segment.

use std::borrow::Cow;
use std::fmt;

use ::axum::extract::OriginalUri;
use ::axum::http::header::{HOST, HeaderName, InvalidHeaderName};
use ::axum::http::request::Parts;

/// Where a request names its tenant. A [`TenantResolver`](super::TenantResolver) asks its
/// sources in order and takes the first one present.
///
/// The value is a public identifier: the schema name itself
/// ([`TenantResolver::new`](super::TenantResolver::new)), or the value of the owner
/// template's placeholder, such as a slug
/// ([`TenantResolver::for_owner`](super::TenantResolver::for_owner)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TenantSource {
    /// A request header; header names are case-insensitive.
    Header(HeaderName),
    /// The label left of `base_domain` in the `Host` header (port ignored, lowercased, since
    /// host names are case-insensitive): `acme.example.com` with base `example.com` gives
    /// `acme`. A host of two or more labels under the base (`a.b.example.com`) or the base
    /// itself names no tenant.
    Subdomain {
        /// The domain tenants are subdomains of, e.g. `example.com`, lowercase.
        base_domain: String,
    },
    /// The path segment right after `prefix`: with prefix `/t`, `/t/acme/posts` gives
    /// `acme`. The path is the one the client sent, also inside a nested router.
    PathSegment {
        /// The segments before the tenant's, e.g. `/t`; empty for the first segment.
        prefix: String,
    },
}

impl TenantSource {
    /// The tenant comes from header `name`, in any case (`"X-Tenant"` or `"x-tenant"`).
    ///
    /// ```
    /// use sea_tenant::axum::TenantSource;
    ///
    /// assert_eq!(TenantSource::header("X-Tenant"), TenantSource::header("x-tenant"));
    /// ```
    ///
    /// # Panics
    /// If `name` is not a valid header name: meant for literals, checked at start-up. Use
    /// [`TenantSource::try_header`] for a name read from configuration.
    pub fn header(name: &str) -> TenantSource {
        match TenantSource::try_header(name) {
            Ok(source) => source,
            Err(err) => panic!("TenantSource::header({name:?}): {err}"),
        }
    }

    /// The tenant comes from header `name`, in any case; an error if `name` is not a valid
    /// header name.
    ///
    /// ```
    /// use sea_tenant::axum::TenantSource;
    ///
    /// assert!(TenantSource::try_header("X-Tenant").is_ok());
    /// assert!(TenantSource::try_header("X Tenant").is_err());
    /// ```
    pub fn try_header(name: &str) -> Result<TenantSource, InvalidHeaderName> {
        HeaderName::from_bytes(name.as_bytes()).map(TenantSource::Header)
    }

    /// The tenant is the subdomain of `base_domain`: `acme.example.com` → `acme`.
    pub fn subdomain(base_domain: impl Into<String>) -> TenantSource {
        let base = base_domain.into().to_ascii_lowercase();
        TenantSource::Subdomain {
            base_domain: base.trim_matches('.').to_owned(),
        }
    }

    /// The tenant is the path segment after `prefix`: `TenantSource::path("/t")` reads
    /// `/t/acme/posts` as `acme`; `TenantSource::path("/")` reads the first segment.
    pub fn path(prefix: impl Into<String>) -> TenantSource {
        let prefix = prefix.into();
        let trimmed = prefix.trim_matches('/');
        TenantSource::PathSegment {
            prefix: if trimmed.is_empty() {
                String::new()
            } else {
                format!("/{trimmed}")
            },
        }
    }

    /// The request's value from this source: `None` if the source is absent, `Some(Err)`
    /// with a printable copy if it is present but not text.
    pub(super) fn value<'p>(&self, parts: &'p Parts) -> Option<Result<Cow<'p, str>, String>> {
        match self {
            TenantSource::Header(name) => {
                let value = parts.headers.get(name)?;
                Some(
                    value
                        .to_str()
                        .map(Cow::Borrowed)
                        .map_err(|_| String::from_utf8_lossy(value.as_bytes()).into_owned()),
                )
            }
            TenantSource::Subdomain { base_domain } => {
                let host = parts
                    .headers
                    .get(HOST)
                    .and_then(|h| h.to_str().ok())
                    .or_else(|| parts.uri.host())?;
                subdomain_of(host, base_domain).map(Ok)
            }
            TenantSource::PathSegment { prefix } => {
                // Inside `Router::nest`, `parts.uri` lacks the nest's prefix; the original
                // URI has the whole path.
                let path = match parts.extensions.get::<OriginalUri>() {
                    Some(OriginalUri(uri)) => uri.path(),
                    None => parts.uri.path(),
                };
                segment_after(path, prefix).map(|segment| Ok(Cow::Borrowed(segment)))
            }
        }
    }
}

impl fmt::Display for TenantSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TenantSource::Header(name) => write!(f, "header {name}"),
            TenantSource::Subdomain { base_domain } => write!(f, "subdomain of {base_domain}"),
            TenantSource::PathSegment { prefix } => write!(f, "path {prefix}/{{tenant}}"),
        }
    }
}

/// The one label of `host` under `base_domain` (both compared case-insensitively).
fn subdomain_of<'h>(host: &'h str, base_domain: &str) -> Option<Cow<'h, str>> {
    let host = host.rsplit_once(':').map_or(host, |(h, _port)| h);
    let host = host.strip_suffix('.').unwrap_or(host); // the fully qualified form
    let split = host.len().checked_sub(base_domain.len() + 1)?;
    let (prefix, rest) = (host.get(..split)?, host.get(split..)?);
    let base = rest.strip_prefix('.')?;
    if !base.eq_ignore_ascii_case(base_domain) || prefix.is_empty() || prefix.contains('.') {
        return None;
    }
    Some(if prefix.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(prefix.to_ascii_lowercase())
    } else {
        Cow::Borrowed(prefix)
    })
}

/// The segment of `path` right after `prefix` (`""` or `/a/b`), possibly empty
/// (`/t//posts`): present, and refused later as empty.
fn segment_after<'p>(path: &'p str, prefix: &str) -> Option<&'p str> {
    let rest = path.strip_prefix(prefix)?.strip_prefix('/')?;
    Some(rest.split('/').next().unwrap_or(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains() {
        let sub = |host| subdomain_of(host, "example.com").map(Cow::into_owned);
        assert_eq!(sub("acme.example.com").as_deref(), Some("acme"));
        assert_eq!(sub("acme.example.com:8080").as_deref(), Some("acme"));
        assert_eq!(sub("ACME.Example.COM").as_deref(), Some("acme"));
        assert_eq!(sub("acme.example.com.").as_deref(), Some("acme"));
        assert_eq!(sub("example.com"), None);
        assert_eq!(sub(".example.com"), None);
        assert_eq!(sub("a.b.example.com"), None);
        assert_eq!(sub("acmeexample.com"), None);
        assert_eq!(sub("acme.other.org"), None);
        assert_eq!(sub("com"), None);
    }

    #[test]
    fn path_segments() {
        assert_eq!(segment_after("/t/acme/posts", "/t"), Some("acme"));
        assert_eq!(segment_after("/t/acme", "/t"), Some("acme"));
        assert_eq!(segment_after("/t//posts", "/t"), Some(""));
        assert_eq!(segment_after("/t", "/t"), None);
        assert_eq!(segment_after("/tx/acme", "/t"), None);
        assert_eq!(segment_after("/posts", "/t"), None);
        assert_eq!(segment_after("/acme/posts", ""), Some("acme"));
    }

    #[test]
    fn constructors_normalise() {
        assert_eq!(
            TenantSource::header("X-Tenant"),
            TenantSource::Header(HeaderName::from_static("x-tenant"))
        );
        assert!(TenantSource::try_header("x tenant").is_err());
        assert!(TenantSource::try_header("").is_err());
        assert_eq!(
            TenantSource::path("/t/"),
            TenantSource::PathSegment {
                prefix: "/t".into()
            }
        );
        assert_eq!(
            TenantSource::path("/"),
            TenantSource::PathSegment {
                prefix: String::new()
            }
        );
        assert_eq!(
            TenantSource::subdomain("Example.com."),
            TenantSource::Subdomain {
                base_domain: "example.com".into()
            }
        );
    }
}
