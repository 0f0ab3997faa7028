//! The lexer: source text to tokens, with Python's int, float and str literals.

use super::MAX_TOKENS;
use super::error::{Result, needs_live, syntax};
use super::value::{Value, int_from_digits, str_repr};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token {
    Number(Value),
    Str(String),
    Name(String),
    Op(&'static str),
    End,
}

impl Token {
    pub(super) fn describe(&self) -> String {
        match self {
            Token::Number(value) => value.repr(),
            Token::Str(text) => str_repr(text, false),
            Token::Name(name) => format!("'{name}'"),
            Token::Op(op) => format!("'{op}'"),
            Token::End => "end of expression".to_string(),
        }
    }
}

pub(super) struct Lexeme {
    pub(super) token: Token,
    pub(super) column: usize,
}

/// Longest first, so `**` is not read as two `*`.
const OPERATORS: [&str; 30] = [
    "**", "//", "<<", ">>", "<=", ">=", "==", "!=", ":=", "+", "-", "*", "/", "%", "&", "|", "^",
    "~", "<", ">", "(", ")", "[", "]", ".", ",", ":", "{", "}", "=",
];

pub(super) const KEYWORDS: [&str; 16] = [
    "and", "or", "not", "in", "is", "if", "else", "True", "False", "None", "lambda", "for",
    "async", "await", "yield", "def",
];

pub(super) fn tokenize(source: &str) -> Result<Vec<Lexeme>> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let column = i + 1;
        let token = if c.is_whitespace() {
            i += 1;
            continue;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let (value, end) = lex_number(&chars, i)?;
            i = end;
            Token::Number(value)
        } else if c == '_' || c.is_alphabetic() {
            let start = i;
            while chars
                .get(i)
                .is_some_and(|c| *c == '_' || c.is_alphanumeric())
            {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect();
            if matches!(chars.get(i), Some('\'' | '"')) {
                if name.to_ascii_lowercase().contains('f') {
                    return Err(needs_live("an f-string formats values with their own code"));
                }
                return Err(syntax(
                    format!("string prefix '{name}' is not supported"),
                    column,
                ));
            }
            Token::Name(name)
        } else if c == '\'' || c == '"' {
            let (text, end) = lex_string(&chars, i)?;
            i = end;
            Token::Str(text)
        } else if let Some(&op) = OPERATORS.iter().find(|op| {
            op.chars()
                .enumerate()
                .all(|(k, o)| chars.get(i + k) == Some(&o))
        }) {
            i += op.len();
            Token::Op(op)
        } else {
            return Err(syntax(format!("unexpected character '{c}'"), column));
        };
        if tokens.len() == MAX_TOKENS {
            return Err(syntax(
                format!("expression is too long (over {MAX_TOKENS} tokens)"),
                column,
            ));
        }
        tokens.push(Lexeme { token, column });
    }
    tokens.push(Lexeme {
        token: Token::End,
        column: chars.len() + 1,
    });
    Ok(tokens)
}

/// Reads an int or float literal starting at `start`; returns it and the index after it.
fn lex_number(chars: &[char], start: usize) -> Result<(Value, usize)> {
    let invalid = |message: &str| syntax(message, start + 1);
    let is_word = |i: usize| {
        chars
            .get(i)
            .is_some_and(|c| c.is_alphanumeric() || *c == '_')
    };
    let radix = match (
        chars.get(start),
        chars.get(start + 1).map(char::to_ascii_lowercase),
    ) {
        (Some('0'), Some('x')) => 16,
        (Some('0'), Some('o')) => 8,
        (Some('0'), Some('b')) => 2,
        _ => 10,
    };
    let mut end = if radix == 10 { start } else { start + 2 };
    let digits_from = end;
    let mut is_float = false;
    let skip_digits = |end: &mut usize| {
        while chars
            .get(*end)
            .is_some_and(|c| c.is_digit(radix) || *c == '_')
        {
            *end += 1;
        }
    };
    skip_digits(&mut end);
    if radix == 10 && chars.get(end) == Some(&'.') {
        is_float = true;
        end += 1;
        skip_digits(&mut end);
    }
    if radix == 10 && matches!(chars.get(end), Some('e' | 'E')) {
        is_float = true;
        end += 1;
        if matches!(chars.get(end), Some('+' | '-')) {
            end += 1;
        }
        skip_digits(&mut end);
    }
    if is_word(end) || chars.get(end) == Some(&'.') {
        return Err(invalid("invalid number literal"));
    }
    let text: String = chars[digits_from..end].iter().collect();
    let cleaned =
        without_underscores(&text, radix).ok_or_else(|| invalid("invalid number literal"))?;
    if is_float {
        return match cleaned.parse() {
            Ok(x) => Ok((Value::Float(x), end)),
            Err(_) => Err(invalid("invalid number literal")),
        };
    }
    if radix != 10 {
        return match i64::from_str_radix(&cleaned, radix) {
            Ok(i) => Ok((Value::Int(i), end)),
            Err(_) if cleaned.is_empty() => Err(invalid("invalid number literal")),
            Err(_) => Err(invalid("integer literals beyond 64 bits must be decimal")),
        };
    }
    if cleaned.len() > 1 && cleaned.starts_with('0') && cleaned.bytes().any(|b| b != b'0') {
        return Err(invalid(
            "leading zeros in decimal integer literals are not permitted",
        ));
    }
    Ok((int_from_digits(cleaned), end))
}

/// Removes `_` digit separators, or None when one is not between two digits of `radix`.
pub(super) fn without_underscores(text: &str, radix: u32) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let is_digit = |k: Option<&char>| k.is_some_and(|c| c.is_digit(radix));
    let misplaced = chars.iter().enumerate().any(|(k, c)| {
        *c == '_' && !(k > 0 && is_digit(chars.get(k - 1)) && is_digit(chars.get(k + 1)))
    });
    (!misplaced).then(|| text.replace('_', ""))
}

/// Reads a quoted string starting at `start`; returns its text and the index after it.
fn lex_string(chars: &[char], start: usize) -> Result<(String, usize)> {
    let unterminated = || syntax("unterminated string literal", start + 1);
    let quote = chars.get(start).copied().ok_or_else(unterminated)?;
    let mut text = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None | Some('\n') => return Err(unterminated()),
            Some(&c) if c == quote => return Ok((text, i + 1)),
            Some('\\') => {
                let escaped = *chars.get(i + 1).ok_or_else(unterminated)?;
                i += 2;
                match escaped {
                    'n' => text.push('\n'),
                    't' => text.push('\t'),
                    'r' => text.push('\r'),
                    '0' => text.push('\0'),
                    '\\' | '\'' | '"' => text.push(escaped),
                    '\n' => {}
                    'x' => {
                        let hex: String = chars.iter().skip(i).take(2).collect();
                        let code = u32::from_str_radix(&hex, 16)
                            .ok()
                            .filter(|_| hex.len() == 2);
                        let c = code.and_then(char::from_u32);
                        text.push(c.ok_or_else(|| syntax("truncated \\xXX escape", i - 1))?);
                        i += 2;
                    }
                    other => {
                        text.push('\\');
                        text.push(other);
                    }
                }
            }
            Some(&c) => {
                text.push(c);
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::err;

    #[test]
    fn lexical_errors_point_at_a_column() {
        assert_eq!(
            err("1 $ 2"),
            "invalid expression at column 3: unexpected character '$'"
        );
        assert_eq!(
            err("'abc"),
            "invalid expression at column 1: unterminated string literal"
        );
        assert_eq!(
            err("007"),
            "invalid expression at column 1: leading zeros in decimal integer literals are not permitted"
        );
    }
}
