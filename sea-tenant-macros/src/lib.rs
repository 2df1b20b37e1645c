//! Attribute macros for sea-tenant. Use them through `sea_tenant` (`sea_tenant::tenant`,
//! `sea_tenant::hooks`), which the generated code refers to.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;

mod hooks;
mod tenant;

/// Marks the `Model` of a SeaORM entity as the owner of tenant schemas, and writes the
/// entity's `impl ActiveModelBehavior for ActiveModel`: delete the empty one SeaORM's code
/// generator wrote (left in place, it is a second impl: error E0119, "conflicting
/// implementations of trait `ActiveModelBehavior`", pointing at this attribute).
///
/// ```ignore
/// #[sea_tenant::tenant(template = "org_<slug>")]
/// #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
/// #[sea_orm(table_name = "organization")]
/// pub struct Model { #[sea_orm(primary_key)] pub id: i32, pub slug: String }
/// // no `impl ActiveModelBehavior for ActiveModel {}`: the attribute writes it
/// ```
///
/// Options:
/// - `template = "..."` (required): literal text (`a-z`, `0-9`, `_`) and `<field>`
///   placeholders, at least one; each field's value is written with `Display` and may not
///   be empty.
/// - `migrator = path::To::Migrations`: the `MigratorTrait` set run in a new tenant schema.
///   Without it, the application registers the set where it starts
///   (`sea_tenant::owner::register_migrations::<Entity, Migrator>()`), so the entity crate
///   need not depend on the tenant migration crate.
/// - `hooks = custom`: the entity has hook logic of its own. The attribute then writes no
///   `ActiveModelBehavior`; yours must carry `#[sea_tenant::hooks]`, which runs sea-tenant's
///   hooks around your code (forgetting it is a compile error).
/// - `create = bool` (default `true`), `rename = bool` (default `true`), `drop = bool`
///   (default `false`).
///
/// It implements `sea_tenant::owner::TenantOwner` for the module's `Entity` and adds
/// `Model::tenant_name()`. Under `#[sea_orm::model]`, which copies the attribute onto
/// `ModelEx` too, only the struct named `Model` is expanded.
#[proc_macro_attribute]
pub fn tenant(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item2: TokenStream2 = item.clone().into();
    let expanded = match syn::parse::<syn::ItemStruct>(item) {
        Ok(item) => tenant::expand(attr.into(), &item),
        Err(err) => Err(err),
    };
    keep_item_on_error(expanded, item2)
}

/// Routes an owner entity's own `impl ActiveModelBehavior for ActiveModel` through
/// sea-tenant, for an entity declared with `#[sea_tenant::tenant(..., hooks = custom)]`.
///
/// Your `before_save` and `before_delete` run first, then sea-tenant's; sea-tenant's
/// `after_save` and `after_delete` run first, then yours (so your `after_save` of an insert
/// finds the tenant schema created). Hooks you do not write are sea-tenant's alone. Write the
/// hooks as plain `async fn`s: the attribute adds `#[async_trait]` (if you keep your own,
/// put it below this one).
///
/// ```ignore
/// #[sea_tenant::hooks]
/// impl ActiveModelBehavior for ActiveModel {
///     async fn before_save<C>(mut self, _db: &C, _insert: bool) -> Result<Self, DbErr>
///     where
///         C: ConnectionTrait,
///     {
///         if let Some(slug) = self.slug.try_as_ref() {
///             self.slug = Set(slug.to_lowercase());
///         }
///         Ok(self)
///     }
/// }
/// ```
#[proc_macro_attribute]
pub fn hooks(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item2: TokenStream2 = item.clone().into();
    match syn::parse::<syn::ItemImpl>(item) {
        Ok(item) => match hooks::expand(attr.into(), item.clone()) {
            Ok(tokens) => tokens.into(),
            Err(err) => {
                // The impl as the user meant it, so that only our error is reported.
                let err = err.to_compile_error();
                let kept = hooks::as_written(item);
                quote!(#kept #err).into()
            }
        },
        Err(err) => keep_item_on_error(Err(err), item2),
    }
}

/// On an error, keeps the item as written so that the user sees only our error, not a
/// cascade of missing items.
fn keep_item_on_error(expanded: syn::Result<TokenStream2>, item: TokenStream2) -> TokenStream {
    match expanded {
        Ok(tokens) => tokens.into(),
        Err(err) => {
            let err = err.to_compile_error();
            quote!(#item #err).into()
        }
    }
}
