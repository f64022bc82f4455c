//! Scopes (PROTOCOL §4): the syntax of one scope, and scope lists, separated by spaces
//! or commas and checked against what the client (or the refresh token) allows.

use super::error::OAuthError;

/// The longest scope a client may be given.
pub const MAX_LEN: usize = 128;

/// Whether `s` can be one of a client's scopes: a scope-token as RFC 6749 §3.3 allows
/// (`%x21 / %x23-5B / %x5D-7E`, so printable ASCII without spaces, quotes or
/// backslashes), less the comma, which the token endpoint reads as a separator, and at
/// most [`MAX_LEN`] characters.
pub fn is_valid(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_LEN
        && s.bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E) && b != b',')
}

/// Splits a `scope` parameter into its scopes, in order, without empties or repeats.
pub fn parse(value: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for s in value.split([' ', ',']).filter(|s| !s.is_empty()) {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// The scopes to grant: the requested ones when every one is allowed (the first that is
/// not is the error), else `default` when nothing was requested.
pub fn grant(
    requested: Option<&str>,
    allowed: &[String],
    default: &[String],
) -> Result<Vec<String>, OAuthError> {
    let requested = requested.map(parse).unwrap_or_default();
    if requested.is_empty() {
        return Ok(default.to_vec());
    }
    match requested.iter().find(|s| !allowed.iter().any(|a| a == *s)) {
        Some(bad) => Err(OAuthError::InvalidScope((*bad).to_owned())),
        None => Ok(requested.into_iter().map(str::to_owned).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn scopes_follow_rfc_6749_less_the_comma() {
        for ok in ["quotes:read", "a", "x!#$%&'()*+-./:;<=>?@[]^_`{|}~"] {
            assert!(is_valid(ok), "{ok}");
        }
        for bad in ["", "a b", "a,b", "a\"b", "a\\b", "é", "a\tb"] {
            assert!(!is_valid(bad), "{bad}");
        }
        assert!(is_valid(&"s".repeat(MAX_LEN)));
        assert!(!is_valid(&"s".repeat(MAX_LEN + 1)));
        // Every valid scope survives the endpoint's splitting whole.
        assert_eq!(
            parse("x!#$%&'()*+-./:;<=>?@[]^_`{|}~"),
            ["x!#$%&'()*+-./:;<=>?@[]^_`{|}~"]
        );
    }

    #[test]
    fn spaces_and_commas_both_separate() {
        assert_eq!(parse("a b,c  ,a"), vec!["a", "b", "c"]);
    }

    #[test]
    fn first_disallowed_scope_is_named() {
        let err = grant(Some("a x y"), &v(&["a"]), &[]).unwrap_err();
        assert_eq!(err, OAuthError::InvalidScope("x".into()));
    }

    #[test]
    fn absent_or_blank_scope_gives_the_default() {
        assert_eq!(grant(None, &v(&["a", "b"]), &v(&["a"])).unwrap(), v(&["a"]));
        assert_eq!(
            grant(Some(" , "), &v(&["a"]), &v(&["a"])).unwrap(),
            v(&["a"])
        );
    }
}
