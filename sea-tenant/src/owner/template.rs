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
    fn values_are_checked_as_a_whole_name() {
        assert_eq!(render("acme").tenant_name().unwrap().as_str(), "org_acme");
        assert!(matches!(
            render("Acme").tenant_name(),
            Err(Error::InvalidName(NameError::InvalidChar { ch: 'A', .. }))
        ));
    }
}
