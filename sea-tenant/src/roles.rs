//! Strict mode's configuration as a value: the runtime, owner and shared roles, and how a
//! tenant's role is named. No SQL and no connection: the role SQL is `tenant_sql::role`, what
//! strict mode does with a database is `crate::strict`, which re-exports these.

use crate::TenantName;

/// Longest role name PostgreSQL keeps (`NAMEDATALEN - 1`).
const MAX_ROLE_BYTES: usize = 63;
/// Longest role prefix: leaves room for the tenant name in most role names.
pub const MAX_PREFIX_BYTES: usize = 24;
/// The default prefix of tenant roles.
pub const DEFAULT_ROLE_PREFIX: &str = "tenant_";

/// Strict mode's configuration: who owns tenant schemas, who the application connects as, and
/// how tenant roles are named. Turn it on with [`strict::enable`](crate::strict::enable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Strict {
    runtime_role: String,
    owner_role: String,
    shared_role: String,
    role_prefix: String,
    login_roles: bool,
}

/// Why a strict-mode setting or set-up was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StrictError {
    /// A role name is empty, too long or starts with `pg_`.
    #[error("strict mode: invalid role name {value:?}: {rule}")]
    InvalidRole {
        /// The rejected name.
        value: String,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// The role prefix is not 1–24 bytes of `[a-z0-9_]` starting with a letter, or starts
    /// with `pg_`.
    #[error("strict mode: invalid tenant role prefix {value:?}: {rule}")]
    InvalidPrefix {
        /// The rejected prefix.
        value: String,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// The runtime role is a superuser or bypasses row security: privileges cannot hold it.
    #[error(
        "strict mode: the runtime role {role:?} is a superuser or has BYPASSRLS, so no privilege \
         can keep it out of a tenant: connect the application as an ordinary role"
    )]
    PrivilegedRuntime {
        /// The runtime role.
        role: String,
    },
    /// The database has the `citus` extension and the configuration's roles cannot log in:
    /// queries routed to workers would fail. See [`Strict::with_login_roles`].
    #[error(
        "strict mode: this database uses Citus, whose workers are reached as the current role, \
         so tenant roles must be able to log in: use Strict::with_login_roles \
         (tenant_migration --strict-login-roles)"
    )]
    CitusNeedsLoginRoles,
    /// The runtime and the owner role are the same role.
    #[error("strict mode: the runtime and the owner role must differ (both {role:?})")]
    SameRole {
        /// The role named twice.
        role: String,
    },
}

impl Strict {
    /// Strict mode for an application that connects as `runtime_role` and whose tenant schemas
    /// are owned by `owner_role`, with tenant roles named [`DEFAULT_ROLE_PREFIX`]`<tenant>`.
    pub fn new(
        runtime_role: impl Into<String>,
        owner_role: impl Into<String>,
    ) -> std::result::Result<Strict, StrictError> {
        let runtime_role = valid_role(runtime_role.into())?;
        let owner_role = valid_role(owner_role.into())?;
        if runtime_role == owner_role {
            return Err(StrictError::SameRole { role: owner_role });
        }
        let shared_role = valid_role(format!("{owner_role}_tenants"))?;
        Ok(Strict {
            runtime_role,
            owner_role,
            shared_role,
            role_prefix: DEFAULT_ROLE_PREFIX.to_owned(),
            login_roles: false,
        })
    }

