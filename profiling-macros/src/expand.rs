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
use syn::{AttrStyle, Block, Expr, ItemFn, Path, ReturnType, Signature, Stmt, Type};

use crate::args::JobArgs;
use crate::detect::{returned_future, returns_result, ReturnedFuture};
use crate::reject::{bodiless_declaration, check_signature, combine, not_a_function};

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
        Err(_) => {
            return match not_a_function(&item).or_else(|| bodiless_declaration(&item)) {
                Some(error) => Err(combine(args.err(), error)),
                // A function whose body does not parse: leave it unchanged, so
                // that rustc reports the syntax error once, where it is.
                None => match args {
                    Ok(_) => Ok(item),
                    Err(error) => Err(error),
                },
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

/// What every shape of expansion needs: the paths it calls and the span of
/// its own code.
struct Expansion {
    /// `<krate>::__private`.
    private: TokenStream,
    /// Generated code is spanned at `mixed_site`: its locals are invisible to
    /// the user's body (and the other way round).
    hygienic: Span,
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
    let ex = Expansion {
        private: quote!(#krate::__private),
        hygienic: Span::mixed_site(),
    };
    let site = ex.site(args, &sig);
    let body = if sig.asyncness.is_some() {
        ex.async_body(&sig, &block)
    } else if let Some(shape) = returned_future(&block) {
        ex.returned_future_body(shape, &block)
    } else if returns_result(&sig.output) {
        ex.result_body(&sig, &block)
    } else {
        ex.plain_body(&block)
    };
    let body = quote! { { #(#inner_attrs)* #site #body } };
    // The function's own braces keep their span, so errors about the body as
    // a whole point at the user's block.
    let body = respan_braces(body, block.brace_token.span.join());
    quote! {
        #(#outer_attrs)*
        #vis #sig #body
    }
}

impl Expansion {
    /// The `static __PROFILING_SITE` that identifies the job.
    fn site(&self, args: &JobArgs, sig: &Signature) -> TokenStream {
        let Expansion { private, hygienic } = self;
        let line = quote_spanned!(sig.ident.span()=> ::core::line!());
        match &args.name {
            Some(name) => quote_spanned! {*hygienic=>
                static __PROFILING_SITE: #private::JobSite = #private::JobSite::new(
                    #name, ::core::module_path!(), ::core::file!(), #line,
                );
            },
            // The job is named after the function, whose full path (with the
            // type of an `impl` block, which a macro cannot see) is the type
            // name of an item declared inside it.
            None => quote_spanned! {*hygienic=>
                fn __profiling_name() -> &'static str {
                    ::core::any::type_name_of_val(&__profiling_name)
                }
                static __PROFILING_SITE: #private::JobSite = #private::JobSite::named_after(
                    __profiling_name, ::core::module_path!(), ::core::file!(), #line,
                );
            },
        }
    }

    /// Whether `value` (a reference) is an `Err`, for any type (see
    /// profiling-alloc's `job::outcome`). Its type must be known where this
    /// is checked: a closure parameter typed by inference from this very use
    /// would always be taken for a `Result`.
    fn is_error(&self, value: TokenStream) -> TokenStream {
        let Expansion { private, hygienic } = self;
        quote_spanned! {*hygienic=>
            {
                #[allow(unused_imports)]
                use #private::{ErrorOutcome as _, OtherOutcome as _};
                (&&#private::Outcome(#value)).is_error()
            }
        }
    }

    /// `future` as a call of the job: a `JobFuture`. The classifying
    /// closure's parameter type comes from `JobFuture::new`'s bound, known
    /// from the future before the closure is checked.
    fn job_future(&self, future: TokenStream) -> TokenStream {
        let Expansion { private, hygienic } = self;
        let check = self.is_error(quote_spanned!(*hygienic=> __profiling_output));
        quote_spanned! {*hygienic=>
            #private::JobFuture::new(
                &__PROFILING_SITE, #future, |__profiling_output| #check
            )
        }
    }

    /// An `async fn`: its body becomes an `async move` block driven by a
    /// `JobFuture`, which measures each poll.
    fn async_body(&self, sig: &Signature, block: &Block) -> TokenStream {
        let inner = pinned_block(sig, block);
        let future = self.job_future(quote!(async move #inner));
        quote_spanned! {self.hygienic=> #future.await }
    }

    /// A sync function that builds and returns a future: the job is the
    /// future, not its construction.
    fn returned_future_body(&self, shape: ReturnedFuture, block: &Block) -> TokenStream {
        let mut block = block.clone();
        let Some(Stmt::Expr(last, None)) = block.stmts.pop() else {
            unreachable!("returned_future checked the last statement");
        };
        let last = match (shape, last) {
            (ReturnedFuture::BoxPinAsync, Expr::Call(mut call)) => {
                let future = call.args.pop().map(|pair| pair.into_value());
                let wrapped = self.job_future(future.to_token_stream());
                call.args.push(syn::parse_quote!(#wrapped));
                call.to_token_stream()
            }
            (_, last) => self.job_future(last.to_token_stream()),
        };
        let statements = &block.stmts;
        quote_spanned! {self.hygienic=> #(#statements)* #last }
    }

    /// A function returning a `Result`: the body runs in a closure so that
    /// the guard sees the `Result`, whatever `return` or `?` produced it.
    fn result_body(&self, sig: &Signature, block: &Block) -> TokenStream {
        let Expansion { private, hygienic } = self;
        let inner = pinned_block(sig, block);
        let failed = self.is_error(quote_spanned!(*hygienic=> &__profiling_result));
        quote_spanned! {*hygienic=>
            let mut __profiling_guard = #private::JobGuard::enter(&__PROFILING_SITE);
            let __profiling_result = #private::call_once(move || #inner);
            __profiling_guard.set_failed(#failed);
            __profiling_result
        }
    }

    /// Any other function: the guard is the scrutinee of a `match` in tail
    /// position, a temporary that lives to the end of the function and,
    /// created first, is dropped last, after the temporaries of the body's
    /// last expression (whose frees are then counted inside the job).
    /// Binding it to a local instead would drop it before them (edition
    /// 2021).
    fn plain_body(&self, block: &Block) -> TokenStream {
        let Expansion { private, hygienic } = self;
        quote_spanned! {*hygienic=>
            match #private::JobGuard::enter(&__PROFILING_SITE) {
                _ => #block
            }
        }
    }
}

/// `{ <fake return> match () { _ => <user block> } }`: the fake return pins
/// the type of the closure or async block the body moves into to the
/// function's declared return type, so `?`, `return` and `.into()` infer as
/// they did in the function (the technique of tracing's `#[instrument]`).
///
/// The user's block is a match arm, where neither rustc nor clippy finds
/// fault with what a function body may be: as the generated block's last
/// expression, a one-expression body such as `{ 42 }` would have
/// "unnecessary braces around block return value" (`unused_braces`); as a
/// `let` initializer, a body ending in `return` or `panic!()` would be a
/// "sub-expression [that] diverges" (`clippy::diverging_sub_expression`)
/// and make the code after it unreachable. No `allow` could silence those at
/// the user's code without also covering the user's body.
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
    quote_spanned! {Span::mixed_site()=>
        {
            #fake_return
            match () {
                _ => #block
            }
        }
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
