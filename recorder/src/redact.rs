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

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use foldhash::HashMap;

use regex::{Regex, RegexBuilder};

/// Decides which names are secret.
///
/// The same few names are asked about at every event (the keys of every dict rendered, the
/// attributes of every object expanded), so answers are remembered: by name, up to
/// [`MEMO_NAMES`] of them, and per Python type for [`Redactor::type_answer`]. The lock is never
/// held while Python code runs. Answers about immortal `str` objects (interned names: most dict
/// keys) are also kept by address, without a lock ([`Redactor::key_answer`]).
#[derive(Debug)]
pub struct Redactor {
    enabled: bool,
    extra: Vec<Regex>,
    memo: Mutex<Memo>,
    /// [`KEY_SLOTS`] words, each `address | secret` of an immortal `str` object, or 0.
    keys: Box<[AtomicUsize]>,
}

/// Immortal key objects whose answer is kept by address (a direct-mapped table: a later key
/// that maps to the same slot replaces the earlier one).
const KEY_SLOTS: usize = 1024;

/// Distinct names whose answer is remembered (a program whose dict keys are data, not names,
/// would otherwise grow the memo without bound).
pub const MEMO_NAMES: usize = 1 << 16;

#[derive(Debug, Default)]
struct Memo {
    names: HashMap<Box<str>, bool>,
    /// By `(type address, version tag)`: see [`Redactor::type_answer`].
    types: HashMap<(usize, u32), bool>,
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
            memo: Mutex::default(),
            keys: key_slots(),
        })
    }

    /// No redaction at all (`--no-redact`).
    pub fn disabled() -> Redactor {
        Redactor {
            enabled: false,
            extra: Vec::new(),
            memo: Mutex::default(),
            keys: key_slots(),
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
        if self.extra.is_empty() && !may_match_defaults(name) {
            return false;
        }
        if let Some(&known) = self.memo().names.get(name) {
            return known;
        }
        let secret = self.decide(name);
        let mut memo = self.memo();
        if memo.names.len() < MEMO_NAMES {
            memo.names.insert(name.into(), secret);
        }
        secret
    }

    /// A remembered answer about a Python type, keyed by its address and version tag (a type
    /// gets a new tag whenever it is modified, and a type created at a freed type's address gets
    /// a new one too). `decide` runs, without the lock, when there is none yet.
    pub fn type_answer(&self, key: (usize, u32), decide: impl FnOnce() -> bool) -> bool {
        if let Some(&known) = self.memo().types.get(&key) {
            return known;
        }
        let answer = decide();
        let mut memo = self.memo();
        if memo.types.len() >= MEMO_NAMES {
            memo.types.clear();
        }
        memo.types.insert(key, answer);
        answer
    }

    /// The answer [`Redactor::remember_key`] kept for the object at `address`, if any. The
    /// caller passes only the addresses of immortal objects (never freed, so an address names
    /// the same `str` for the rest of the process).
    #[inline]
    pub fn key_answer(&self, address: usize) -> Option<bool> {
        let entry = self.keys[key_slot(address)].load(Ordering::Relaxed);
        (entry & !1 == address && address != 0).then_some(entry & 1 == 1)
    }

    /// Keeps `secret`, the answer about the immortal `str` object at `address` (aligned, so its
    /// lowest bit is free to hold the answer).
    #[inline]
    pub fn remember_key(&self, address: usize, secret: bool) {
        if address & 1 == 0 {
            self.keys[key_slot(address)].store(address | usize::from(secret), Ordering::Relaxed);
        }
    }

    fn memo(&self) -> std::sync::MutexGuard<'_, Memo> {
        // A panic while the lock was held left nothing half-done: every entry is complete.
        self.memo.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn decide(&self, name: &str) -> bool {
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

/// Three letters every default pattern contains: `pas`sword, `pas`swd, `sec`ret, `tok`en,
/// `aut`h, `cre`dential, api`key` and private `key`.
const STEMS: [&[u8; 3]; 6] = [b"pas", b"sec", b"tok", b"aut", b"cre", b"key"];

fn key_slots() -> Box<[AtomicUsize]> {
    (0..KEY_SLOTS).map(|_| AtomicUsize::new(0)).collect()
}

/// The slot of an object address: objects are 16-byte aligned, so the low bits carry nothing.
fn key_slot(address: usize) -> usize {
    ((address >> 4) ^ (address >> 14)) & (KEY_SLOTS - 1)
}

/// False when an ASCII `name` cannot match a default pattern, because no stem occurs in it in
/// any case: most names, answered without splitting them or taking the memo's lock. (A non-ASCII
/// name may lower-case into one: the Kelvin sign is `k`.)
fn may_match_defaults(name: &str) -> bool {
    !name.is_ascii()
        || name.as_bytes().windows(3).any(|w| {
            // Most windows fail on their first letter, which starts no stem.
            let first = w[0].to_ascii_lowercase();
            matches!(first, b'p' | b's' | b't' | b'a' | b'c' | b'k') && {
                let w = [first, w[1].to_ascii_lowercase(), w[2].to_ascii_lowercase()];
                STEMS.iter().any(|s| **s == w)
            }
        })
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
    fn key_answers_by_address() {
        let r = Redactor::new(&[]).unwrap();
        assert_eq!(r.key_answer(0x1000), None);
        r.remember_key(0x1000, true);
        r.remember_key(0x2000, false);
        assert_eq!(r.key_answer(0x1000), Some(true));
        assert_eq!(r.key_answer(0x2000), Some(false));
        // Another address in the same slot replaces the answer; the first is then unknown.
        let other = (0..)
            .map(|i| 0x1000 + (i + 1) * 16)
            .find(|&a| key_slot(a) == key_slot(0x1000))
            .unwrap();
        r.remember_key(other, false);
        assert_eq!(r.key_answer(other), Some(false));
        assert_eq!(r.key_answer(0x1000), None);
        // Address 0 is an empty slot, never an answer.
        assert_eq!(r.key_answer(0), None);
    }

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

    proptest::proptest! {
        /// The stem filter never turns a secret name into a plain one.
        #[test]
        fn the_stem_filter_only_skips_names_that_are_not_secret(
            name in "[a-zA-Z0-9_\\-]{0,6}(pass|Pass|PASS|sec|Sec|tok|TOK|aut|Aut|cre|key|Key|api|API|x)?[a-zA-Z0-9_\\-]{0,8}(word|wd|ret|en|h|dential|KEY|key|s)?[a-zA-Z0-9_]{0,3}",
        ) {
            let r = Redactor::new(&[]).unwrap();
            proptest::prop_assert!(may_match_defaults(&name) || !r.decide(&name), "{}", name);
        }
    }

    #[test]
    fn non_ascii_names_are_never_filtered_out() {
        // U+212A KELVIN SIGN lower-cases to an ASCII `k`.
        let r = Redactor::new(&[]).unwrap();
        assert!(r.is_secret("api_\u{212A}ey"));
        assert!(!may_match_defaults("user_id") && may_match_defaults("api_\u{212A}ey"));
    }

    #[test]
    fn every_stem_passes_the_filter_in_any_case() {
        for stem in STEMS {
            let lower = std::str::from_utf8(stem).unwrap();
            for name in [
                lower.to_string(),
                lower.to_ascii_uppercase(),
                format!("x_{lower}"),
            ] {
                assert!(may_match_defaults(&name), "{name}");
            }
        }
    }

    #[test]
    fn remembered_answers_are_the_same_answers() {
        let r = Redactor::new(&["pin".into()]).unwrap();
        for _ in 0..2 {
            assert!(r.is_secret("db_password"));
            assert!(r.is_secret("card_pin"));
            assert!(!r.is_secret("author"));
        }
        assert_eq!(r.memo().names.len(), 3);
        // Past the bound, answers are still right, just not remembered.
        for i in 0..MEMO_NAMES + 10 {
            assert!(!r.is_secret(&format!("k{i}")));
        }
        assert!(r.is_secret("password_2"));
        assert!(!r.is_secret("k1"));
        assert_eq!(r.memo().names.len(), MEMO_NAMES);
        let mut calls = 0;
        for _ in 0..3 {
            assert!(r.type_answer((8, 1), || {
                calls += 1;
                true
            }));
        }
        assert!(!r.type_answer((8, 2), || false));
        assert_eq!(calls, 1);
    }
}
