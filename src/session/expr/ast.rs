//! The syntax tree: operators, the allowed builtins and expression nodes.

use super::value::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BinaryOp {
    BitOr,
    BitXor,
    BitAnd,
    LeftShift,
    RightShift,
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Mod,
    Pow,
}

impl BinaryOp {
    pub(super) fn symbol(self) -> &'static str {
        match self {
            BinaryOp::BitOr => "|",
            BinaryOp::BitXor => "^",
            BinaryOp::BitAnd => "&",
            BinaryOp::LeftShift => "<<",
            BinaryOp::RightShift => ">>",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::FloorDiv => "//",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "**",
        }
    }

    pub(super) fn is_bitwise(self) -> bool {
        use BinaryOp::*;
        matches!(self, BitOr | BitXor | BitAnd | LeftShift | RightShift)
    }
}

/// The binary operators from loosest to tightest binding; `**` is parsed on its own.
pub(super) const BINARY_LEVELS: [&[BinaryOp]; 6] = {
    use BinaryOp::*;
    [
        &[BitOr],
        &[BitXor],
        &[BitAnd],
        &[LeftShift, RightShift],
        &[Add, Sub],
        &[Mul, Div, FloorDiv, Mod],
    ]
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UnaryOp {
    Neg,
    Pos,
    Invert,
}

impl UnaryOp {
    pub(super) fn symbol(self) -> &'static str {
        match self {
            UnaryOp::Neg => "-",
            UnaryOp::Pos => "+",
            UnaryOp::Invert => "~",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CompareOp {
    Eq,
    NotEq,
    Lt,
    LtE,
    Gt,
    GtE,
    In,
    NotIn,
    Is,
    IsNot,
}

impl CompareOp {
    /// The operator with its operands swapped (`5 < i` is `i > 5`), for the orderings.
    pub(super) fn flipped(self) -> Option<CompareOp> {
        use CompareOp::*;
        Some(match self {
            Eq => Eq,
            Lt => Gt,
            LtE => GtE,
            Gt => Lt,
            GtE => LtE,
            _ => return None,
        })
    }
}

/// The builtins an expression may call: all pure functions of recorded values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Builtin {
    Len,
    Abs,
    Min,
    Max,
    Str,
    Repr,
    Int,
    Float,
    Bool,
}

impl Builtin {
    const ALL: [(Builtin, &'static str); 9] = [
        (Builtin::Len, "len"),
        (Builtin::Abs, "abs"),
        (Builtin::Min, "min"),
        (Builtin::Max, "max"),
        (Builtin::Str, "str"),
        (Builtin::Repr, "repr"),
        (Builtin::Int, "int"),
        (Builtin::Float, "float"),
        (Builtin::Bool, "bool"),
    ];

    pub(super) fn named(name: &str) -> Option<Builtin> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(b, _)| *b)
    }

    pub(super) fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(b, _)| *b == self)
            .map_or("?", |(_, n)| n)
    }
}

/// A node of the syntax tree.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    Literal(Value),
    Name(String),
    Attribute(Box<Node>, String),
    Subscript(Box<Node>, Box<Node>),
    Call(Builtin, Vec<Node>),
    Unary(UnaryOp, Box<Node>),
    Not(Box<Node>),
    Binary(BinaryOp, Box<Node>, Box<Node>),
    /// `first op1 a op2 b ...`, Python's chained comparison.
    Compare(Box<Node>, Vec<(CompareOp, Node)>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Conditional {
        test: Box<Node>,
        body: Box<Node>,
        orelse: Box<Node>,
    },
}

impl Node {
    /// The sub-expressions of this node.
    pub(super) fn operands(&self) -> Vec<&Node> {
        match self {
            Node::Literal(_) | Node::Name(_) => Vec::new(),
            Node::Attribute(x, _) | Node::Unary(_, x) | Node::Not(x) => vec![x.as_ref()],
            Node::Subscript(a, b) | Node::Binary(_, a, b) | Node::And(a, b) | Node::Or(a, b) => {
                vec![a.as_ref(), b.as_ref()]
            }
            Node::Call(_, args) => args.iter().collect(),
            Node::Compare(first, rest) => std::iter::once(first.as_ref())
                .chain(rest.iter().map(|(_, n)| n))
                .collect(),
            Node::Conditional { test, body, orelse } => {
                vec![body.as_ref(), test.as_ref(), orelse.as_ref()]
            }
        }
    }

    /// The source of a simple expression (name, attribute, subscript, literal, call), to name
    /// it in messages.
    pub(super) fn render(&self) -> Option<String> {
        Some(match self {
            Node::Name(name) => name.clone(),
            Node::Literal(value) => value.repr(),
            Node::Attribute(base, attr) => format!("{}.{attr}", base.render()?),
            Node::Subscript(base, index) => format!("{}[{}]", base.render()?, index.render()?),
            Node::Unary(op, operand) => format!("{}{}", op.symbol(), operand.render()?),
            Node::Call(builtin, args) => {
                let args: Option<Vec<String>> = args.iter().map(Node::render).collect();
                format!("{}({})", builtin.name(), args?.join(", "))
            }
            _ => return None,
        })
    }

    /// How messages name this expression: `` `x.y` ``, or "the value".
    pub(super) fn subject(&self) -> String {
        self.render()
            .map_or_else(|| "the value".to_string(), |source| format!("`{source}`"))
    }
}
