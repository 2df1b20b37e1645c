//! Validated tenant schema names.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use sea_orm::sea_query::Iden;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// PostgreSQL truncates identifiers longer than `NAMEDATALEN - 1` bytes; a truncated
/// name would silently address another tenant, so longer names are rejected instead.
pub const MAX_NAME_BYTES: usize = 63;

/// A PostgreSQL schema name that is safe to use as a tenant.
///
/// The rules, each with its own [`NameError`] variant:
/// - 1 to 63 bytes;
/// - the first character is `a`–`z` or `_`, the rest `a`–`z`, `0`–`9` or `_`;
/// - no `pg_` prefix (reserved by PostgreSQL for system schemas);
/// - not `public` nor `information_schema`.
///
/// A `TenantName` is always written quoted when it reaches SQL ([`TenantName::quoted`]), so
/// even a future loosening of the rules could not turn a name into SQL.
///
/// ```
/// use sea_tenant::TenantName;
///
/// let name = TenantName::new("org_7")?;
/// assert_eq!(name.as_str(), "org_7");
/// assert_eq!(name.quoted(), "\"org_7\"");
///
/// let err = TenantName::new("Org").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "invalid tenant name \"Org\": character 'O' at byte 0 is not allowed \
///      (only a-z, 0-9 and _; the first character may not be a digit)"
/// );
/// # Ok::<(), sea_tenant::NameError>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TenantName(String);

/// Why a value is not a valid [`TenantName`]. Each variant carries the rejected value; its
/// `Display` shows it escaped, so control characters or quotes in user data stay visible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The value is empty.
    #[error("invalid tenant name {value:?}: it is empty")]
    Empty {
        /// The rejected value.
        value: String,
    },
    /// The value is longer than [`MAX_NAME_BYTES`].
    #[error("invalid tenant name {value:?}: it is {len} bytes long, the limit is {MAX_NAME_BYTES}")]
    TooLong {
        /// The rejected value.
        value: String,
        /// Its length in bytes.
        len: usize,
    },
    /// A character outside `[a-z0-9_]`, or a digit in first position.
    #[error(
        "invalid tenant name {value:?}: character {ch:?} at byte {index} is not allowed \
         (only a-z, 0-9 and _; the first character may not be a digit)"
    )]
    InvalidChar {
        /// The rejected value.
        value: String,
        /// The first offending character.
        ch: char,
        /// Its byte offset.
        index: usize,
    },
    /// The value starts with `pg_`.
    #[error("invalid tenant name {value:?}: the pg_ prefix is reserved for system schemas")]
    ReservedPrefix {
        /// The rejected value.
        value: String,
    },
    /// The value is `public` or `information_schema`.
    #[error("invalid tenant name {value:?}: it is a reserved schema")]
    Reserved {
        /// The rejected value.
        value: String,
    },
}

impl NameError {
    /// The value that was rejected.
    pub fn value(&self) -> &str {
        match self {
            NameError::Empty { value }
            | NameError::TooLong { value, .. }
            | NameError::InvalidChar { value, .. }
            | NameError::ReservedPrefix { value }
            | NameError::Reserved { value } => value,
        }
    }
}

const RESERVED: [&str; 2] = ["public", "information_schema"];

impl TenantName {
    /// Validates `value` as a tenant schema name.
    pub fn new(value: impl Into<String>) -> Result<Self, NameError> {
        let value = value.into();
        if value.is_empty() {
            return Err(NameError::Empty { value });
        }
        if value.len() > MAX_NAME_BYTES {
            let len = value.len();
            return Err(NameError::TooLong { value, len });
        }
        for (index, ch) in value.char_indices() {
            let allowed = match ch {
                'a'..='z' | '_' => true,
                '0'..='9' => index > 0,
                _ => false,
            };
            if !allowed {
                return Err(NameError::InvalidChar { value, ch, index });
            }
        }
        if value.starts_with("pg_") {
            return Err(NameError::ReservedPrefix { value });
        }
        if RESERVED.contains(&value.as_str()) {
            return Err(NameError::Reserved { value });
        }
        Ok(TenantName(value))
    }

    /// The bare name, as PostgreSQL stores it in `pg_namespace.nspname`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as a quoted SQL identifier, e.g. `"org_7"`.
    pub fn quoted(&self) -> String {
        quote_ident(&self.0)
    }

    /// The name as a quoted SQL string literal, e.g. `'org_7'`.
    pub fn literal(&self) -> String {
        quote_literal(&self.0)
    }

    /// Consumes the name, returning the bare string.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Quotes any text as a PostgreSQL identifier: wraps it in `"` and doubles inner `"`.
pub(crate) fn quote_ident(value: &str) -> String {
    format!("\"{}\"", value.replace('"', "\"\""))
}

/// Quotes any text as a PostgreSQL string literal (standard_conforming_strings on, the
/// default since 9.1): wraps it in `'` and doubles inner `'`.
pub(crate) fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

impl fmt::Display for TenantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TenantName").field(&self.0).finish()
    }
}

impl AsRef<str> for TenantName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for TenantName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TenantName::new(s)
    }
}

