//! An owner row's tenant name: the entity's template rendered from the row's fields.

use std::fmt::{Display, Write as _};

use crate::{Error, TenantName};

/// An owner entity's template rendered from one row, not validated yet: what
/// [`all_tenants`](super::all_tenants) lists, and what [`RenderedName::tenant_name`] checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedName {
    template: &'static str,
    name: String,
    empty_field: Option<&'static str>,
}

impl RenderedName {
    /// The rendered text, e.g. `org_acme`.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The rendered text, owned.
    pub fn into_string(self) -> String {
        self.name
    }

    /// The first placeholder whose value rendered empty, if any.
    pub fn empty_field(&self) -> Option<&'static str> {
        self.empty_field
    }

    /// The tenant name: every placeholder has a value ([`Error::EmptyTemplateValue`]
    /// otherwise: `org_<slug>` with an empty slug is not the tenant `org_`), and the whole is
    /// a valid [`TenantName`] ([`Error::InvalidName`] otherwise).
    pub fn tenant_name(&self) -> Result<TenantName, Error> {
        if let Some(field) = self.empty_field {
            return Err(Error::EmptyTemplateValue {
                template: self.template,
                field,
                name: self.name.clone(),
            });
        }
        Ok(TenantName::new(self.name.as_str())?)
    }
}

/// An owner template with exactly one placeholder, read the other way: the tenant a public
/// identifier names. `org_<slug>` maps the slug `acme` to the tenant `org_acme`; an HTTP
/// resolver (the `axum` feature) uses it to find a tenant from a subdomain or a header.
///
/// ```
/// use sea_tenant::owner::IdentifierTemplate;
///
/// let template = IdentifierTemplate::parse("org_<slug>")?;
/// assert_eq!(template.field(), "slug");
/// assert_eq!(template.tenant_for("acme")?.as_str(), "org_acme");
/// assert!(template.tenant_for("acme; DROP").is_err());
/// assert!(template.tenant_for("").is_err()); // not the tenant `org_`
///
/// assert!(IdentifierTemplate::parse("org_<region>_<slug>").is_err());
/// # Ok::<(), sea_tenant::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentifierTemplate {
    template: &'static str,
    prefix: &'static str,
    field: &'static str,
    suffix: &'static str,
}

impl IdentifierTemplate {
    /// The template of the owner entity `E`.
    pub fn of<E: super::TenantOwner>() -> Result<IdentifierTemplate, Error> {
        IdentifierTemplate::parse(E::TEMPLATE)
    }

    /// Reads `template` (`#[tenant]`'s syntax); [`Error::TemplateNotResolvable`] unless it
    /// has exactly one placeholder.
    pub fn parse(template: &'static str) -> Result<IdentifierTemplate, Error> {
        let refuse = |reason: String| Error::TemplateNotResolvable { template, reason };
        let (prefix, rest) = template
            .split_once('<')
            .ok_or_else(|| refuse("it has no <field> placeholder".into()))?;
        let (field, suffix) = rest
            .split_once('>')
            .ok_or_else(|| refuse("its `<` is not closed".into()))?;
        if suffix.contains('<') {
            let fields: Vec<&str> = template
                .split('<')
                .skip(1)
                .filter_map(|part| part.split_once('>').map(|(field, _)| field))
                .collect();
            return Err(refuse(format!(
                "it has {} placeholders (<{}>); exactly one is needed",
                fields.len(),
                fields.join(">, <")
            )));
        }
        Ok(IdentifierTemplate {
            template,
            prefix,
            field,
            suffix,
        })
    }

    /// The template, e.g. `org_<slug>`.
    pub fn template(&self) -> &'static str {
        self.template
    }

    /// The field of the placeholder, e.g. `slug`.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The template rendered with `value`, not validated.
    pub fn render(&self, value: &str) -> String {
        [self.prefix, value, self.suffix].concat()
    }

    /// The tenant `value` names: [`Error::EmptyTemplateValue`] for an empty value,
    /// [`Error::InvalidName`] if the rendered name is not a valid [`TenantName`].
    pub fn tenant_for(&self, value: &str) -> Result<TenantName, Error> {
        let name = self.render(value);
        if value.is_empty() {
            return Err(Error::EmptyTemplateValue {
                template: self.template,
                field: self.field,
                name,
            });
        }
        Ok(TenantName::new(name)?)
    }
}

/// Builds a [`RenderedName`]; used by the code `#[tenant]` generates.
#[doc(hidden)]
#[derive(Debug)]
pub struct Renderer(RenderedName);

impl Renderer {
    pub fn new(template: &'static str) -> Self {
        Renderer(RenderedName {
            template,
            name: String::new(),
            empty_field: None,
        })
    }

    pub fn text(&mut self, text: &str) {
        self.0.name.push_str(text);
    }

    pub fn value(&mut self, field: &'static str, value: &impl Display) {
        let before = self.0.name.len();
        // Writing into a String cannot fail.
        let _ = write!(self.0.name, "{value}");
        if self.0.name.len() == before && self.0.empty_field.is_none() {
            self.0.empty_field = Some(field);
        }
    }

    pub fn finish(self) -> RenderedName {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NameError;

    fn render(slug: &str) -> RenderedName {
        let mut out = Renderer::new("org_<slug>");
        out.text("org_");
        out.value("slug", &slug);
        out.finish()
    }

    #[test]
    fn an_empty_value_is_refused_with_its_field_and_the_rendered_name() {
        let err = render("").tenant_name().unwrap_err();
        assert!(
            matches!(
                &err,
                Error::EmptyTemplateValue { template: "org_<slug>", field: "slug", name }
                    if name == "org_"
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "tenant template \"org_<slug>\": <slug> is empty, so the name would be \"org_\"; \
             every placeholder needs a non-empty value"
        );
    }

    #[test]
    fn an_identifier_template_needs_exactly_one_placeholder() {
        let one = IdentifierTemplate::parse("t_<slug>_eu").unwrap();
        assert_eq!(one.tenant_for("acme").unwrap().as_str(), "t_acme_eu");
        let err = IdentifierTemplate::parse("org_<region>_<slug>").unwrap_err();
        assert_eq!(
            err.to_string(),
            "tenant template \"org_<region>_<slug>\" cannot resolve a tenant from one public \
             identifier: it has 2 placeholders (<region>, <slug>); exactly one is needed"
        );
        assert!(matches!(
            IdentifierTemplate::parse("fixed"),
            Err(Error::TemplateNotResolvable { .. })
        ));
    }

    #[test]
    fn an_identifier_is_checked_as_part_of_the_whole_name() {
        let template = IdentifierTemplate::parse("org_<slug>").unwrap();
        assert!(matches!(
            template.tenant_for(""),
            Err(Error::EmptyTemplateValue { field: "slug", .. })
        ));
        for hostile in ["acme; DROP", "../x", "a\"b", "x'y", "Acme"] {
            assert!(
                matches!(
                    template.tenant_for(hostile),
                    Err(Error::InvalidName(NameError::InvalidChar { .. }))
                ),
                "{hostile}"
            );
        }
        assert!(matches!(
            template.tenant_for(&"a".repeat(60)),
            Err(Error::InvalidName(NameError::TooLong { len: 64, .. }))
        ));
    }

    #[test]
    fn values_are_checked_as_a_whole_name() {
        assert_eq!(render("acme").tenant_name().unwrap().as_str(), "org_acme");
        assert!(matches!(
            render("Acme").tenant_name(),
            Err(Error::InvalidName(NameError::InvalidChar { ch: 'A', .. }))
        ));
    }
}
