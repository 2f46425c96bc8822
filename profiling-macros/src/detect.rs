//! Recognising function shapes: a `Result` return type, and a sync function
//! whose body ends in the future it returns (`-> impl Future` written with a
//! trailing `async` block, and the `Box::pin(async move { .. })` that
//! `#[async_trait]` turns an `async fn` into).

use syn::{Block, Expr, ReturnType, Stmt, Type};

/// Whether the declared return type is a `Result` (by its last path segment:
/// `Result`, `io::Result`, `anyhow::Result` ...), looking through the
/// invisible groups a `macro_rules!` `$ty` leaves and through parentheses.
pub(crate) fn returns_result(output: &ReturnType) -> bool {
    match output {
        ReturnType::Type(_, ty) => is_result(ty),
        ReturnType::Default => false,
    }
}

fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Group(group) => is_result(&group.elem),
        Type::Paren(paren) => is_result(&paren.elem),
        Type::Path(path) => {
            path.qself.is_none()
                && path
                    .path
                    .segments
                    .last()
                    .is_some_and(|segment| segment.ident == "Result")
        }
        _ => false,
    }
}

/// Where a sync function's returned future is, if its body ends in one.
pub(crate) enum ReturnedFuture {
    /// The last expression is an `async` block.
    AsyncBlock,
    /// The last expression is `Box::pin(async ..)`.
    BoxPinAsync,
}

/// Looks at the body's last expression.
pub(crate) fn returned_future(block: &Block) -> Option<ReturnedFuture> {
    let Some(Stmt::Expr(last, None)) = block.stmts.last() else {
        return None;
    };
    match last {
        Expr::Async(_) => Some(ReturnedFuture::AsyncBlock),
        Expr::Call(call) if call.args.len() == 1 && is_box_pin(&call.func) => {
            matches!(call.args.first(), Some(Expr::Async(_))).then_some(ReturnedFuture::BoxPinAsync)
        }
        _ => None,
    }
}

/// `Box::pin`, `std::boxed::Box::pin`, `::alloc::boxed::Box::pin` ...
fn is_box_pin(func: &Expr) -> bool {
    let Expr::Path(path) = func else {
        return false;
    };
    let segments: Vec<String> = path
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    segments.ends_with(&["Box".to_string(), "pin".to_string()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_types() {
        let output = |tokens: &str| -> ReturnType { syn::parse_str(tokens).expect("return type") };
        assert!(returns_result(&output("-> Result<u8, E>")));
        assert!(returns_result(&output("-> std::io::Result<()>")));
        assert!(returns_result(&output("-> (Result<u8, E>)")));
        assert!(!returns_result(&output("-> Option<u8>")));
        assert!(!returns_result(&output("-> ResultSet")));
        assert!(!returns_result(&output("")));
    }

    #[test]
    fn returned_futures() {
        let block = |tokens: &str| -> Block { syn::parse_str(tokens).expect("block") };
        assert!(matches!(
            returned_future(&block("{ let x = 1; async move { x } }")),
            Some(ReturnedFuture::AsyncBlock)
        ));
        assert!(matches!(
            returned_future(&block("{ Box::pin(async move { 1 }) }")),
            Some(ReturnedFuture::BoxPinAsync)
        ));
        assert!(returned_future(&block("{ Box::pin(other()) }")).is_none());
        assert!(returned_future(&block("{ async move { 1 }; 2 }")).is_none());
    }
}
