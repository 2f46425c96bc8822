//! Code generation for `#[profile_job]`.
//!
//! A sync function gets a drop guard created before its body, so `return`, `?`
//! and panics all leave through the guard. A function returning a `Result`
//! runs its body in a closure, so the guard can see whether it returned `Err`.
//! An `async fn` wraps its body in an `async move` block driven by a
//! `JobFuture`, which attributes allocations per poll.
//!
//! The user's body keeps its own tokens and spans, nested in a block of its
//! own (so its `use` items cannot shadow the names the expansion uses). Every
//! generated path is absolute and every generated local starts with
//! `__profiling_`.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{AttrStyle, Block, ItemFn, Path, ReturnType, Signature, Type};

use crate::args::JobArgs;

/// The attribute's entry point: errors become `compile_error!`s followed by
/// the user's item unchanged, so one mistake does not cascade into others.
pub(crate) fn profile_job(args: TokenStream, item: TokenStream) -> TokenStream {
    match try_expand(args, item.clone()) {
        Ok(expanded) => expanded,
        Err(error) => {
            let mut tokens = error.into_compile_error();
            tokens.extend(item);
            tokens
        }
    }
}

fn try_expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args = JobArgs::parse(args);
    let function = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(function) => function,
        Err(parse_error) => {
            return match not_a_function(&item) {
                Some(error) => Err(combine(args.err(), error)),
                // A function whose body does not parse: leave it to rustc to
                // report the syntax error where it is.
                None if args.is_ok() => Err(parse_error),
                None => Err(combine(args.err(), parse_error)),
            };
        }
    };
    let checked = check_signature(&function.sig);
    let args = match (args, checked) {
        (Ok(args), Ok(())) => args,
        (Ok(_), Err(error)) | (Err(error), Ok(())) => return Err(error),
        (Err(mut error), Err(more)) => {
            error.combine(more);
            return Err(error);
        }
    };
    if !cfg!(feature = "enabled") {
        // Profiling is off: the function exactly as written.
        return Ok(item);
    }
    Ok(expand_function(&args, function))
}

fn combine(first: Option<syn::Error>, second: syn::Error) -> syn::Error {
    match first {
        Some(mut error) => {
            error.combine(second);
            error
        }
        None => second,
    }
}

/// If `item` is not a function, the error to report, spanned at the keyword
/// that says what it is instead.
fn not_a_function(item: &TokenStream) -> Option<syn::Error> {
    const KINDS: [&str; 12] = [
        "struct",
        "enum",
        "union",
        "trait",
        "impl",
        "mod",
        "type",
        "static",
        "use",
        "macro_rules",
        "let",
        "extern",
    ];
    let mut tokens = item.clone().into_iter().peekable();
    while let Some(token) = tokens.next() {
        match &token {
            // `#[attr]`: skip the bracket group after the `#`.
            TokenTree::Punct(punct) if punct.as_char() == '#' => {
                tokens.next();
            }
            TokenTree::Ident(ident) if ident == "fn" => return None,
            TokenTree::Ident(ident) if ident == "extern" => {
                // `extern "C" fn` is a function; `extern crate`/`extern {}` not.
                match tokens.peek() {
                    Some(TokenTree::Literal(_)) | Some(TokenTree::Ident(_)) => continue,
                    _ => return Some(not_a_function_error(ident.span(), "extern block")),
                }
            }
            TokenTree::Ident(ident) if ident == "const" => {
                // `const fn` is a function (rejected later); `const X` is not.
                if let Some(TokenTree::Ident(next)) = tokens.peek() {
                    if next == "fn" || next == "unsafe" || next == "async" || next == "extern" {
                        continue;
                    }
                }
                return Some(not_a_function_error(ident.span(), "const item"));
            }
            TokenTree::Ident(ident) if KINDS.contains(&ident.to_string().as_str()) => {
                return Some(not_a_function_error(ident.span(), &ident.to_string()));
            }
            TokenTree::Group(_) | TokenTree::Literal(_) => {}
            TokenTree::Ident(_) | TokenTree::Punct(_) => {}
        }
    }
    Some(syn::Error::new(
        Span::call_site(),
        "#[profile_job] can only be applied to functions",
    ))
}

fn not_a_function_error(span: Span, kind: &str) -> syn::Error {
    syn::Error::new(
        span,
        format!("#[profile_job] can only be applied to functions, not to a {kind}"),
    )
}

/// Rejects what cannot be recorded, each error at its token.
fn check_signature(sig: &Signature) -> syn::Result<()> {
    let mut errors: Option<syn::Error> = None;
    let mut add = |error: syn::Error| match &mut errors {
        Some(errors) => errors.combine(error),
        None => errors = Some(error),
    };
    if let Some(constness) = &sig.constness {
        add(syn::Error::new_spanned(
            constness,
            "#[profile_job] cannot be used on a `const fn`: it records calls at run time",
        ));
    }
    if let Some(abi) = &sig.abi {
        let is_rust = abi.name.as_ref().is_some_and(|name| name.value() == "Rust");
        if !is_rust {
            add(syn::Error::new_spanned(
                abi,
                "#[profile_job] cannot be used on an `extern` fn: a panic there aborts before the \
                 call is recorded; annotate a Rust function that it calls instead",
            ));
        }
    }
    if let Some(variadic) = &sig.variadic {
        add(syn::Error::new_spanned(
            variadic,
            "#[profile_job] cannot be used on a C-variadic function",
        ));
    }
    errors.map_or(Ok(()), Err)
}

