//! `pyttd sql` and `pyttd export`.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use pyttd_query::{Format, TraceSession};

use super::{ExportFormat, SqlFormat};

/// Opens `trace` (and the attached ones) for querying.
fn session(trace: &Path, attach: &[String]) -> anyhow::Result<TraceSession> {
    let mut session = TraceSession::open(trace)?;
    for a in attach {
        let Some((name, path)) = a.split_once('=') else {
            bail!("--attach takes NAME=TRACE, got `{a}`");
        };
        session.attach(name, path)?;
    }
    Ok(session)
}

pub fn sql(
    trace: &Path,
    query: Option<&str>,
    format: SqlFormat,
    output: Option<&Path>,
    attach: &[String],
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let session = session(trace, attach)?;
    let Some(query) = query else {
        for table in session.tables()? {
            writeln!(out, "{}", table.name)?;
            for (name, ty) in &table.columns {
                writeln!(out, "  {name:<18} {ty}")?;
            }
        }
        return Ok(());
    };
    let (schema, batches) = session.sql(query)?;
    let format = match format {
        SqlFormat::Table => Format::Table,
        SqlFormat::Csv => Format::Csv,
        SqlFormat::Json => Format::Json,
        SqlFormat::Parquet => Format::Parquet,
    };
    match (format, output) {
        (Format::Parquet, Some(path)) => pyttd_query::write_parquet(&schema, &batches, path)?,
        (_, Some(path)) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            let mut w = std::io::BufWriter::new(file);
            pyttd_query::write_text(&schema, &batches, format, &mut w)?;
            w.flush()
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        (_, None) => pyttd_query::write_text(&schema, &batches, format, out)?,
    }
    Ok(())
}

pub fn export(
    trace: &Path,
    format: ExportFormat,
    output: &Path,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let session = TraceSession::open(trace)?;
    match format {
        ExportFormat::Parquet => {
            let exported = pyttd_query::export_parquet(&session, output)?;
            for (path, rows) in exported.files {
                writeln!(out, "{rows:>10} rows  {}", path.display())?;
            }
        }
        ExportFormat::Perfetto => {
            let n = pyttd_query::export_perfetto(&session, output)?;
            writeln!(out, "{n} trace events  {}", output.display())?;
        }
    }
    Ok(())
}
