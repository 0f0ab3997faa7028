//! [`TraceSession`]: a DataFusion context with one or more traces attached, read-only.
//!
//! The first trace's tables are in the default schema (`events`, `calls`, ...), its stored tables
//! in `raw` (`raw.events`, `raw.values`, ...). A trace attached as `b` has `b.events`, ...,
//! and `b_raw.*`. The user-facing tables other than `events` are views over the stored ones
//! (SQL in [`VIEWS`]), so DataFusion plans them like any query.

use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use datafusion::catalog::{MemorySchemaProvider, TableFunctionImpl, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::Expr;
use datafusion::prelude::{DataFrame, SQLOptions, SessionConfig, SessionContext};
use datafusion::scalar::ScalarValue;
use pyttd_format::{Table, TraceReader};

use crate::error::{QueryError, Result, one_line};
use crate::locals::locals_at;
use crate::provider::{CodeNames, SegmentTable};

/// The views of one trace; `{s}` is its schema, `{r}` its raw schema.
const VIEWS: &[(&str, &str)] = &[
    (
        "code",
        "SELECT code_id, file, name, qualname, first_line, \
           CASE kind WHEN 0 THEN 'module' WHEN 1 THEN 'function' WHEN 2 THEN 'generator' \
             WHEN 3 THEN 'coroutine' WHEN 4 THEN 'async_generator' END AS kind \
         FROM {r}.code",
    ),
    (
        "threads",
        "SELECT t.thread_id, t.name, t.ident, t.native_id, f.first_seq \
         FROM {r}.threads t JOIN (SELECT thread_id, min(first_seq) AS first_seq, \
           max(first_seq) AS current FROM {r}.threads GROUP BY thread_id) f \
         ON t.thread_id = f.thread_id AND t.first_seq = f.current",
    ),
    (
        "output",
        "SELECT seq, thread_id, CASE stream WHEN 1 THEN 'stdout' WHEN 2 THEN 'stderr' END AS stream, \
           text FROM {r}.output",
    ),
    (
        "run",
        "SELECT run_id, script, argv, cwd, python_version, pyttd_version, start_unix_ns, \
           end_unix_ns, exit_status, state, event_count, settings \
         FROM {r}.run ORDER BY CASE state WHEN 'finished' THEN 1 ELSE 0 END DESC, \
           event_count DESC LIMIT 1",
    ),
    (
        "exceptions",
        "SELECT x.seq, x.thread_id, x.call_id, co.qualname AS function, co.file, x.type_name, \
           x.message \
         FROM {r}.exceptions x LEFT JOIN {r}.calls c ON c.call_id = x.call_id \
           LEFT JOIN {r}.code co ON co.code_id = c.code_id",
    ),
    (
        "variable_changes",
        "SELECT v.seq, v.call_id, v.name, \
           py_value(v.tag, v.int_value, v.float_value, v.text, v.truncated) AS value, \
           v.type_name AS type, v.int_value, v.float_value, v.text, v.truncated, v.length, \
           v.object_id, \
           CASE v.tag WHEN 0 THEN 'deleted' WHEN 1 THEN 'none' WHEN 2 THEN 'bool' WHEN 3 THEN 'int' \
             WHEN 4 THEN 'float' WHEN 5 THEN 'str' WHEN 6 THEN 'repr' WHEN 7 THEN 'redacted' END AS tag \
         FROM {r}.values v LEFT JOIN {r}.calls c ON c.call_id = v.call_id \
         WHERE v.role = 0 AND (NOT v.snapshot OR v.seq = c.call_seq)",
    ),
    (
        "calls",
        "SELECT c.call_id, c.parent_call_id, c.thread_id, co.qualname AS function, co.file, \
           co.first_line, c.depth, c.call_seq, e.end_seq, e.start_ts AS start_ns, \
           e.end_ts - e.start_ts AS duration_ns, \
           a.args, r.return_value, \
           CASE WHEN e.unwind_seq IS NOT NULL AND e.unwind_seq = e.end_seq THEN x.exception END \
             AS exception \
         FROM {r}.calls c \
         LEFT JOIN {r}.code co ON co.code_id = c.code_id \
         LEFT JOIN (SELECT call_id, min(ts_ns) AS start_ts, \
             max(CASE WHEN kind IN (2, 5, 6) THEN seq END) AS end_seq, \
             max(CASE WHEN kind IN (2, 5, 6) THEN ts_ns END) AS end_ts, \
             max(CASE WHEN kind = 5 THEN seq END) AS unwind_seq \
           FROM {r}.events GROUP BY call_id) e ON e.call_id = c.call_id \
         LEFT JOIN (SELECT v.call_id, string_agg(v.name || '=' || \
             py_value(v.tag, v.int_value, v.float_value, v.text, v.truncated), ', ' \
             ORDER BY v.name) AS args \
           FROM {r}.values v JOIN {r}.calls c2 ON v.call_id = c2.call_id AND v.seq = c2.call_seq \
           WHERE v.role = 0 AND v.tag <> 0 GROUP BY v.call_id) a ON a.call_id = c.call_id \
         LEFT JOIN (SELECT call_id, seq, \
             py_value(tag, int_value, float_value, text, truncated) AS return_value \
           FROM {r}.values WHERE role = 1) r ON r.call_id = c.call_id AND r.seq = e.end_seq \
         LEFT JOIN (SELECT call_id, \
             first_value(type_name || coalesce(': ' || message, '') ORDER BY seq DESC) AS exception \
           FROM {r}.exceptions GROUP BY call_id) x ON x.call_id = c.call_id",
    ),
];

/// The user-facing tables, in the order `pyttd sql TRACE` lists them.
pub const USER_TABLES: &[&str] = &[
    "events",
    "calls",
    "variable_changes",
    "exceptions",
    "threads",
    "output",
    "code",
    "run",
];

/// One attached trace.
#[derive(Debug, Clone)]
pub struct Attached {
    /// Its schema (`public` for the first trace).
    pub schema: String,
    pub reader: Arc<TraceReader>,
}

/// A table and its columns, as `pyttd sql TRACE` lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    pub name: String,
    pub columns: Vec<(String, String)>,
}

