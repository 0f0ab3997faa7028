//! The tables of format v1: their ids, Arrow schemas and the small enumerations stored in them.
//!
//! `SPEC.md` lists every column of every table; the test `spec_matches_code` fails when the two
//! disagree, so change both together.

use std::fmt;
use std::sync::{Arc, LazyLock};

use arrow_schema::{DataType, Field, Schema, SchemaRef};

/// A table of the trace. The discriminant is the `table_id` stored in segment headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum Table {
    Run = 1,
    Code = 2,
    Threads = 3,
    Calls = 4,
    Events = 5,
    Values = 6,
    Children = 7,
    Output = 8,
    Io = 9,
    Exceptions = 10,
    /// Since 1.1: a summary of each block of `events` rows (SPEC.md, `blocks`).
    Blocks = 11,
    /// Since 1.1: the lines executed in each block, with their hit counts.
    BlockLines = 12,
}

impl Table {
    /// Every v1 table, in id order.
    pub const ALL: [Table; 12] = [
        Table::Run,
        Table::Code,
        Table::Threads,
        Table::Calls,
        Table::Events,
        Table::Values,
        Table::Children,
        Table::Output,
        Table::Io,
        Table::Exceptions,
        Table::Blocks,
        Table::BlockLines,
    ];

    pub fn id(self) -> u16 {
        self as u16
    }

    pub fn from_id(id: u16) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.id() == id)
    }

    /// The table's name as written in the spec and used by the query layer.
    pub fn name(self) -> &'static str {
        match self {
            Table::Run => "run",
            Table::Code => "code",
            Table::Threads => "threads",
            Table::Calls => "calls",
            Table::Events => "events",
            Table::Values => "values",
            Table::Children => "children",
            Table::Output => "output",
            Table::Io => "io",
            Table::Exceptions => "exceptions",
            Table::Blocks => "blocks",
            Table::BlockLines => "block_lines",
        }
    }

    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The column whose range segment headers record as `min_seq`/`max_seq`, if any.
    /// Rows of such a table are written in non-decreasing order of this column.
    pub fn seq_column(self) -> Option<&'static str> {
        match self {
            Table::Run | Table::Code | Table::Threads => None,
            Table::Calls => Some("call_seq"),
            Table::Events
            | Table::Values
            | Table::Children
            | Table::Output
            | Table::Io
            | Table::Exceptions => Some("seq"),
            Table::Blocks | Table::BlockLines => Some("first_seq"),
        }
    }

    /// The Arrow schema every segment of this table carries.
    pub fn schema(self) -> SchemaRef {
        SCHEMAS[self as usize - 1].clone()
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn col(name: &str, data_type: DataType, nullable: bool) -> Field {
    Field::new(name, data_type, nullable)
}

fn dict_utf8() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// The value columns shared by `values` and `children` (see SPEC.md, "Values").
fn value_columns() -> Vec<Field> {
    vec![
        col("tag", DataType::UInt8, false),
        col("type_name", dict_utf8(), false),
        col("int_value", DataType::Int64, true),
        col("float_value", DataType::Float64, true),
        col("text", DataType::Utf8, true),
        col("truncated", DataType::Boolean, false),
        col("length", DataType::UInt64, true),
        col("object_id", DataType::UInt64, true),
    ]
}

fn build(table: Table) -> Schema {
    use DataType::*;
    let fields = match table {
        Table::Run => vec![
            col("run_id", Utf8, false),
            col("script", Utf8, false),
            col(
                "argv",
                List(Arc::new(Field::new_list_field(Utf8, false))),
                false,
            ),
            col("cwd", Utf8, false),
            col("python_version", Utf8, false),
            col("pyttd_version", Utf8, false),
            col("start_unix_ns", Int64, false),
            col("end_unix_ns", Int64, true),
            col("exit_status", Int32, true),
            col("state", Utf8, false),
            col("event_count", UInt64, false),
            col("settings", Utf8, true),
        ],
        Table::Code => vec![
            col("code_id", UInt32, false),
            col("file", Utf8, false),
            col("name", Utf8, false),
            col("qualname", Utf8, false),
            col("first_line", UInt32, false),
            col("kind", UInt8, false),
        ],
        Table::Threads => vec![
            col("thread_id", UInt32, false),
            col("ident", UInt64, false),
            col("native_id", UInt64, true),
            col("name", Utf8, false),
            col("first_seq", UInt64, false),
        ],
        Table::Calls => vec![
            col("call_id", UInt64, false),
            col("parent_call_id", UInt64, true),
            col("thread_id", UInt32, false),
            col("code_id", UInt32, false),
            col("depth", UInt32, false),
            col("call_seq", UInt64, false),
        ],
        Table::Events => vec![
            col("seq", UInt64, false),
            col("thread_id", UInt32, false),
            col("kind", UInt8, false),
            col("code_id", UInt32, false),
            col("line", UInt32, false),
            col("depth", UInt32, false),
            col("call_id", UInt64, false),
            col("ts_ns", Int64, false),
        ],
        Table::Values => {
            let mut v = vec![
                col("seq", UInt64, false),
                col("call_id", UInt64, false),
                col("name", dict_utf8(), false),
                col("role", UInt8, false),
                col("snapshot", Boolean, false),
            ];
            v.extend(value_columns());
            v
        }
        Table::Children => {
            let mut v = vec![
                col("seq", UInt64, false),
                col("parent_id", UInt64, false),
                col("position", UInt32, false),
                col("key", Utf8, false),
            ];
            v.extend(value_columns());
            v
        }
        Table::Output => vec![
            col("seq", UInt64, false),
            col("thread_id", UInt32, false),
            col("stream", UInt8, false),
            col("text", Utf8, false),
        ],
        Table::Io => vec![
            col("seq", UInt64, false),
            col("thread_id", UInt32, false),
            col("call_id", UInt64, false),
            col("function", Utf8, false),
            col("args", Utf8, true),
            col("result", Utf8, true),
            col("payload", Binary, true),
        ],
        Table::Exceptions => vec![
            col("seq", UInt64, false),
            col("thread_id", UInt32, false),
            col("call_id", UInt64, false),
            col("type_name", Utf8, false),
            col("message", Utf8, true),
        ],
        Table::Blocks => vec![
            col("first_seq", UInt64, false),
            col("last_seq", UInt64, false),
            col("events", UInt32, false),
            col("min_depth", UInt32, false),
            col("max_depth", UInt32, false),
            col("exceptions", UInt32, false),
        ],
        Table::BlockLines => vec![
            col("first_seq", UInt64, false),
            col("code_id", UInt32, false),
            col("line", UInt32, false),
            col("hits", UInt32, false),
        ],
    };
    Schema::new(fields)
}

static SCHEMAS: LazyLock<Vec<SchemaRef>> =
    LazyLock::new(|| Table::ALL.iter().map(|t| Arc::new(build(*t))).collect());

/// Spells an Arrow type the way SPEC.md does: `UInt64`, `Utf8`, `Dictionary<Int32, Utf8>`,
/// `List<Utf8>`.
pub fn spec_type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::Dictionary(k, v) => {
            format!("Dictionary<{}, {}>", spec_type_name(k), spec_type_name(v))
        }
        DataType::List(f) => format!("List<{}>", spec_type_name(f.data_type())),
        other => format!("{other:?}"),
    }
}

