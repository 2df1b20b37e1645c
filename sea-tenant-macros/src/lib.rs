//! Attribute macros for sea-tenant. Use them through `sea_tenant` (`sea_tenant::tenant`), which
//! the generated code refers to.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::quote;
use syn::parse::Parser;
use syn::{Ident, ItemStruct, LitBool, LitStr, Path};

/// Marks the `Model` of a SeaORM entity as the owner of tenant schemas.
///
/// ```ignore
/// #[sea_tenant::tenant(template = "org_<id>", migrator = crate::tenant_migration::Migrator)]
/// #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
/// #[sea_orm(table_name = "organization")]
/// pub struct Model { #[sea_orm(primary_key)] pub id: i32, pub name: String }
/// ```
///
/// Options:
/// - `template = "..."` (required): literal text (`a-z`, `0-9`, `_`) and `<field>`
///   placeholders, at least one; each field's value is written with `Display`.
/// - `migrator = path::To::Migrations` (required unless `create = false`): the
///   `MigratorTrait` set run in a new tenant schema.
/// - `create = bool` (default `true`), `rename = bool` (default `true`), `drop = bool`
///   (default `false`).
///
/// It implements `sea_tenant::owner::TenantOwner` for the module's `Entity`; the hooks are
/// wired by `sea_tenant::tenant_behavior!()` or by a hand-written `ActiveModelBehavior`.
/// Under `#[sea_orm::model]`, which copies the attribute onto `ModelEx` too, only the struct
/// named `Model` is expanded.
#[proc_macro_attribute]
pub fn tenant(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item2: TokenStream2 = item.clone().into();
    let expanded = match syn::parse::<ItemStruct>(item) {
        Ok(item) => match expand(attr.into(), &item) {
            Ok(tokens) => tokens,
            // Keep the struct so the user sees only our error, not a cascade of missing items.
            Err(err) => {
                let err = err.to_compile_error();
                quote!(#item2 #err)
            }
        },
        Err(err) => {
            let err = err.to_compile_error();
            quote!(#item2 #err)
        }
    };
    expanded.into()
}

struct Options {
    template: Option<LitStr>,
    migrator: Option<Path>,
    create: bool,
    rename: bool,
    drop: bool,
}

fn parse_options(attr: TokenStream2) -> syn::Result<Options> {
    let mut options = Options {
        template: None,
        migrator: None,
        create: true,
        rename: true,
        drop: false,
    };
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("template") {
            options.template = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("migrator") {
            options.migrator = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("create") {
            options.create = meta.value()?.parse::<LitBool>()?.value;
        } else if meta.path.is_ident("rename") {
            options.rename = meta.value()?.parse::<LitBool>()?.value;
        } else if meta.path.is_ident("drop") {
            options.drop = meta.value()?.parse::<LitBool>()?.value;
        } else {
            return Err(syn::Error::new_spanned(
                &meta.path,
                "unknown tenant option; expected one of: template, migrator, create, rename, drop",
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

fn expand(attr: TokenStream2, item: &ItemStruct) -> syn::Result<TokenStream2> {
    // `#[sea_orm::model]` copies foreign attributes onto `ModelEx`: expand only once.
    if item.ident != "Model" {
        return Ok(quote!(#item));
    }
    let options = parse_options(attr)?;
    let template = options.template.as_ref().ok_or_else(|| {
        syn::Error::new(
            Span::call_site(),
            "missing `template = \"...\"`, e.g. #[tenant(template = \"org_<id>\", migrator = ...)]",
        )
    })?;
    let fields: Vec<Ident> = item.fields.iter().filter_map(|f| f.ident.clone()).collect();
    let parts = parse_template(template, &fields)?;
    let migrator = match (&options.migrator, options.create) {
        (Some(path), _) => quote!(#path),
        (None, false) => quote!(::sea_tenant::owner::NoMigrations),
        (None, true) => {
            return Err(syn::Error::new(
                Span::call_site(),
                "missing `migrator = path::To::TenantMigrations` (the MigratorTrait set run in \
                 each new tenant schema), or `create = false`",
            ));
        }
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
        Part::Text(text) => quote!(out.push_str(#text);),
        Part::Field(f) => quote!(::sea_tenant::owner::__private::push_value(&mut out, &model.#f);),
    });
    let render_active = parts.iter().map(|part| match part {
        Part::Text(text) => quote!(out.push_str(#text);),
        Part::Field(f) => {
            quote!(::sea_tenant::owner::__private::push_value(&mut out, am.#f.try_as_ref()?);)
        }
    });
    let (create, rename, drop) = (options.create, options.rename, options.drop);
    let template_text = template.value();
    let sea_orm = quote!(::sea_tenant::__private::sea_orm);

    Ok(quote! {
        #item

        impl ::sea_tenant::owner::TenantOwner for Entity {
            type Migrator = #migrator;
            const TEMPLATE: &'static str = #template_text;
            const OPTIONS: ::sea_tenant::owner::OwnerOptions = ::sea_tenant::owner::OwnerOptions {
                create: #create,
                rename: #rename,
                drop: #drop,
            };

            fn render(model: &Model) -> ::std::string::String {
                let mut out = ::std::string::String::new();
                #(#render_model)*
                out
            }

            fn render_active(am: &ActiveModel) -> ::core::option::Option<::std::string::String> {
                let mut out = ::std::string::String::new();
                #(#render_active)*
                ::core::option::Option::Some(out)
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
    })
}
