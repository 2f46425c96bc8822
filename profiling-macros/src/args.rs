//! The attribute's arguments: `#[profile_job]`, `#[profile_job(name = "...")]`,
//! `#[profile_job(crate = path)]`.

use proc_macro2::TokenStream;
use syn::parse::Parser;
use syn::{Lit, LitStr, Path};

/// Parsed arguments.
#[derive(Default)]
pub(crate) struct JobArgs {
    /// `name = "..."`: the job's name instead of the function's path.
    pub(crate) name: Option<LitStr>,
    /// `crate = path`: where `profiling_alloc` is, if renamed.
    pub(crate) krate: Option<Path>,
}

impl JobArgs {
    /// Parses the tokens inside `#[profile_job(...)]`. Errors point at the
    /// offending token.
    pub(crate) fn parse(tokens: TokenStream) -> syn::Result<JobArgs> {
        let mut args = JobArgs::default();
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("name") {
                if args.name.is_some() {
                    return Err(meta.error("duplicate `name` argument"));
                }
                if !meta.input.peek(syn::Token![=]) {
                    return Err(meta.error("expected a value: `name = \"...\"`"));
                }
                let value = meta.value()?;
                match value.parse::<Lit>()? {
                    Lit::Str(name) if name.value().trim().is_empty() => Err(
                        syn::Error::new_spanned(name, "the job `name` must not be empty"),
                    ),
                    Lit::Str(name) => {
                        args.name = Some(name);
                        Ok(())
                    }
                    other => Err(syn::Error::new_spanned(
                        other,
                        "expected a string literal: `name = \"...\"`",
                    )),
                }
            } else if meta.path.is_ident("crate") {
                if args.krate.is_some() {
                    return Err(meta.error("duplicate `crate` argument"));
                }
                if !meta.input.peek(syn::Token![=]) {
                    return Err(meta.error("expected a value: `crate = path`"));
                }
                args.krate = Some(meta.value()?.parse()?);
                Ok(())
            } else {
                let path = meta
                    .path
                    .get_ident()
                    .map_or_else(|| "this argument".to_string(), |ident| format!("`{ident}`"));
                Err(meta.error(format_args!(
                    "unknown argument {path} for #[profile_job]; expected `name = \"...\"` or `crate = path`"
                )))
            }
        });
        parser.parse2(tokens)?;
        Ok(args)
    }
}
