//! A safe evaluator for a subset of Python expressions over *recorded* values.
//!
//! Breakpoint conditions, log-point `{expr}` interpolation and DAP evaluate (hover, watch,
//! repl) all read values the recorder stored: nothing here ever runs code on a Python
//! interpreter. The grammar is Python's for literals, names, attributes, subscripts,
//! arithmetic, bitwise and boolean operators, chained comparisons, `in`, `is` and
//! `a if c else b`, plus a few pure builtins (`len`, `abs`, `min`, `max`, `str`, `repr`, `int`,
//! `float`, `bool`). Anything that would call code (methods, other functions, lambdas,
//! comprehensions) is refused with [`ExprError::NeedsLive`].
//!
//! Results follow Python's semantics where the recorded data allows an exact answer and are
//! errors otherwise: a wrong answer is worse than none. So ints never wrap silently, a
//! truncated string only compares when its recorded prefix already decides the answer, and
//! redacted values can only be shown, never used.
//!
//! Parsing is bounded: at most [`MAX_NESTING`] nested brackets or prefix operators and
//! [`MAX_TOKENS`] tokens, so no input can exhaust the stack.

mod ast;
mod builtins;
mod error;
mod eval;
mod lex;
mod operators;
mod parse;
#[cfg(test)]
mod testing;
mod value;

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

pub use error::ExprError;
pub use value::{Scope, Value};

use ast::{CompareOp, Node, UnaryOp};
use error::{Result, needs_live};
use lex::{Token, tokenize};

/// Deepest nesting of brackets, prefix operators and `else` branches the parser accepts.
pub const MAX_NESTING: usize = 64;
/// Most tokens an expression may have; this also bounds the depth of operator chains.
pub const MAX_TOKENS: usize = 512;
/// Longest string an expression may build, in characters.
const MAX_STR_CHARS: usize = 1 << 20;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    root: Node,
}

impl Expr {
    /// Parses `source`; refuses what would need a live interpreter before evaluating anything.
    pub fn parse(source: &str) -> Result<Expr> {
        let tokens = tokenize(source)?;
        for lexeme in &tokens {
            let why = match &lexeme.token {
                Token::Name(n) if n == "lambda" || n == "def" => "defines a function",
                Token::Name(n) if n == "for" || n == "async" => "builds a comprehension",
                Token::Name(n) if n == "await" => "runs a coroutine",
                Token::Name(n) if n == "yield" => "suspends a generator",
                Token::Op(":=") => "assigns a variable",
                _ => continue,
            };
            let source = match &lexeme.token {
                Token::Name(name) => name.as_str(),
                _ => ":=",
            };
            return Err(needs_live(format!("`{source}` {why}")));
        }
        let root = parse::parse(tokens)?;
        Ok(Expr { root })
    }

    /// Evaluates the expression over the recorded values `scope` holds.
    pub fn eval(&self, scope: &dyn Scope) -> Result<Value> {
        eval::eval(&self.root, scope)
    }

    /// Every free variable name the expression reads, sorted, deduplicated.
    pub fn names(&self) -> Vec<String> {
        let mut names = BTreeSet::new();
        let mut pending = vec![&self.root];
        while let Some(node) = pending.pop() {
            if let Node::Name(name) = node {
                names.insert(name.clone());
            }
            pending.extend(node.operands());
        }
        names.into_iter().collect()
    }

    /// When the expression can only be true if `name` holds an int within a range, that
    /// range (inclusive, saturating at i64 bounds): from comparisons of `name` with int
    /// literals, intersected through `and` and joined (hull) through `or`. None otherwise.
    pub fn int_range_of(&self, name: &str) -> Option<RangeInclusive<i64>> {
        range_of(&self.root, name).map(|(low, high)| low..=high)
    }
}

fn range_of(node: &Node, name: &str) -> Option<(i64, i64)> {
    let is_empty = |(low, high): (i64, i64)| low > high;
    let intersect = |(l1, h1): (i64, i64), (l2, h2): (i64, i64)| (l1.max(l2), h1.min(h2));
    match node {
        Node::And(a, b) => match (range_of(a, name), range_of(b, name)) {
            (Some(first), Some(second)) => Some(intersect(first, second)),
            (one, other) => one.or(other),
        },
        Node::Or(a, b) => {
            let (first, second) = (range_of(a, name)?, range_of(b, name)?);
            Some(if is_empty(first) {
                second
            } else if is_empty(second) {
                first
            } else {
                (first.0.min(second.0), first.1.max(second.1))
            })
        }
        Node::Compare(first, rest) => {
            let mut left = first.as_ref();
            let mut range = None;
            for (op, right) in rest {
                if let Some(allowed) = comparison_range(*op, left, right, name) {
                    range = Some(intersect(range.unwrap_or((i64::MIN, i64::MAX)), allowed));
                }
                left = right;
            }
            range
        }
        _ => None,
    }
}

/// The range `left op right` allows `name`, when one side is `name` and the other an int.
fn comparison_range(op: CompareOp, left: &Node, right: &Node, name: &str) -> Option<(i64, i64)> {
    let is_name = |node: &Node| matches!(node, Node::Name(n) if n == name);
    let (op, bound) = if is_name(left) {
        (op, int_literal(right)?)
    } else if is_name(right) {
        (op.flipped()?, int_literal(left)?)
    } else {
        return None;
    };
    match op {
        CompareOp::Eq => Some((bound, bound)),
        CompareOp::Lt => Some((i64::MIN, bound.saturating_sub(1))),
        CompareOp::LtE => Some((i64::MIN, bound)),
        CompareOp::Gt => Some((bound.saturating_add(1), i64::MAX)),
        CompareOp::GtE => Some((bound, i64::MAX)),
        _ => None,
    }
}