/// A query session over traces.
pub struct TraceSession {
    ctx: SessionContext,
    runtime: tokio::runtime::Runtime,
    traces: Vec<Attached>,
}

impl std::fmt::Debug for TraceSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceSession")
            .field("traces", &self.traces)
            .finish_non_exhaustive()
    }
}

impl TraceSession {
    /// A session over the trace at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<TraceSession> {
        let reader = Arc::new(TraceReader::open(path.as_ref())?);
        Self::with_reader(reader)
    }

    /// A session over an opened trace.
    pub fn with_reader(reader: Arc<TraceReader>) -> Result<TraceSession> {
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_target_partitions(
                std::thread::available_parallelism().map_or(2, |n| n.get().min(8)),
            );
        let ctx = SessionContext::new_with_config(config);
        ctx.register_udf(crate::value::udf());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| QueryError::Execution(format!("cannot start the query runtime: {e}")))?;
        let mut session = TraceSession {
            ctx,
            runtime,
            traces: Vec::new(),
        };
        session.register("public", reader)?;
        Ok(session)
    }

    /// Attaches the trace at `path` as schema `name` (`name.events`, ...).
    pub fn attach(&mut self, name: &str, path: impl AsRef<Path>) -> Result<()> {
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        let taken = name == "public"
            || name == "raw"
            || name == "information_schema"
            || self.traces.iter().any(|t| t.schema == name);
        if !valid || taken {
            return Err(QueryError::Attach {
                name: name.into(),
                reason: if taken {
                    "the name is taken".into()
                } else {
                    "names are lower-case letters, digits and _".into()
                },
            });
        }
        let reader = Arc::new(TraceReader::open(path.as_ref())?);
        self.register(name, reader)
    }

    /// The attached traces, the first one first.
    pub fn traces(&self) -> &[Attached] {
        &self.traces
    }

    fn register(&mut self, schema: &str, reader: Arc<TraceReader>) -> Result<()> {
        let raw = if schema == "public" {
            "raw".to_string()
        } else {
            format!("{schema}_raw")
        };
        let catalog = self
            .ctx
            .catalog("datafusion")
            .expect("the default catalog exists");
        for s in [schema, raw.as_str()] {
            if catalog.schema(s).is_none() {
                catalog
                    .register_schema(s, Arc::new(MemorySchemaProvider::new()))
                    .map_err(|e| QueryError::Execution(one_line(&e.to_string())))?;
            }
        }
        let internal = |e: DataFusionError| QueryError::Execution(one_line(&e.to_string()));
        for table in Table::ALL {
            self.ctx
                .register_table(
                    format!("{raw}.{}", table.name()),
                    Arc::new(SegmentTable::raw(reader.clone(), table)),
                )
                .map_err(internal)?;
        }
        let names = Arc::new(CodeNames::load(&reader)?);
        self.ctx
            .register_table(
                format!("{schema}.events"),
                Arc::new(SegmentTable::events(reader.clone(), names)),
            )
            .map_err(internal)?;
        for (name, sql) in VIEWS {
            let sql = sql.replace("{r}", &raw);
            let statement = format!("CREATE VIEW {schema}.{name} AS {sql}");
            self.runtime
                .block_on(self.ctx.sql(&statement))
                .map_err(|e| {
                    QueryError::Execution(format!("view {name}: {}", one_line(&e.to_string())))
                })?;
        }
        let function = if schema == "public" {
            "locals_at".to_string()
        } else {
            format!("{schema}_locals_at")
        };
        self.ctx.register_udtf(
            &function,
            Arc::new(LocalsAt {
                reader: reader.clone(),
            }),
        );
        self.traces.push(Attached {
            schema: schema.into(),
            reader,
        });
        Ok(())
    }

    /// Plans one statement, refusing anything that would write or create.
    async fn read_only(&self, query: &str) -> Result<(DataFrame, SchemaRef)> {
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let df = self
            .ctx
            .sql_with_options(query, options)
            .await
            .map_err(classify)?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        Ok((df, schema))
    }

    /// Runs one read-only statement and collects its result.
    pub fn sql(&self, query: &str) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let mut batches = Vec::new();
        let mut schema = None;
        self.stream(query, |s, batch| {
            schema.get_or_insert(s);
            batches.extend(batch);
            Ok(())
        })?;
        Ok((schema.expect("stream reports the schema first"), batches))
    }

    /// Runs one read-only statement and hands `each` the result schema (with `None`) and then
    /// every batch as it is produced: memory stays bounded by the plan, not the result.
    pub fn stream(
        &self,
        query: &str,
        mut each: impl FnMut(SchemaRef, Option<RecordBatch>) -> Result<()>,
    ) -> Result<()> {
        use futures::StreamExt;
        let failed = |e: DataFusionError| QueryError::Execution(one_line(&e.to_string()));
        self.runtime.block_on(async {
            let (df, schema) = self.read_only(query).await?;
            each(schema.clone(), None)?;
            let mut stream = df.execute_stream().await.map_err(failed)?;
            while let Some(batch) = stream.next().await {
                each(schema.clone(), Some(batch.map_err(failed)?))?;
            }
            Ok(())
        })
    }

    /// The user-facing tables of every attached trace and their columns.
    pub fn tables(&self) -> Result<Vec<TableInfo>> {
        let mut out = Vec::new();
        for trace in &self.traces {
            for name in USER_TABLES {
                let qualified = if trace.schema == "public" {
                    (*name).to_string()
                } else {
                    format!("{}.{name}", trace.schema)
                };
                let provider = self
                    .runtime
                    .block_on(self.ctx.table_provider(qualified.as_str()))
                    .map_err(|e| QueryError::Execution(one_line(&e.to_string())))?;
                out.push(TableInfo {
                    name: qualified,
                    columns: provider
                        .schema()
                        .fields()
                        .iter()
                        .map(|f| (f.name().clone(), sql_type(f.data_type())))
                        .collect(),
                });
            }
        }
        Ok(out)
    }
}

