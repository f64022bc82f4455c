//! Scope lists (PROTOCOL §4): separated by spaces or commas, checked against what the
//! client (or the refresh token) allows.

use super::error::OAuthError;

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
