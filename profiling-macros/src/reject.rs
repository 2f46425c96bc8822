//! What `#[profile_job]` refuses, each error spanned at the token that says
//! why: items that are not functions, declarations without a body, and
//! signatures whose calls cannot be recorded.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::quote;
use syn::parse::{ParseStream, Parser};
use syn::{Attribute, Signature, Visibility};

/// `first` and `second` reported together, `first` first.
pub(crate) fn combine(first: Option<syn::Error>, second: syn::Error) -> syn::Error {
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
pub(crate) fn not_a_function(item: &TokenStream) -> Option<syn::Error> {
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

/// If `item` is a function declaration without a body (`fn f(&self);` in a
/// trait, `fn f();` in an `extern` block), the error to report, spanned
/// over the declaration. `None` for anything else, a function whose body
/// does not parse included: that one is left to rustc.
pub(crate) fn bodiless_declaration(item: &TokenStream) -> Option<syn::Error> {
    let parser = |input: ParseStream<'_>| {
        input.call(Attribute::parse_outer)?;
        let visibility: Visibility = input.parse()?;
        // `safe fn` declares a function of an `unsafe extern` block.
        let safe = input
            .cursor()
            .ident()
            .is_some_and(|(ident, _)| ident == "safe");
        if safe {
            input.parse::<syn::Ident>()?;
        }
        let sig: Signature = input.parse()?;
        let semi: syn::Token![;] = input.parse()?;
        let foreign =
            safe || sig.variadic.is_some() || !matches!(visibility, Visibility::Inherited);
        Ok((sig, semi, foreign))
    };
    let (sig, semi, foreign) = parser.parse2(item.clone()).ok()?;
    let method = sig.receiver().is_some();
    let message = match (method, foreign) {
        (true, _) => {
            "#[profile_job] cannot be used on a trait method without a body: there is no body to \
             record; put it on the method in each `impl` of the trait instead"
        }
        (false, true) => {
            "#[profile_job] cannot be used on a function of an `extern` block: the declaration \
             has no body to record; put it on a Rust function that calls it instead"
        }
        (false, false) => {
            "#[profile_job] cannot be used on a function declaration without a body (a trait \
             method or a function of an `extern` block): there is no body to record; put it on \
             the method in each `impl` of the trait instead (for a foreign function, on a Rust \
             function that calls it)"
        }
    };
    Some(syn::Error::new_spanned(quote!(#sig #semi), message))
}

/// Rejects what cannot be recorded, each error at its token.
pub(crate) fn check_signature(sig: &Signature) -> syn::Result<()> {
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
        // `extern "Rust"` and the unwinding ABIs (`"C-unwind"` ...) let a
        // panic reach the guard; the others abort first.
        let unwinds = abi
            .name
            .as_ref()
            .is_some_and(|name| name.value() == "Rust" || name.value().ends_with("-unwind"));
        if !unwinds {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn bodiless(item: &str) -> bool {
        let tokens: TokenStream = item.parse().expect("tokens");
        bodiless_declaration(&tokens).is_some()
    }

    #[test]
    fn declarations_without_a_body() {
        assert!(bodiless("fn load(&self) -> u32;"));
        assert!(bodiless("#[doc = \"x\"] fn open() -> Self;"));
        assert!(bodiless("pub fn abs(value: i32) -> i32;"));
        assert!(bodiless("pub safe fn abs(value: i32) -> i32;"));
        assert!(bodiless("unsafe fn printf(format: *const u8, ...) -> i32;"));
        // A body, even one that does not parse, is left to rustc.
        assert!(!bodiless("fn load(&self) -> u32 { 1 }"));
        assert!(!bodiless("fn load(&self) -> u32 { let x = ; }"));
        assert!(!bodiless("struct Load;"));
    }
}
