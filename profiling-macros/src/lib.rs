//! The `#[profile_job]` attribute. Use it through `profiling-alloc`, which
//! re-exports it (`profiling_alloc::profile_job`) and documents it.

mod args;
mod detect;
mod expand;
mod reject;

use proc_macro::TokenStream;

/// Records each call of the function as a job. See
/// `profiling_alloc::profile_job` for the documentation.
#[proc_macro_attribute]
pub fn profile_job(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::profile_job(args.into(), item.into()).into()
}