fn int_literal(node: &Node) -> Option<i64> {
    match node {
        Node::Literal(Value::Int(i)) => Some(*i),
        Node::Unary(UnaryOp::Neg, inner) => int_literal(inner)?.checked_neg(),
        Node::Unary(UnaryOp::Pos, inner) => int_literal(inner),
        _ => None,
    }
}

/// Interpolates a DAP log message: each `{expr}` is evaluated and replaced by its str(); `{{`
/// and `}}` are literal braces; an expression that fails renders as `<error: MESSAGE>` (never
/// fails as a whole, except an unclosed `{` which renders literally).
pub fn interpolate(template: &str, scope: &dyn Scope) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(brace) = rest.find(['{', '}']) {
        out.push_str(&rest[..brace]);
        let tail = &rest[brace..];
        if let Some(after) = tail.strip_prefix("{{").or_else(|| tail.strip_prefix("}}")) {
            out.push_str(&tail[..1]);
            rest = after;
        } else if let Some(after) = tail.strip_prefix('}') {
            out.push('}');
            rest = after;
        } else {
            let body = &tail[1..];
            let Some(end) = field_end(body) else {
                out.push_str(tail);
                return out;
            };
            match Expr::parse(&body[..end]).and_then(|expr| expr.eval(scope)) {
                Ok(value) => out.push_str(&value.to_str()),
                Err(error) => out.push_str(&format!("<error: {error}>")),
            }
            rest = &body[end + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// Where the `}` closing a log-message field is, skipping over quoted strings.
fn field_end(text: &str) -> Option<usize> {
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '}' => return Some(i),
            None => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::testing::{err, eval, scope};
    use super::*;

    #[test]
    fn unknown_names_and_live_code_are_refused() {
        assert_eq!(err("nope + 1"), "name 'nope' is not defined at this step");
        assert_eq!(
            err("obj.method()"),
            "`obj.method()` calls code; pyttd evaluates over recorded values only, so expressions that need live objects are not supported yet"
        );
        for source in [
            "foo(1)",
            "type(x)",
            "lambda: 1",
            "[x for x in y]",
            "(y := 1)",
            "await x",
            "f'{x}'",
        ] {
            assert!(
                matches!(Expr::parse(source), Err(ExprError::NeedsLive(_))),
                "{source}"
            );
        }
        assert!(err("foo(1)").starts_with("`foo(...)` calls code; "));
        assert!(matches!(eval("xs + xs"), Err(ExprError::NeedsLive(_))));
    }

    #[test]
    fn int_ranges_for_skipping_steps() {
        let range = |source: &str, name: &str| Expr::parse(source).unwrap().int_range_of(name);
        assert_eq!(range("i == 500 and j > 2", "i"), Some(500..=500));
        assert_eq!(range("i == 5 or i == 9", "i"), Some(5..=9));
        assert_eq!(range("0 < i < 10", "i"), Some(1..=9));
        assert_eq!(range("5 == i", "i"), Some(5..=5));
        assert_eq!(range("i <= -2", "i"), Some(i64::MIN..=-2));
        assert_eq!(range("i > 3", "i"), Some(4..=i64::MAX));
        assert_eq!(range("x > 3", "i"), None);
        assert_eq!(range("i == 5 or j == 9", "i"), None);
        assert_eq!(range("not i == 5", "i"), None);
        assert_eq!(range("i != 5", "i"), None);
    }

    #[test]
    fn names_lists_free_variables() {
        let expr = Expr::parse("x + obj.attr * len(xs) if i else d['k'] + x").unwrap();
        assert_eq!(expr.names(), ["d", "i", "obj", "x", "xs"]);
    }

    #[test]
    fn interpolation() {
        let scope = scope();
        assert_eq!(
            interpolate("x={x}, s={s}!", &scope),
            "x=500, s=hello world!"
        );
        assert_eq!(interpolate("{{literal}} {d['a']}", &scope), "{literal} 1");
        assert_eq!(
            interpolate("{nope}", &scope),
            "<error: name 'nope' is not defined at this step>"
        );
        assert_eq!(interpolate("open {x", &scope), "open {x");
        assert_eq!(interpolate("a } b", &scope), "a } b");
    }

    #[test]
    fn arbitrary_input_never_panics() {
        let sources = [
            "d['a'] + xs[-1] * 2 ** -1 if not t == 'x' else min(1, 2.5) // 0",
            "'\\x4' \"\\",
            "0x 0b2 1e 1_ 1__0 .5. 1.e5 9223372036854775808 ~big",
            "s[0]['a'].b(c)[ 'é' < 'ü' is not None in {",
            "-9223372036854775808 // -1 % -1 << 64 >> 99 ** 99",
        ];
        let scope = scope();
        for source in sources {
            let chars: Vec<char> = source.chars().collect();
            for start in 0..chars.len() {
                for end in start..=chars.len() {
                    let piece: String = chars[start..end].iter().collect();
                    if let Ok(expr) = Expr::parse(&piece) {
                        let _ = expr.eval(&scope);
                        let _ = expr.int_range_of("x");
                    }
                    let _ = interpolate(&format!("{{{piece}}}"), &scope);
                }
            }
        }
    }
}