    /// Tenant roles and the owner role are created `LOGIN` (without a password) instead of
    /// `NOLOGIN`. Citus needs it: a statement routed to a worker opens the worker connection as
    /// the *current* role, so a scope's `SET LOCAL ROLE` to a `NOLOGIN` role fails there with
    /// `role "…" is not permitted to log in`. The nodes' authentication (`pg_hba.conf`,
    /// `pg_dist_authinfo`, certificates) must then let those roles in between nodes, and
    /// should let them in from nowhere else. [`strict::setup`](crate::strict::setup) refuses a
    /// Citus database without it.
    ///
    /// ```
    /// use sea_tenant::strict::Strict;
    ///
    /// let strict = Strict::new("app", "app_owner")?.with_login_roles();
    /// assert!(strict.login_roles());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_login_roles(mut self) -> Strict {
        self.login_roles = true;
        self
    }

    /// Whether tenant roles and the owner role may log in ([`Strict::with_login_roles`]).
    pub fn login_roles(&self) -> bool {
        self.login_roles
    }

    /// `LOGIN` or `NOLOGIN`, for the roles a statement routed to a Citus worker may run as.
    pub(crate) fn login_attribute(&self) -> &'static str {
        if self.login_roles { "LOGIN" } else { "NOLOGIN" }
    }

    /// Tenant roles are named `<prefix><tenant>`. Role names are shared by every database of a
    /// PostgreSQL cluster: give each database that has tenants a prefix of its own.
    ///
    /// ```
    /// use sea_tenant::{TenantName, strict::Strict};
    ///
    /// let strict = Strict::new("app", "app_owner")?.with_role_prefix("prod_")?;
    /// assert_eq!(strict.tenant_role(&TenantName::new("org_7")?), "prod_org_7");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_role_prefix(
        mut self,
        prefix: impl Into<String>,
    ) -> std::result::Result<Strict, StrictError> {
        let prefix = prefix.into();
        let rule = if prefix.is_empty() || prefix.len() > MAX_PREFIX_BYTES {
            Some("it must be 1 to 24 bytes")
        } else if !prefix.starts_with(|c: char| c.is_ascii_lowercase()) {
            Some("it must start with a letter a-z")
        } else if !prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            Some("only a-z, 0-9 and _ are allowed")
        } else if prefix.starts_with("pg_") {
            Some("roles starting with pg_ are reserved by PostgreSQL")
        } else {
            None
        };
        if let Some(rule) = rule {
            return Err(StrictError::InvalidPrefix {
                value: prefix,
                rule,
            });
        }
        self.role_prefix = prefix;
        Ok(self)
    }

    /// The role the application connects as.
    pub fn runtime_role(&self) -> &str {
        &self.runtime_role
    }

    /// The role that owns tenant schemas and runs their migrations.
    pub fn owner_role(&self) -> &str {
        &self.owner_role
    }

    /// The group every tenant role is a member of, `<owner>_tenants`: grant it what scopes
    /// may do on shared tables (`GRANT SELECT ON public.plan TO app_owner_tenants`).
    pub fn shared_role(&self) -> &str {
        &self.shared_role
    }

    /// The tenant roles' prefix.
    pub fn role_prefix(&self) -> &str {
        &self.role_prefix
    }

    /// The role of `tenant`: `<prefix><tenant>`, or, past 63 bytes, its first 53 bytes, `_X`
    /// and 8 hex digits of a hash of the whole. Upper-case `X` cannot occur in a name that
    /// fits (prefixes and tenant names are lower case), so two tenants never share a role.
    pub fn tenant_role(&self, tenant: &TenantName) -> String {
        let full = format!("{}{}", self.role_prefix, tenant.as_str());
        if full.len() <= MAX_ROLE_BYTES {
            return full;
        }
        // ASCII only (validated), so any byte index is a char boundary.
        format!(
            "{}_X{:08x}",
            &full[..MAX_ROLE_BYTES - 10],
            fnv1a(full.as_bytes())
        )
    }
}

/// A stable 32-bit FNV-1a hash: role names must not change between Rust versions.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |hash, b| {
        (hash ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

fn valid_role(value: String) -> std::result::Result<String, StrictError> {
    let rule = if value.is_empty() || value.len() > MAX_ROLE_BYTES {
        Some("it must be 1 to 63 bytes")
    } else if value.starts_with("pg_") {
        Some("roles starting with pg_ are reserved by PostgreSQL")
    } else {
        None
    };
    match rule {
        Some(rule) => Err(StrictError::InvalidRole { value, rule }),
        None => Ok(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> TenantName {
        TenantName::new(s).expect("valid")
    }

    #[test]
    fn tenant_roles_fit_and_never_collide() {
        let strict = Strict::new("app", "owner").expect("valid");
        assert_eq!(strict.tenant_role(&name("org_7")), "tenant_org_7");
        let long_a = name(&"a".repeat(63));
        let long_b = name(&format!("{}b", "a".repeat(62)));
        let (a, b) = (strict.tenant_role(&long_a), strict.tenant_role(&long_b));
        assert_eq!(a.len(), 63);
        assert_eq!(b.len(), 63);
        assert_ne!(a, b);
        assert!(a.contains("_X"), "{a}");
        // Stable across builds: the hash is FNV-1a, not std's.
        assert_eq!(strict.tenant_role(&long_a), a);
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
        // A name that fits exactly is kept whole.
        let fits = name(&"c".repeat(63 - DEFAULT_ROLE_PREFIX.len()));
        assert_eq!(strict.tenant_role(&fits).len(), 63);
        assert!(!strict.tenant_role(&fits).contains('X'));
    }

    #[test]
    fn bad_settings_are_named_with_their_rule() {
        for prefix in ["", "Tenant_", "1t_", "pg_t", "t-", &"t".repeat(25)] {
            let err = Strict::new("app", "owner")
                .expect("valid")
                .with_role_prefix(prefix)
                .expect_err(prefix);
            assert!(matches!(err, StrictError::InvalidPrefix { ref value, .. } if value == prefix));
        }
        assert!(matches!(
            Strict::new("pg_app", "owner"),
            Err(StrictError::InvalidRole { .. })
        ));
        assert!(matches!(
            Strict::new("same", "same"),
            Err(StrictError::SameRole { .. })
        ));
    }
}
