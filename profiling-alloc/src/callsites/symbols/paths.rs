//! Function names as paths: their segments, closures among them, and
//! whether two names (one perhaps from line tables only, without its path)
//! are the same function.

/// If `body` is a closure (or async block) of the function `outer` runs —
/// `f::{{closure}}` in `f` (a sync job), `f::{{closure}}::{{closure}}` in
/// `f::{{closure}}` (an `async fn` job) — the name of that function: `f`.
pub(super) fn job_body_name(body: &str, outer: &str) -> Option<String> {
    let body = segments(body);
    let (last, parent) = body.split_last()?;
    if !is_closure(last) || !same_function(parent, &segments(outer)) {
        return None;
    }
    // Line tables name inlined functions without their path: take the
    // longer name.
    let outer = segments(outer);
    let named = |path: &[&str]| -> Vec<String> {
        let end = path.len() - path.iter().rev().take_while(|s| is_closure(s)).count();
        path.get(..end)
            .unwrap_or_default()
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let (from_body, from_outer) = (named(parent), named(&outer));
    let name = if from_body.len() >= from_outer.len() {
        from_body
    } else {
        from_outer
    };
    (!name.is_empty()).then(|| name.join("::"))
}

/// Whether two paths name the same function, one perhaps without its
/// leading path (an inlined function in a build with line tables only) or
/// generic arguments, closures of any numbering alike.
fn same_function(a: &[&str], b: &[&str]) -> bool {
    let common = a.len().min(b.len());
    common > 0
        && a.iter().rev().zip(b.iter().rev()).all(|(x, y)| {
            (is_closure(x) && is_closure(y)) || without_generics(x) == without_generics(y)
        })
}

/// The `::`-separated segments of a path, not splitting inside `<…>`
/// (`<T as a::Trait>::f` is two segments).
fn segments(path: &str) -> Vec<&str> {
    let mut segments = Vec::new();
    let (mut depth, mut start, mut previous) = (0usize, 0, ' ');
    let mut chars = path.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '<' => depth += 1,
            // `->` in a fn pointer type is not a closing bracket.
            '>' if previous != '-' => depth = depth.saturating_sub(1),
            ':' if depth == 0 && chars.peek().is_some_and(|&(_, next)| next == ':') => {
                segments.push(path.get(start..at).unwrap_or(""));
                chars.next();
                start = at + 2;
            }
            _ => {}
        }
        previous = c;
    }
    segments.push(path.get(start..).unwrap_or(""));
    segments
}

/// A segment without its generic arguments: `parse<u8>` is `parse`.
fn without_generics(segment: &str) -> &str {
    match segment.find('<') {
        Some(0) | None => segment,
        Some(at) => segment.get(..at).unwrap_or(segment),
    }
}

/// Whether a path segment is a closure or an async body: `{{closure}}`
/// (legacy mangling), `{closure#0}` (v0 mangling), `{async_fn#0}`,
/// `{async_block#0}` (debug info names), perhaps with generic arguments.
fn is_closure(segment: &str) -> bool {
    let Some(inner) = without_generics(segment)
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
    else {
        return false;
    };
    let kind = inner.trim_matches(['{', '}']);
    let kind = kind.split('#').next().unwrap_or("");
    matches!(
        kind,
        "closure" | "async_fn" | "async_block" | "async_closure" | "coroutine"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_segments() {
        assert_eq!(
            segments("<T as a::Trait>::f::{{closure}}"),
            ["<T as a::Trait>", "f", "{{closure}}"]
        );
        assert_eq!(segments("a::b<fn() -> u8>::c"), ["a", "b<fn() -> u8>", "c"]);
        for closure in [
            "{{closure}}",
            "{closure#1}",
            "{async_fn#0}",
            "{async_block#0}<u8>",
        ] {
            assert!(is_closure(closure), "{closure}");
        }
        assert!(!is_closure("{closure_env#0}"));
        assert!(!is_closure("closure"));
        assert!(same_function(&["a", "parse"], &["parse<u8>"]));
        assert!(!same_function(&["a", "parse"], &["b", "parse"]));
    }
}
