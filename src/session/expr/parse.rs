//! The parser: tokens to a syntax tree, with Python's precedence and bounded nesting.

use super::MAX_NESTING;
use super::ast::{BINARY_LEVELS, BinaryOp, Builtin, CompareOp, Node, UnaryOp};
use super::error::{ExprError, Result, needs_live, syntax};
use super::lex::{KEYWORDS, Lexeme, Token};
use super::value::Value;

/// Parses a whole expression from `tokens` (which end with [`Token::End`]).
pub(super) fn parse(tokens: Vec<Lexeme>) -> Result<Node> {
    let mut parser = Parser {
        tokens,
        position: 0,
        nesting: 0,
    };
    let root = parser.parse_expression()?;
    if *parser.peek() != Token::End {
        return Err(parser.unexpected());
    }
    Ok(root)
}

struct Parser {
    tokens: Vec<Lexeme>,
    position: usize,
    nesting: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        self.tokens
            .get(self.position)
            .map_or(&Token::End, |l| &l.token)
    }

    fn error(&self, message: impl Into<String>) -> ExprError {
        let column = self
            .tokens
            .get(self.position)
            .or(self.tokens.last())
            .map_or(1, |l| l.column);
        syntax(message, column)
    }

    fn unexpected(&self) -> ExprError {
        self.error(format!("unexpected {}", self.peek().describe()))
    }

    fn advance(&mut self) {
        self.position = (self.position + 1).min(self.tokens.len());
    }

    fn at_op(&self, op: &str) -> bool {
        matches!(self.peek(), Token::Op(o) if *o == op)
    }

    fn at_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Token::Name(n) if n == keyword)
    }

    fn eat_op(&mut self, op: &str) -> bool {
        let found = self.at_op(op);
        if found {
            self.advance();
        }
        found
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = self.at_keyword(keyword);
        if found {
            self.advance();
        }
        found
    }

    fn expect_op(&mut self, op: &str) -> Result<()> {
        if self.eat_op(op) {
            Ok(())
        } else {
            Err(self.error(format!("expected '{op}'")))
        }
    }

    /// Runs `parse` one nesting level deeper, refusing to go past [`MAX_NESTING`]; called
    /// just after the token that opens the level, which an error points at.
    fn nested(&mut self, parse: fn(&mut Self) -> Result<Node>) -> Result<Node> {
        if self.nesting >= MAX_NESTING {
            let opener = self.tokens.get(self.position.saturating_sub(1));
            return Err(syntax(
                "expression nests too deeply",
                opener.map_or(1, |l| l.column),
            ));
        }
        self.nesting += 1;
        let node = parse(self);
        self.nesting -= 1;
        node
    }

    /// `body if test else orelse`, or an `or` expression.
    fn parse_expression(&mut self) -> Result<Node> {
        let body = self.parse_or()?;
        if !self.eat_keyword("if") {
            return Ok(body);
        }
        let test = self.parse_or()?;
        if !self.eat_keyword("else") {
            return Err(self.error("expected 'else'"));
        }
        let orelse = self.nested(Self::parse_expression)?;
        Ok(Node::Conditional {
            test: Box::new(test),
            body: Box::new(body),
            orelse: Box::new(orelse),
        })
    }

    fn parse_or(&mut self) -> Result<Node> {
        let mut left = self.parse_and()?;
        while self.eat_keyword("or") {
            left = Node::Or(Box::new(left), Box::new(self.parse_and()?));
        }
        Ok(left)
    }

    fn parse_and(&mut self) -> Result<Node> {
        let mut left = self.parse_not()?;
        while self.eat_keyword("and") {
            left = Node::And(Box::new(left), Box::new(self.parse_not()?));
        }
        Ok(left)
    }

    fn parse_not(&mut self) -> Result<Node> {
        if self.eat_keyword("not") {
            return Ok(Node::Not(Box::new(self.nested(Self::parse_not)?)));
        }
        self.parse_comparison()
    }

    fn parse_comparison(&mut self) -> Result<Node> {
        let first = self.parse_binary(0)?;
        let mut rest = Vec::new();
        loop {
            let op = match self.peek() {
                Token::Op("==") => CompareOp::Eq,
                Token::Op("!=") => CompareOp::NotEq,
                Token::Op("<") => CompareOp::Lt,
                Token::Op("<=") => CompareOp::LtE,
                Token::Op(">") => CompareOp::Gt,
                Token::Op(">=") => CompareOp::GtE,
                Token::Name(n) if n == "in" => CompareOp::In,
                Token::Name(n) if n == "is" => CompareOp::Is,
                Token::Name(n) if n == "not" => CompareOp::NotIn,
                _ => break,
            };
            self.advance();
            let op = match op {
                CompareOp::NotIn if !self.eat_keyword("in") => {
                    return Err(self.error("expected 'in'"));
                }
                CompareOp::Is if self.eat_keyword("not") => CompareOp::IsNot,
                op => op,
            };
            rest.push((op, self.parse_binary(0)?));
        }
        Ok(if rest.is_empty() {
            first
        } else {
            Node::Compare(Box::new(first), rest)
        })
    }

    /// The left-associative binary operators of `BINARY_LEVELS[level]` and tighter.
    fn parse_binary(&mut self, level: usize) -> Result<Node> {
        let Some(ops) = BINARY_LEVELS.get(level) else {
            return self.parse_unary();
        };
        let mut left = self.parse_binary(level + 1)?;
        while let Some(&op) = ops.iter().find(|op| self.at_op(op.symbol())) {
            self.advance();
            let right = self.parse_binary(level + 1)?;
            left = Node::Binary(op, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_unary(&mut self) -> Result<Node> {
        let op = match self.peek() {
            Token::Op("-") => UnaryOp::Neg,
            Token::Op("+") => UnaryOp::Pos,
            Token::Op("~") => UnaryOp::Invert,
            _ => return self.parse_power(),
        };
        self.advance();
        Ok(Node::Unary(op, Box::new(self.nested(Self::parse_unary)?)))
    }

    /// `base ** exponent`: binds tighter than a unary operator on its left, looser than one
    /// on its right (`-2**-1` is `-(2**(-1))`).
    fn parse_power(&mut self) -> Result<Node> {
        let base = self.parse_postfix()?;
        if !self.eat_op("**") {
            return Ok(base);
        }
        let exponent = self.nested(Self::parse_unary)?;
        Ok(Node::Binary(
            BinaryOp::Pow,
            Box::new(base),
            Box::new(exponent),
        ))
    }

    fn parse_postfix(&mut self) -> Result<Node> {
        let mut node = self.parse_atom()?;
        loop {
            if self.eat_op(".") {
                let Token::Name(attr) = self.peek().clone() else {
                    return Err(self.error("expected an attribute name"));
                };
                self.advance();
                node = Node::Attribute(Box::new(node), attr);
            } else if self.eat_op("[") {
                if self.at_op(":") {
                    return Err(self.error("slices are not supported"));
                }
                let index = self.nested(Self::parse_expression)?;
                if self.at_op(":") {
                    return Err(self.error("slices are not supported"));
                }
                self.expect_op("]")?;
                node = Node::Subscript(Box::new(node), Box::new(index));
            } else if self.eat_op("(") {
                node = self.parse_call(node)?;
            } else {
                return Ok(node);
            }
        }
    }

    /// The arguments of a call whose `(` was just read.
    fn parse_call(&mut self, callee: Node) -> Result<Node> {
        let builtin = match &callee {
            Node::Name(name) => Builtin::named(name),
            _ => None,
        };
        let Some(builtin) = builtin else {
            let args = if self.at_op(")") { "()" } else { "(...)" };
            return Err(match callee.render() {
                Some(source) => needs_live(format!("`{source}{args}` calls code")),
                None => needs_live("calling a value runs code"),
            });
        };
        let mut args = Vec::new();
        while !self.eat_op(")") {
            args.push(self.nested(Self::parse_expression)?);
            if !self.eat_op(",") {
                self.expect_op(")")?;
                break;
            }
        }
        Ok(Node::Call(builtin, args))
    }

    fn parse_atom(&mut self) -> Result<Node> {
        let node = match self.peek().clone() {
            Token::Number(value) => Node::Literal(value),
            Token::Str(mut text) => {
                self.advance();
                // Adjacent literals concatenate, as in Python.
                while let Token::Str(next) = self.peek() {
                    text.push_str(next);
                    self.advance();
                }
                return Ok(Node::Literal(Value::Str {
                    text,
                    truncated: false,
                }));
            }
            Token::Name(name) => match name.as_str() {
                "True" => Node::Literal(Value::Bool(true)),
                "False" => Node::Literal(Value::Bool(false)),
                "None" => Node::Literal(Value::None),
                keyword if KEYWORDS.contains(&keyword) => return Err(self.unexpected()),
                _ => Node::Name(name),
            },
            Token::Op("(") => {
                self.advance();
                if self.at_op(")") {
                    return Err(self.error("tuples are not supported"));
                }
                let inner = self.nested(Self::parse_expression)?;
                if self.at_op(",") {
                    return Err(self.error("tuples are not supported"));
                }
                self.expect_op(")")?;
                return Ok(inner);
            }
            Token::Op("[" | "{") => {
                return Err(self.error("list, set and dict displays are not supported"));
            }
            _ => return Err(self.unexpected()),
        };
        self.advance();
        Ok(node)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, ok, text};
    use super::super::{Expr, ExprError, Value};

    #[test]
    fn precedence_follows_python() {
        assert_eq!(ok("1 + 2 * 3 == 7"), Value::Bool(true));
        assert_eq!(ok("-2**2"), Value::Int(-4));
        assert_eq!(ok("2**3**2"), Value::Int(512));
        assert_eq!(ok("2 ** -1"), Value::Float(0.5));
        assert_eq!(ok("7 - 2 - 1"), Value::Int(4));
        assert_eq!(ok("(1 + 2) * 3"), Value::Int(9));
        assert_eq!(ok("1 | 2 ^ 3 & 4 << 1"), Value::Int(3));
        assert_eq!(ok("not 1 == 2"), Value::Bool(true));
        assert_eq!(ok("1 if 0 else 2"), Value::Int(2));
        assert_eq!(ok("0x1F + 0o7 + 0b11 + 1_000"), Value::Int(1041));
        assert_eq!(ok("'a' 'b'"), text("ab"));
    }

    #[test]
    fn syntax_errors_point_at_a_column() {
        let error = Expr::parse("(1 + 2").unwrap_err();
        assert_eq!(
            error,
            ExprError::Syntax {
                message: "expected ')'".into(),
                column: 7
            }
        );
        assert_eq!(
            error.to_string(),
            "invalid expression at column 7: expected ')'"
        );
        assert_eq!(
            err("1 +"),
            "invalid expression at column 4: unexpected end of expression"
        );
        assert_eq!(
            err("x = 1"),
            "invalid expression at column 3: unexpected '='"
        );
        assert_eq!(
            err("s[1:2]"),
            "invalid expression at column 4: slices are not supported"
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = |open: &str, close: &str, n| format!("{}1{}", open.repeat(n), close.repeat(n));
        assert_eq!(
            err(&deep("(", ")", 100)),
            "invalid expression at column 65: expression nests too deeply"
        );
        assert!(Expr::parse(&deep("(", ")", 1000)).is_err());
        assert!(Expr::parse(&deep("-", "", 1000)).is_err());
        assert!(Expr::parse(&deep("not ", "", 1000)).is_err());
        assert!(Expr::parse(&deep("xs[", "]", 1000)).is_err());
        assert_eq!(ok(&deep("(", ")", 60)), Value::Int(1));
        assert!(Expr::parse(&vec!["1"; 1000].join("+")).is_err());
        assert_eq!(ok(&vec!["1"; 200].join("+")), Value::Int(200));
    }
}
