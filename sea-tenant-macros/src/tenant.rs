//! `#[tenant(...)]`: the owner entity's `TenantOwner` impl, `Model::tenant_name` and, unless
//! `hooks = custom`, its `ActiveModelBehavior`.

use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned};
use syn::parse::Parser;
use syn::{Ident, ItemStruct, LitBool, LitStr, Path};

struct Options {
    template: Option<LitStr>,
    migrator: Option<Path>,
    /// `hooks = custom`: the `custom` token, where a missing `#[sea_tenant::hooks]` is
    /// reported.
    custom_hooks: Option<Ident>,
    create: bool,
    rename: bool,
    drop: bool,
}

fn parse_options(attr: TokenStream2) -> syn::Result<Options> {
    let mut options = Options {
        template: None,
        migrator: None,
        custom_hooks: None,
        create: true,
        rename: true,
        drop: false,
    };
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("template") {
            options.template = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("migrator") {
            options.migrator = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("hooks") {
            let mode: Ident = meta.value()?.parse()?;
            if mode != "custom" {
                return Err(syn::Error::new_spanned(
                    &mode,
                    "expected `hooks = custom` (your own `impl ActiveModelBehavior` under \
                     `#[sea_tenant::hooks]`); without the option the attribute writes the impl",
                ));
            }
            options.custom_hooks = Some(mode);
        } else if meta.path.is_ident("create") {
            options.create = meta.value()?.parse::<LitBool>()?.value;
        } else if meta.path.is_ident("rename") {
            options.rename = meta.value()?.parse::<LitBool>()?.value;
        } else if meta.path.is_ident("drop") {
            options.drop = meta.value()?.parse::<LitBool>()?.value;
        } else {
            return Err(syn::Error::new_spanned(
                &meta.path,
                "unknown tenant option; expected one of: template, migrator, hooks, create, rename, drop",
            ));
        }
        Ok(())
    });
    parser.parse2(attr)?;
    Ok(options)
}

/// One piece of a template.
enum Part {
    Text(String),
    Field(Ident),
}

fn parse_template(lit: &LitStr, fields: &[Ident]) -> syn::Result<Vec<Part>> {
    let template = lit.value();
    let error = |message: String| syn::Error::new_spanned(lit, message);
    let mut parts = Vec::new();
    let mut rest = template.as_str();
    while !rest.is_empty() {
        match rest.find('<') {
            Some(0) => {
                let close = rest
                    .find('>')
                    .ok_or_else(|| error("unclosed `<` in tenant template".into()))?;
                let name = &rest[1..close];
                let field = fields.iter().find(|f| *f == name).ok_or_else(|| {
                    let known: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
                    error(format!(
                        "unknown field `{name}` in tenant template; the fields of Model are: {}",
                        known.join(", ")
                    ))
                })?;
                parts.push(Part::Field(field.clone()));
                rest = &rest[close + 1..];
            }
            found => {
                let end = found.unwrap_or(rest.len());
                let text = &rest[..end];
                if let Some(bad) = text
                    .chars()
                    .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
                {
                    return Err(error(format!(
                        "character {bad:?} in tenant template: the literal text of a schema name \
                         may only contain a-z, 0-9 and _"
                    )));
                }
                parts.push(Part::Text(text.to_owned()));
                rest = &rest[end..];
            }
        }
    }
    if !parts.iter().any(|p| matches!(p, Part::Field(_))) {
        return Err(error(format!(
            "tenant template {template:?} has no `<field>` placeholder: every owner row would \
             name the same schema"
        )));
    }
    Ok(parts)
}