/// A column type as SQL users read it.
fn sql_type(t: &arrow_schema::DataType) -> String {
    use arrow_schema::DataType as T;
    match t {
        T::Dictionary(_, v) => sql_type(v),
        T::Utf8 | T::LargeUtf8 | T::Utf8View => "TEXT".into(),
        T::UInt8 | T::UInt16 | T::UInt32 | T::UInt64 => "UNSIGNED INT".into(),
        T::Int8 | T::Int16 | T::Int32 | T::Int64 => "INT".into(),
        T::Float64 | T::Float32 => "DOUBLE".into(),
        T::Boolean => "BOOLEAN".into(),
        T::List(f) => format!("LIST<{}>", sql_type(f.data_type())),
        other => other.to_string(),
    }
}

/// Bad SQL versus a statement that would write.
fn classify(e: DataFusionError) -> QueryError {
    let text = one_line(&e.to_string());
    if text.contains("not supported")
        && (text.contains("DDL") || text.contains("DML") || text.contains("Statement"))
    {
        QueryError::ReadOnly(text)
    } else {
        QueryError::Sql(text)
    }
}

/// `locals_at(seq)` / `locals_at(seq, call_id)`.
#[derive(Debug)]
struct LocalsAt {
    reader: Arc<TraceReader>,
}

impl TableFunctionImpl for LocalsAt {
    fn call(&self, exprs: &[Expr]) -> datafusion::error::Result<Arc<dyn TableProvider>> {
        let arg = |i: usize| -> datafusion::error::Result<Option<u64>> {
            match exprs.get(i) {
                None => Ok(None),
                Some(Expr::Literal(v, _)) => match v.cast_to(&arrow_schema::DataType::UInt64)? {
                    ScalarValue::UInt64(Some(n)) => Ok(Some(n)),
                    _ => Err(DataFusionError::Plan(
                        "locals_at takes integer literals: locals_at(seq [, call_id])".into(),
                    )),
                },
                Some(_) => Err(DataFusionError::Plan(
                    "locals_at takes integer literals: locals_at(seq [, call_id])".into(),
                )),
            }
        };
        let seq = arg(0)?.ok_or_else(|| {
            DataFusionError::Plan("locals_at needs a seq: locals_at(seq [, call_id])".into())
        })?;
        let batch = locals_at(&self.reader, seq, arg(1)?)
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(Arc::new(MemTable::try_new(
            batch.schema(),
            vec![vec![batch]],
        )?))
    }
}
