//! Secret redaction: names that look like they hold secrets have their values withheld before
//! anything reaches a ring, so no trace table ever holds them (SPEC section 6, value tag
//! `redacted`).
//!
//! A *name* is a variable name (function local or argument, module or class global), a `str` key
//! of a rendered dict, an attribute or field name of a rendered object, or the name of a function
//! (for its return values, which have no name of their own).
//!
//! **Default patterns**, matched against the name's *components*: the name is split at every
//! character that is not a letter or digit, between a lower-case letter and an upper-case one
//! (`authToken` → `auth`, `token`), before the last capital of a run of capitals followed by a
//! lower-case letter (`APIKey` → `api`, `key`), and between letters and digits (`password2` →
//! `password`, `2`); components compare case-insensitively. A name is secret when one component
//! is `password`, `passwd`, `secret`, `token`, `auth`, `authorization`, `credential`, `apikey`
//! (each also with a plural `s`), or two consecutive components are `api key` or `private key`.
//! So `db_password`, `API_KEY`, `apiKey`, `authToken`, `client_secret`, `Authorization` match;
//! `author`, `authority`, `tokenizer`, `secretary`, `keyboard` do not (`auth` and `token` must be
//! whole components).
//!
//! **Extra patterns** (`--secret-pattern`) are regular expressions searched anywhere in the raw
//! name, case-insensitively, in addition to the defaults.
//!
//! What is *not* covered (documented in `recorder/DESIGN.md` 5.8): a secret held under an
//! innocent name (`x = creds["password"]` records `x`), exception messages, the program's own
//! output, and command-line arguments in the `run` row.

use regex::{Regex, RegexBuilder};

/// Decides which names are secret.
#[derive(Debug, Clone)]
pub struct Redactor {
    enabled: bool,
    extra: Vec<Regex>,
}

const WORDS: [&str; 8] = [
    "password",
    "passwd",
    "secret",
    "token",
    "auth",
    "authorization",
    "credential",
    "apikey",
];

const PAIRS: [(&str, &str); 2] = [("api", "key"), ("private", "key")];

impl Redactor {
    /// Redaction with the default patterns plus `extra` regular expressions.
    pub fn new(extra: &[String]) -> Result<Redactor, regex::Error> {
        let extra = extra
            .iter()
            .map(|p| RegexBuilder::new(p).case_insensitive(true).build())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Redactor {
            enabled: true,
            extra,
        })
    }

    /// No redaction at all (`--no-redact`).
    pub fn disabled() -> Redactor {
        Redactor {
            enabled: false,
            extra: Vec::new(),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Whether values under `name` are withheld.
    pub fn is_secret(&self, name: &str) -> bool {
        if !self.enabled || name.is_empty() {
            return false;
        }
        let parts = components(name);
        let word = |p: &str| {
            WORDS.iter().any(|w| {
                p == *w || (p.len() == w.len() + 1 && p.starts_with(w) && p.ends_with('s'))
            })
        };
        if parts.iter().any(|p| word(p)) {
            return true;
        }
        let pair = parts.windows(2).any(|w| {
            PAIRS.iter().any(|(a, b)| {
                w[0] == *a
                    && (w[1] == *b
                        || (w[1].len() == b.len() + 1
                            && w[1].starts_with(b)
                            && w[1].ends_with('s')))
            })
        });
        pair || self.extra.iter().any(|r| r.is_match(name))
    }
}

/// The lower-cased components of `name` (see the module docs).
fn components(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut parts = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                parts.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if let Some(&prev) = i.checked_sub(1).and_then(|j| chars.get(j)) {
            let next = chars.get(i + 1).copied();
            let boundary = (prev.is_lowercase() && c.is_uppercase())
                || (prev.is_uppercase()
                    && c.is_uppercase()
                    && next.is_some_and(|n| n.is_lowercase()))
                || (prev.is_alphabetic() && c.is_numeric())
                || (prev.is_numeric() && c.is_alphabetic());
            if boundary && !cur.is_empty() {
                parts.push(std::mem::take(&mut cur));
            }
        }
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        parts.push(cur);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_patterns() {
        let r = Redactor::new(&[]).unwrap();
        for name in [
            "password",
            "db_password",
            "DB_PASSWORD",
            "Password",
            "passwd",
            "API_KEY",
            "api_key",
            "apiKey",
            "APIKey",
            "apikey",
            "authToken",
            "auth",
            "AUTH",
            "x_auth_header",
            "Authorization",
            "client_secret",
            "secrets",
            "tokens",
            "refresh-token",
            "credentials",
            "private_key",
            "privateKey",
            "password2",
            "self.password",
        ] {
            assert!(r.is_secret(name), "{name} should be secret");
        }
        for name in [
            "author",
            "authority",
            "tokenizer",
            "secretary",
            "keyboard",
            "key",
            "api",
            "user",
            "",
            "pass",
            "private",
        ] {
            assert!(!r.is_secret(name), "{name} should not be secret");
        }
    }

    #[test]
    fn extra_patterns_and_disabling() {
        let r = Redactor::new(&["^ssn$".into(), "pin".into()]).unwrap();
        assert!(r.is_secret("SSN"));
        assert!(r.is_secret("card_PIN_code"));
        assert!(!r.is_secret("ssn_count"));
        assert!(r.is_secret("password"));
        assert!(Redactor::new(&["(".into()]).is_err());
        assert!(!Redactor::disabled().is_secret("password"));
    }
}