macro_rules! code_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $value:literal => $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum $name {
            $($(#[$vdoc])* $variant = $value,)*
        }

        impl $name {
            /// Every variant, in code order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The stored code.
            pub fn code(self) -> u8 {
                self as u8
            }

            /// The variant for a stored code; `None` for codes this version does not know.
            pub fn from_code(code: u8) -> Option<Self> {
                match code {
                    $($value => Some($name::$variant),)*
                    _ => None,
                }
            }

            /// The lower-case name used in SQL and the spec.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

code_enum! {
    /// `events.kind`.
    EventKind {
        Call = 0 => "call",
        Line = 1 => "line",
        Return = 2 => "return",
        Exception = 3 => "exception",
        ExceptionHandled = 4 => "exception_handled",
        Unwind = 5 => "unwind",
        Yield = 6 => "yield",
        Resume = 7 => "resume",
    }
}

code_enum! {
    /// `values.tag` and `children.tag`: which column holds the value.
    ValueTag {
        /// The name was deleted (`del x`, end of `except ... as e`); every value column is null.
        Deleted = 0 => "deleted",
        None = 1 => "none",
        Bool = 2 => "bool",
        /// `int_value` holds it when it fits in 64 bits, else `text` holds its decimal digits.
        Int = 3 => "int",
        Float = 4 => "float",
        /// `text` holds the string itself (not its repr), possibly truncated.
        Str = 5 => "str",
        /// Any other object: `text` holds its bounded `repr()`.
        Repr = 6 => "repr",
        /// Matched a secret pattern: nothing of the value was recorded.
        Redacted = 7 => "redacted",
    }
}

code_enum! {
    /// `values.role`: what a value row describes.
    ValueRole {
        /// A local variable of the frame (module frames: a global of the module).
        Local = 0 => "local",
        /// The value returned (`return` events) or yielded (`yield` events).
        Return = 1 => "return",
        /// The exception object of an `exception` event.
        Exception = 2 => "exception",
    }
}

code_enum! {
    /// `code.kind`.
    CodeKind {
        Module = 0 => "module",
        Function = 1 => "function",
        Generator = 2 => "generator",
        Coroutine = 3 => "coroutine",
        AsyncGenerator = 4 => "async_generator",
    }
}

code_enum! {
    /// `output.stream`.
    OutputStream {
        Stdout = 1 => "stdout",
        Stderr = 2 => "stderr",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_ids_and_names_round_trip() {
        for t in Table::ALL {
            assert_eq!(Table::from_id(t.id()), Some(t));
            assert_eq!(Table::from_name(t.name()), Some(t));
            if let Some(c) = t.seq_column() {
                let f = t
                    .schema()
                    .field_with_name(c)
                    .cloned()
                    .expect("seq column exists");
                assert_eq!(f.data_type(), &DataType::UInt64, "{t}.{c}");
                assert!(!f.is_nullable(), "{t}.{c}");
            }
        }
        assert_eq!(Table::from_id(0), None);
    }

    #[test]
    fn event_kind_codes_are_stable() {
        assert_eq!(EventKind::from_code(1), Some(EventKind::Line));
        assert_eq!(EventKind::ExceptionHandled.as_str(), "exception_handled");
        assert_eq!(EventKind::from_code(8), None);
        assert_eq!(spec_type_name(&dict_utf8()), "Dictionary<Int32, Utf8>");
    }
}