fn expand_function(args: &JobArgs, function: ItemFn) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    let (inner_attrs, outer_attrs): (Vec<_>, Vec<_>) = attrs
        .into_iter()
        .partition(|attr| matches!(attr.style, AttrStyle::Inner(_)));
    let krate: Path = args
        .krate
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(::profiling_alloc));
    let ident = &sig.ident;
    let name = match &args.name {
        Some(name) => name.to_token_stream(),
        None => {
            let fn_name = ident.to_string();
            let fn_name = fn_name.strip_prefix("r#").unwrap_or(&fn_name);
            quote!(::core::concat!(::core::module_path!(), "::", #fn_name))
        }
    };
    let line = quote_spanned!(ident.span()=> ::core::line!());
    let site = quote! {
        static __PROFILING_SITE: #krate::__private::JobSite = #krate::__private::JobSite::new(
            #name,
            ::core::module_path!(),
            ::core::file!(),
            #line,
        );
    };
    let returns_result = returns_result(&sig.output);
    let body = if sig.asyncness.is_some() {
        let classify = if returns_result {
            quote!(ErrIsError)
        } else {
            quote!(NeverError)
        };
        let inner = pinned_block(&sig, &block);
        quote! {
            #site
            #krate::__private::JobFuture::<_, #krate::__private::#classify>::new(
                &__PROFILING_SITE,
                async move #inner,
            )
            .await
        }
    } else if returns_result {
        let inner = pinned_block(&sig, &block);
        quote! {
            #site
            let mut __profiling_guard = #krate::__private::JobGuard::enter(&__PROFILING_SITE);
            #[allow(clippy::redundant_closure_call)]
            let __profiling_result = (move || #inner)();
            __profiling_guard.set_failed(::core::result::Result::is_err(&__profiling_result));
            __profiling_result
        }
    } else {
        quote! {
            #site
            let __profiling_guard = #krate::__private::JobGuard::enter(&__PROFILING_SITE);
            #block
        }
    };
    let body = quote! { { #(#inner_attrs)* #body } };
    // The function's own braces keep their span, so errors about the body as
    // a whole point at the user's block.
    let body = respan_braces(body, block.brace_token.span.join());
    quote! {
        #(#outer_attrs)*
        #vis #sig #body
    }
}

/// `{ <fake return> <user block> }`: the fake return pins the type of the
/// closure or async block the body moves into to the function's declared
/// return type, so `?`, `return` and `.into()` infer as they did in the
/// function (the technique of tracing's `#[instrument]`).
fn pinned_block(sig: &Signature, block: &Block) -> TokenStream {
    // Spanned at the declared return type, so that a mismatch in the body is
    // explained by the user's signature, not by the attribute.
    let (return_type, span) = match &sig.output {
        ReturnType::Default => (quote!(()), sig.ident.span()),
        ReturnType::Type(_, ty) => {
            let mut ty = (**ty).clone();
            ImplTraitEraser.visit_type_mut(&mut ty);
            let span = ty.span();
            (ty.to_token_stream(), span)
        }
    };
    let fake_return = quote_spanned! {span=>
        #[allow(
            unreachable_code,
            clippy::diverging_sub_expression,
            clippy::empty_loop,
            clippy::let_unit_value,
            clippy::needless_return
        )]
        if false {
            let __profiling_fake_return: #return_type = loop {};
            return __profiling_fake_return;
        }
    };
    quote! {
        {
            #fake_return
            #block
        }
    }
}

/// Whether the declared return type is a `Result` (by its last path segment:
/// `Result`, `io::Result`, `anyhow::Result` ...).
fn returns_result(output: &ReturnType) -> bool {
    match output {
        ReturnType::Type(_, ty) => match &**ty {
            Type::Path(path) => {
                path.qself.is_none()
                    && path
                        .path
                        .segments
                        .last()
                        .is_some_and(|segment| segment.ident == "Result")
            }
            _ => false,
        },
        ReturnType::Default => false,
    }
}

/// Replaces `impl Trait` with `_`, which a `let` type annotation accepts.
struct ImplTraitEraser;

impl VisitMut for ImplTraitEraser {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::ImplTrait(impl_trait) = ty {
            *ty = Type::Infer(syn::TypeInfer {
                underscore_token: syn::Token![_](impl_trait.span()),
            });
            return;
        }
        syn::visit_mut::visit_type_mut(self, ty);
    }
}

/// Gives the outer braces of `body` (a single brace group) the span `span`.
fn respan_braces(body: TokenStream, span: Span) -> TokenStream {
    body.into_iter()
        .map(|token| match token {
            TokenTree::Group(group) => {
                let mut respanned = proc_macro2::Group::new(group.delimiter(), group.stream());
                respanned.set_span(span);
                TokenTree::Group(respanned)
            }
            other => other,
        })
        .collect()
}