impl TryFrom<String> for TenantName {
    type Error = NameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        TenantName::new(value)
    }
}

impl TryFrom<&str> for TenantName {
    type Error = NameError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        TenantName::new(value)
    }
}

impl Serialize for TenantName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TenantName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        TenantName::new(value).map_err(serde::de::Error::custom)
    }
}

/// Lets a tenant name stand as a schema in sea-query table references,
/// e.g. `Query::select().from((tenant.clone(), post::Entity))`.
impl Iden for TenantName {
    fn quoted(&self) -> Cow<'static, str> {
        Cow::Owned(self.0.clone())
    }

    fn unquoted(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names() {
        for ok in ["a", "_", "org_7", "tenant_0123456789", &"x".repeat(63)] {
            assert_eq!(TenantName::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_each_rule_with_its_variant() {
        assert!(matches!(TenantName::new(""), Err(NameError::Empty { .. })));
        assert!(matches!(
            TenantName::new("x".repeat(64)),
            Err(NameError::TooLong { len: 64, .. })
        ));
        assert!(matches!(
            TenantName::new("Org"),
            Err(NameError::InvalidChar {
                ch: 'O',
                index: 0,
                ..
            })
        ));
        assert!(matches!(
            TenantName::new("7org"),
            Err(NameError::InvalidChar {
                ch: '7',
                index: 0,
                ..
            })
        ));
        assert!(matches!(
            TenantName::new("a\"b"),
            Err(NameError::InvalidChar {
                ch: '"',
                index: 1,
                ..
            })
        ));
        assert!(matches!(
            TenantName::new("a;b"),
            Err(NameError::InvalidChar { ch: ';', .. })
        ));
        assert!(matches!(
            TenantName::new("café"),
            Err(NameError::InvalidChar {
                ch: 'é',
                index: 3,
                ..
            })
        ));
        assert!(matches!(
            TenantName::new("pg_x"),
            Err(NameError::ReservedPrefix { .. })
        ));
        assert!(matches!(
            TenantName::new("public"),
            Err(NameError::Reserved { .. })
        ));
        assert!(matches!(
            TenantName::new("information_schema"),
            Err(NameError::Reserved { .. })
        ));
    }

    #[test]
    fn error_message_escapes_the_value() {
        let err = TenantName::new("a\"\n;DROP").unwrap_err();
        let text = err.to_string();
        assert!(text.contains(r#""a\"\n;DROP""#), "{text}");
        assert_eq!(err.value(), "a\"\n;DROP");
    }

    #[test]
    fn serde_round_trip_validates() {
        let name: TenantName = serde_json::from_str("\"org_1\"").unwrap();
        assert_eq!(serde_json::to_string(&name).unwrap(), "\"org_1\"");
        assert!(serde_json::from_str::<TenantName>("\"Org\"").is_err());
    }

    mod property {
        use super::*;
        use proptest::prelude::*;

        /// Undoes `quote_ident` the way PostgreSQL's lexer reads a quoted identifier; returns
        /// what follows the closing quote, so a break-out shows as a non-empty rest.
        fn parse_quoted_ident(sql: &str) -> Option<(String, &str)> {
            let body = sql.strip_prefix('"')?;
            let mut out = String::new();
            let mut chars = body.char_indices().peekable();
            while let Some((i, c)) = chars.next() {
                if c == '"' {
                    if let Some((_, '"')) = chars.peek() {
                        chars.next();
                        out.push('"');
                    } else {
                        return Some((out, &body[i + 1..]));
                    }
                } else {
                    out.push(c);
                }
            }
            None
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            /// Any string at all: if it is accepted, its quoted form is one identifier
            /// that reads back as the same name, with nothing after it.
            #[test]
            fn accepted_names_cannot_escape_quoting(raw in any::<String>()) {
                if let Ok(name) = TenantName::new(raw.clone()) {
                    let quoted = name.quoted();
                    let (read, rest) = parse_quoted_ident(&quoted).expect("closed quote");
                    prop_assert_eq!(read, raw);
                    prop_assert_eq!(rest, "");
                    prop_assert!(!quoted[1..quoted.len() - 1].contains('"'));
                }
            }

            /// Strings biased towards SQL metacharacters and near-valid names.
            #[test]
            fn hostile_alphabet(raw in r#"[a-z_0-9"';\\ \-/*A-Z\x00\n]{0,70}"#) {
                match TenantName::new(raw.clone()) {
                    Ok(name) => {
                        prop_assert!(raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
                        prop_assert_eq!(name.quoted(), format!("\"{raw}\""));
                        prop_assert_eq!(name.literal(), format!("'{raw}'"));
                    }
                    Err(err) => prop_assert_eq!(err.value(), raw.as_str()),
                }
            }

            /// `quote_ident` itself is sound for arbitrary text, as a second line of defence.
            #[test]
            fn quote_ident_round_trips(raw in any::<String>()) {
                let quoted = quote_ident(&raw);
                let (read, rest) = parse_quoted_ident(&quoted).expect("closed quote");
                prop_assert_eq!(read, raw);
                prop_assert_eq!(rest, "");
            }
        }
    }
}
