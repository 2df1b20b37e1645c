//! `#[sea_tenant::hooks]`: an owner entity's own `ActiveModelBehavior`, with sea-tenant's
//! hooks run around each of its hooks.
//!
//! Each hook the user wrote moves, unchanged, into an inherent `async fn` of the active
//! model; the trait method calls it and sea-tenant's hook in order. Keeping the user's
//! signature and body intact means their parameter patterns, `return`s and `?`s mean what
//! they wrote.

use proc_macro2::{Ident, TokenStream as TokenStream2, TokenTree};
use quote::{format_ident, quote};
use syn::{ImplItem, ImplItemFn, ItemImpl, Visibility, parse_quote};

/// The hooks of `ActiveModelBehavior` sea-tenant has one of.
const HOOKS: [&str; 4] = ["before_save", "after_save", "before_delete", "after_delete"];

pub(crate) fn expand(attr: TokenStream2, mut item: ItemImpl) -> syn::Result<TokenStream2> {
    if !attr.is_empty() {
        return Err(syn::Error::new_spanned(
            attr,
            "#[sea_tenant::hooks] takes no options",
        ));
    }
    if !is_behavior(&item) {
        return Err(syn::Error::new_spanned(
            &item.self_ty,
            "#[sea_tenant::hooks] goes on the owner entity's \
             `impl ActiveModelBehavior for ActiveModel`",
        ));
    }

    let mut own_hooks: Vec<ImplItemFn> = Vec::new();
    let mut written: Vec<&str> = Vec::new();
    for impl_item in &mut item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        let Some(hook) = HOOKS.iter().copied().find(|h| method.sig.ident == h) else {
            continue;
        };
        if method.sig.asyncness.is_none() {
            return Err(syn::Error::new_spanned(
                &method.sig.ident,
                "#[sea_tenant::hooks] must come above #[async_trait] (or replace it: it adds \
                 #[async_trait] itself); it needs the hooks as written, as `async fn`s",
            ));
        }
        refuse_direct_calls(
            method
                .block
                .stmts
                .iter()
                .map(quote::ToTokens::to_token_stream),
        )?;
        let own = format_ident!("__sea_tenant_own_{}", hook);
        let mut moved = method.clone();
        moved.sig.ident = own.clone();
        moved.vis = Visibility::Inherited;
        own_hooks.push(moved);
        *method = routed(hook, Some(&own));
        written.push(hook);
    }
    for hook in HOOKS {
        if !written.contains(&hook) {
            item.items.push(ImplItem::Fn(routed(hook, None)));
        }
    }
    add_async_trait(&mut item);

    let self_ty = &item.self_ty;
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    Ok(quote! {
        #item

        impl #impl_generics #self_ty #where_clause {
            #(#own_hooks)*
        }

        #[automatically_derived]
        impl #impl_generics ::sea_tenant::owner::__private::HooksRouted for #self_ty
            #where_clause {}
    })
}

/// The impl as written (with `#[async_trait]`) and the marker: what is emitted next to an
/// error of ours, so that the error is the only one.
pub(crate) fn as_written(mut item: ItemImpl) -> TokenStream2 {
    if !is_behavior(&item) {
        return quote!(#item);
    }
    add_async_trait(&mut item);
    let self_ty = &item.self_ty;
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    quote! {
        #item
        impl #impl_generics ::sea_tenant::owner::__private::HooksRouted for #self_ty
            #where_clause {}
    }
}

fn is_behavior(item: &ItemImpl) -> bool {
    item.trait_.as_ref().is_some_and(|(_, path, _)| {
        path.segments
            .last()
            .is_some_and(|s| s.ident == "ActiveModelBehavior")
    })
}

fn add_async_trait(item: &mut ItemImpl) {
    let has_async_trait = item.attrs.iter().any(|attr| {
        attr.path()
            .segments
            .last()
            .is_some_and(|s| s.ident == "async_trait")
    });
    if !has_async_trait {
        item.attrs
            .insert(0, parse_quote!(#[::sea_tenant::__private::async_trait]));
    }
}

/// The trait method of `hook`: sea-tenant's hook and the user's (`own`, if written), the
/// user's first before an operation and last after it.
fn routed(hook: &str, own: Option<&Ident>) -> ImplItemFn {
    let sea_orm = quote!(::sea_tenant::__private::sea_orm);
    let entity = quote!(<Self as #sea_orm::ActiveModelTrait>::Entity);
    let model = quote!(<#entity as #sea_orm::EntityTrait>::Model);
    let result = |ok| quote!(::core::result::Result<#ok, #sea_orm::DbErr>);
    match hook {
        "before_save" => {
            let result = result(quote!(Self));
            let own = own.map(|own| quote!(let this = Self::#own(this, db, insert).await?;));
            parse_quote! {
                async fn before_save<C>(self, db: &C, insert: bool) -> #result
                where
                    C: #sea_orm::ConnectionTrait,
                {
                    let this = self;
                    #own
                    ::sea_tenant::owner::before_save::<#entity, C>(this, db, insert).await
                }
            }
        }
        "after_save" => {
            let result = result(model.clone());
            let own = own.map(|own| quote!(let model = Self::#own(model, db, insert).await?;));
            parse_quote! {
                async fn after_save<C>(model: #model, db: &C, insert: bool) -> #result
                where
                    C: #sea_orm::ConnectionTrait,
                {
                    let model = ::sea_tenant::owner::after_save::<#entity, C>(model, db, insert)
                        .await?;
                    #own
                    ::core::result::Result::Ok(model)
                }
            }
        }
        "before_delete" => {
            let result = result(quote!(Self));
            let own = own.map(|own| quote!(let this = Self::#own(this, db).await?;));
            parse_quote! {
                async fn before_delete<C>(self, db: &C) -> #result
                where
                    C: #sea_orm::ConnectionTrait,
                {
                    let this = self;
                    #own
                    ::sea_tenant::owner::before_delete::<#entity, C>(this, db).await
                }
            }
        }
        _ => {
            let result = result(quote!(Self));
            let own = own.map(|own| quote!(let this = Self::#own(this, db).await?;));
            parse_quote! {
                async fn after_delete<C>(self, db: &C) -> #result
                where
                    C: #sea_orm::ConnectionTrait,
                {
                    let this = ::sea_tenant::owner::after_delete::<#entity, C>(self, db).await?;
                    #own
                    ::core::result::Result::Ok(this)
                }
            }
        }
    }
}

/// A hook body that calls `owner::before_save` (etc.) itself would run sea-tenant's hook
/// twice: refused at the call.
fn refuse_direct_calls(tokens: impl Iterator<Item = TokenStream2>) -> syn::Result<()> {
    for stream in tokens {
        let trees: Vec<TokenTree> = stream.into_iter().collect();
        for (i, tree) in trees.iter().enumerate() {
            if let TokenTree::Group(group) = tree {
                refuse_direct_calls(std::iter::once(group.stream()))?;
            }
            let [
                TokenTree::Ident(owner),
                TokenTree::Punct(a),
                TokenTree::Punct(b),
                TokenTree::Ident(hook),
            ] = trees.get(i..i + 4).unwrap_or_default()
            else {
                continue;
            };
            if owner == "owner"
                && a.as_char() == ':'
                && b.as_char() == ':'
                && HOOKS.iter().any(|h| hook == h)
            {
                return Err(syn::Error::new(
                    hook.span(),
                    format!(
                        "#[sea_tenant::hooks] already runs sea-tenant's `{hook}` around your \
                         hooks: remove this call (it would run twice)"
                    ),
                ));
            }
        }
    }
    Ok(())
}
