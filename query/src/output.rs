//! Query results as text (an aligned table, CSV, JSON lines) or Parquet.

use std::io::Write;
use std::path::Path;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use datafusion::arrow::csv::WriterBuilder;
use datafusion::arrow::json::LineDelimitedWriter;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::{QueryError, Result};

/// How `pyttd sql` writes a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    Parquet,
}

/// Writes `batches` to `out` as `format` (not Parquet: see [`write_parquet`]).
pub fn write_text(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    format: Format,
    out: &mut dyn Write,
) -> Result<()> {
    let err =
        |e: &dyn std::fmt::Display| QueryError::Execution(format!("cannot write the result: {e}"));
    match format {
        Format::Table => write_table(schema, batches, out).map_err(|e| err(&e)),
        Format::Csv => {
            let mut w = WriterBuilder::new().with_header(true).build(out);
            if batches.is_empty() {
                let header: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                return w
                    .into_inner()
                    .write_all(format!("{}\n", header.join(",")).as_bytes())
                    .map_err(|e| err(&e));
            }
            for b in batches {
                w.write(b).map_err(|e| err(&e))?;
            }
            Ok(())
        }
        Format::Json => {
            let mut w = LineDelimitedWriter::new(out);
            for b in batches {
                w.write(b).map_err(|e| err(&e))?;
            }
            w.finish().map_err(|e| err(&e))
        }
        Format::Parquet => Err(QueryError::Execution(
            "Parquet is binary: give an output file with -o".into(),
        )),
    }
}

/// An aligned text table, with the row count after it.
fn write_table(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let options = FormatOptions::default().with_null("NULL");
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let mut rows: Vec<Vec<String>> = Vec::new();
    for b in batches {
        let formatters: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("displayable"))
            .collect();
        for i in 0..b.num_rows() {
            rows.push(formatters.iter().map(|f| f.value(i).to_string()).collect());
        }
    }
    let mut widths: Vec<usize> = names.iter().map(|n| n.chars().count()).collect();
    for r in &rows {
        for (w, v) in widths.iter_mut().zip(r) {
            *w = (*w).max(v.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("{}\n", padded.join(" | ").trim_end())
    };
    out.write_all(line(&names).as_bytes())?;
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.write_all(format!("{}\n", rule.join("-+-")).as_bytes())?;
    for r in &rows {
        out.write_all(line(r).as_bytes())?;
    }
    let n = rows.len();
    out.write_all(format!("({n} row{})\n", if n == 1 { "" } else { "s" }).as_bytes())
}

/// Writes `batches` as one Parquet file at `path` (zstd).
pub fn write_parquet(schema: &SchemaRef, batches: &[RecordBatch], path: &Path) -> Result<()> {
    let err = |reason: String| QueryError::Write {
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::create(path).map_err(|e| err(e.to_string()))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut w =
        ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| err(e.to_string()))?;
    for b in batches {
        w.write(b).map_err(|e| err(e.to_string()))?;
    }
    w.close().map_err(|e| err(e.to_string()))?;
    Ok(())
}
