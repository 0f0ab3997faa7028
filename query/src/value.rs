//! `py_value(tag, int_value, float_value, text, truncated)`: a stored value as Python's `repr()`
//! shows it (SPEC section 6, "Values"), the `value` column of `variable_changes` and `locals_at`.
//! A deleted name is NULL; text that the recorder cut ends in `...`.

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, UInt8Array,
};
use arrow_schema::DataType;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};
use pyttd_format::ValueTag;
use pyttd_format::repr::{float_repr, str_repr};

/// Renders one stored value (`None` for a deleted name).
pub fn render(
    tag: u8,
    int_value: Option<i64>,
    float_value: Option<f64>,
    text: Option<&str>,
    truncated: bool,
) -> Option<String> {
    let cut = |mut s: String| {
        if truncated {
            s.push_str("...");
        }
        s
    };
    Some(match ValueTag::from_code(tag)? {
        ValueTag::Deleted => return None,
        ValueTag::None => "None".into(),
        ValueTag::Bool => if int_value == Some(0) {
            "False"
        } else {
            "True"
        }
        .into(),
        ValueTag::Int => match int_value {
            Some(n) => n.to_string(),
            None => text.unwrap_or_default().to_string(),
        },
        ValueTag::Float => {
            let mut out = String::new();
            float_repr(float_value.unwrap_or(f64::NAN), &mut out);
            out
        }
        ValueTag::Str => {
            let mut out = String::new();
            let text = text.unwrap_or_default();
            let bounded = str_repr(text, usize::MAX, &mut out);
            if truncated && !bounded {
                // The stored text is a prefix: drop the closing quote, mark the cut.
                out.pop();
            }
            cut(out)
        }
        ValueTag::Repr => cut(text.unwrap_or_default().to_string()),
        ValueTag::Redacted => "<redacted>".into(),
    })
}

/// The `py_value` scalar function.
pub fn udf() -> ScalarUDF {
    create_udf(
        "py_value",
        vec![
            DataType::UInt8,
            DataType::Int64,
            DataType::Float64,
            DataType::Utf8,
            DataType::Boolean,
        ],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let tag = arrays[0]
                .as_any()
                .downcast_ref::<UInt8Array>()
                .expect("coerced");
            let ints = arrays[1]
                .as_any()
                .downcast_ref::<Int64Array>()
                .expect("coerced");
            let floats = arrays[2]
                .as_any()
                .downcast_ref::<Float64Array>()
                .expect("coerced");
            let texts = arrays[3]
                .as_any()
                .downcast_ref::<StringArray>()
                .expect("coerced");
            let cut = arrays[4]
                .as_any()
                .downcast_ref::<BooleanArray>()
                .expect("coerced");
            let out: StringArray = (0..tag.len())
                .map(|i| {
                    if tag.is_null(i) {
                        return None;
                    }
                    render(
                        tag.value(i),
                        ints.is_valid(i).then(|| ints.value(i)),
                        floats.is_valid(i).then(|| floats.value(i)),
                        texts.is_valid(i).then(|| texts.value(i)),
                        cut.is_valid(i) && cut.value(i),
                    )
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn renders_like_python() {
        assert_eq!(render(0, None, None, None, false), None);
        assert_eq!(render(1, None, None, None, false).unwrap(), "None");
        assert_eq!(render(2, Some(0), None, None, false).unwrap(), "False");
        assert_eq!(render(3, Some(-7), None, None, false).unwrap(), "-7");
        assert_eq!(
            render(3, None, None, Some("123456789012345678901234567890"), false).unwrap(),
            "123456789012345678901234567890"
        );
        assert_eq!(render(4, None, Some(1e16), None, false).unwrap(), "1e+16");
        assert_eq!(render(4, None, Some(0.1), None, false).unwrap(), "0.1");
        assert_eq!(
            render(5, None, None, Some("it's"), false).unwrap(),
            "\"it's\""
        );
        assert_eq!(render(5, None, None, Some("abc"), true).unwrap(), "'abc...");
        assert_eq!(
            render(6, None, None, Some("[1, 2"), true).unwrap(),
            "[1, 2..."
        );
        assert_eq!(render(7, None, None, None, false).unwrap(), "<redacted>");
    }
}
