//! The token check: `Authorization: Bearer <token>` or `X-API-Key: <token>`
//! (what Prometheus's `authorization` and Pyroscope's and Parca's scrape
//! configurations send), compared in constant time.

use super::http::Request;

/// The secret a request must present.
#[derive(Clone)]
pub(super) struct Token(Vec<u8>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// A token of these bytes (the builder rejects an empty one).
    pub(super) fn new(secret: &str) -> Token {
        Token(secret.as_bytes().to_vec())
    }

    /// Whether `request` presents the token.
    pub(super) fn admits(&self, request: &Request) -> bool {
        // The scheme's name is case-insensitive (RFC 9110, 11.1).
        let bearer = request
            .header("authorization")
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        let api_key = request.header("x-api-key");
        // Both are checked, always, so which one was sent does not show in
        // the time taken either.
        let by_bearer = bearer.is_some_and(|given| self.matches(given.as_bytes()));
        let by_key = api_key.is_some_and(|given| self.matches(given.as_bytes()));
        by_bearer | by_key
    }

    /// Compares in time that depends on the length of `given` only: every
    /// byte of `given` is compared (against the token, cycled), and a
    /// length difference makes the result false without an early return, so
    /// neither the token's bytes nor its length can be found by timing.
    fn matches(&self, given: &[u8]) -> bool {
        let secret = &self.0;
        if secret.is_empty() {
            return false;
        }
        let mut difference = u8::from(given.len() != secret.len());
        for (i, &byte) in given.iter().enumerate() {
            let expected = secret.get(i % secret.len()).copied().unwrap_or(0);
            difference |= std::hint::black_box(byte ^ expected);
        }
        std::hint::black_box(difference) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request {
        Request {
            method: "GET".into(),
            path: "/metrics".into(),
            query: Vec::new(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn bearer_and_api_key_are_admitted() {
        let token = Token::new("s3cret");
        assert!(token.admits(&request(&[("authorization", "Bearer s3cret")])));
        assert!(token.admits(&request(&[("x-api-key", "s3cret")])));
        assert!(token.admits(&request(&[("authorization", "bearer s3cret")])));
    }

    #[test]
    fn wrong_missing_prefix_or_suffix_tokens_are_refused() {
        let token = Token::new("s3cret");
        for headers in [
            vec![],
            vec![("authorization", "Bearer s3cre")],
            vec![("authorization", "Bearer s3crets")],
            vec![("authorization", "Bearer s3cret3cret")],
            vec![("authorization", "Basic s3cret")],
            vec![("authorization", "s3cret")],
            vec![("x-api-key", "")],
            vec![("x-api-key", "S3CRET")],
        ] {
            assert!(!token.admits(&request(&headers)), "{headers:?} admitted");
        }
    }

    #[test]
    fn the_debug_form_hides_the_secret() {
        assert!(!format!("{:?}", Token::new("s3cret")).contains("s3cret"));
    }
}