pub(crate) fn expand(attr: TokenStream2, item: &ItemStruct) -> syn::Result<TokenStream2> {
    // `#[sea_orm::model]` copies foreign attributes onto `ModelEx`: expand only once.
    if item.ident != "Model" {
        return Ok(quote!(#item));
    }
    let options = parse_options(attr)?;
    let template = options.template.as_ref().ok_or_else(|| {
        syn::Error::new(
            Span::call_site(),
            "missing `template = \"...\"`, e.g. #[tenant(template = \"org_<id>\")]",
        )
    })?;
    let fields: Vec<Ident> = item.fields.iter().filter_map(|f| f.ident.clone()).collect();
    let parts = parse_template(template, &fields)?;
    let declared_migrations = match &options.migrator {
        Some(path) => quote_spanned! {path_span(path)=>
            ::core::option::Option::Some(::sea_tenant::owner::MigrationSet::of::<#path>())
        },
        None => quote!(::core::option::Option::None),
    };
    let template_fields: Vec<&Ident> = {
        let mut seen: Vec<&Ident> = Vec::new();
        for part in &parts {
            if let Part::Field(f) = part
                && !seen.contains(&f)
            {
                seen.push(f);
            }
        }
        seen
    };
    let render_model = parts.iter().map(|part| match part {
        Part::Text(text) => quote!(out.text(#text);),
        Part::Field(f) => {
            let name = f.to_string();
            quote!(out.value(#name, &model.#f);)
        }
    });
    let render_active = parts.iter().map(|part| match part {
        Part::Text(text) => quote!(out.text(#text);),
        Part::Field(f) => {
            let name = f.to_string();
            quote!(out.value(#name, am.#f.try_as_ref()?);)
        }
    });
    let (create, rename, drop) = (options.create, options.rename, options.drop);
    let template_text = template.value();
    let sea_orm = quote!(::sea_tenant::__private::sea_orm);
    let renderer = quote!(::sea_tenant::owner::__private::Renderer);
    let rendered = quote!(::sea_tenant::owner::RenderedName);
    let tenant_name_doc = format!(
        " The tenant schema this row owns: the template `{template_text}` rendered from its \
         fields and validated (every placeholder non-empty, a valid `TenantName`)."
    );
    let behavior = match &options.custom_hooks {
        None => generated_behavior(),
        Some(custom) => hooks_routed_assertion(custom),
    };

    Ok(quote! {
        #item

        impl ::sea_tenant::owner::TenantOwner for Entity {
            const TEMPLATE: &'static str = #template_text;
            const OPTIONS: ::sea_tenant::owner::OwnerOptions = ::sea_tenant::owner::OwnerOptions {
                create: #create,
                rename: #rename,
                drop: #drop,
            };

            fn declared_migrations(
            ) -> ::core::option::Option<::sea_tenant::owner::MigrationSet> {
                #declared_migrations
            }

            fn render(model: &Model) -> #rendered {
                let mut out = #renderer::new(#template_text);
                #(#render_model)*
                out.finish()
            }

            fn render_active(am: &ActiveModel) -> ::core::option::Option<#rendered> {
                let mut out = #renderer::new(#template_text);
                #(#render_active)*
                ::core::option::Option::Some(out.finish())
            }

            fn template_set(am: &ActiveModel) -> bool {
                false #(|| am.#template_fields.is_set())*
            }

            fn fill_template(am: &mut ActiveModel, model: &Model) {
                #(
                    if am.#template_fields.is_not_set() {
                        am.#template_fields = #sea_orm::ActiveValue::Unchanged(
                            ::core::clone::Clone::clone(&model.#template_fields),
                        );
                    }
                )*
            }

            fn template_update(am: &ActiveModel) -> ActiveModel {
                let mut out = <ActiveModel as #sea_orm::ActiveModelTrait>::default();
                #(
                    if let ::core::option::Option::Some(value) = am.#template_fields.try_as_ref() {
                        out.#template_fields = #sea_orm::ActiveValue::Set(
                            ::core::clone::Clone::clone(value),
                        );
                    }
                )*
                out
            }
        }

        impl Model {
            #[doc = #tenant_name_doc]
            pub fn tenant_name(
                &self,
            ) -> ::core::result::Result<::sea_tenant::TenantName, ::sea_tenant::Error> {
                <Entity as ::sea_tenant::owner::TenantOwner>::tenant_of(self)
            }
        }

        #behavior
    })
}

/// The span of a `migrator = …` path, so that a type that is no `MigratorTrait` is reported
/// there.
fn path_span(path: &Path) -> Span {
    path.segments
        .last()
        .map(|segment| segment.ident.span())
        .unwrap_or_else(Span::call_site)
}

/// `impl ActiveModelBehavior for ActiveModel` running sea-tenant's four hooks. Spanned at
/// the attribute: a leftover impl of the user's is reported as conflicting with it (E0119).
fn generated_behavior() -> TokenStream2 {
    let sea_orm = quote!(::sea_tenant::__private::sea_orm);
    quote! {
        #[::sea_tenant::__private::async_trait]
        impl #sea_orm::ActiveModelBehavior for ActiveModel {
            async fn before_save<C>(
                self,
                db: &C,
                insert: bool,
            ) -> ::core::result::Result<Self, #sea_orm::DbErr>
            where
                C: #sea_orm::ConnectionTrait,
            {
                ::sea_tenant::owner::before_save::<Entity, C>(self, db, insert).await
            }

            async fn after_save<C>(
                model: Model,
                db: &C,
                insert: bool,
            ) -> ::core::result::Result<Model, #sea_orm::DbErr>
            where
                C: #sea_orm::ConnectionTrait,
            {
                ::sea_tenant::owner::after_save::<Entity, C>(model, db, insert).await
            }

            async fn before_delete<C>(
                self,
                db: &C,
            ) -> ::core::result::Result<Self, #sea_orm::DbErr>
            where
                C: #sea_orm::ConnectionTrait,
            {
                ::sea_tenant::owner::before_delete::<Entity, C>(self, db).await
            }

            async fn after_delete<C>(
                self,
                db: &C,
            ) -> ::core::result::Result<Self, #sea_orm::DbErr>
            where
                C: #sea_orm::ConnectionTrait,
            {
                ::sea_tenant::owner::after_delete::<Entity, C>(self, db).await
            }
        }
    }
}

/// With `hooks = custom`: a compile-time check, reported at `custom`, that the entity's
/// `ActiveModelBehavior` carries `#[sea_tenant::hooks]` (which alone implements the marker).
fn hooks_routed_assertion(custom: &Ident) -> TokenStream2 {
    quote_spanned! {custom.span()=>
        const _: fn() = || {
            fn hooks_routed<T: ::sea_tenant::owner::__private::HooksRouted>() {}
            hooks_routed::<ActiveModel>();
        };
    }
}
