//! The `pyttd` command line: argument parsing (clap) and dispatch to subcommands.
//!
//! Doc comments on the clap items below are the `--help` text users read. Data goes to stdout,
//! diagnostics to stderr; errors are reported once, here, as a single `error: ...` line.

mod info;
mod replay;
mod sql;

use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// What the caller knows about the process `pyttd` runs in.
#[derive(Debug, Clone, Default)]
pub struct RunEnv {
    /// Version of the Python interpreter that started `pyttd` (for example `3.12.1`), or `None` when
    /// `pyttd` was not started from Python.
    pub python_version: Option<String>,
    /// The interpreter (`sys.executable`) that records programs a DAP client launches.
    pub python_executable: Option<PathBuf>,
}

/// Record a Python program, then query and replay every step it took.
#[derive(Debug, Parser)]
#[command(
    name = "pyttd",
    bin_name = "pyttd",
    version,
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Record a Python script: run it as `python SCRIPT [ARGS]...` would, writing every step
    /// it takes to a trace
    ///
    /// The script runs in this Python process with `sys.argv` set to `SCRIPT ARGS...`, its
    /// directory first on `sys.path`, and `PYTTD_RECORDING=1` in the environment. Code in files
    /// under the script's directory is recorded; the standard library, site-packages and pyttd
    /// itself are not (`--include`/`--exclude` change that). `pyttd record` exits with the script's exit status and prints a one-line
    /// summary on stderr.
    ///
    /// With `-m MODULE` the module runs as `python -m MODULE [ARGS]...` would (`sys.argv[0]` is
    /// the module's file, the current directory first on `sys.path`); code under the current
    /// directory is recorded.
    ///
    /// Values under secret-looking names (password, passwd, secret, token, api_key/apikey, auth,
    /// authorization, credential, private_key as a whole snake_case or camelCase component,
    /// case-insensitive: `db_password`, `API_KEY`, `authToken`, but not `author`) are never
    /// written: variables, dict keys, object attributes and fields, and return values of
    /// functions with such names. Text the program writes to `sys.stdout`/`sys.stderr` is stored
    /// as it is written.
    #[command(arg_required_else_help = true)]
    Record {
        /// Where to write the trace [default: `<script name without .py>.pyttd` (or
        /// `<MODULE>.pyttd`) in the current directory]
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
        /// SCRIPT is a module name: run it as `python -m MODULE [ARGS]...` does (every argument
        /// after the module goes to the module)
        #[arg(short = 'm')]
        module: bool,
        /// Record values under secret-looking names too (the trace then holds secrets)
        #[arg(long)]
        no_redact: bool,
        /// Also withhold values under names matching this regular expression (searched anywhere
        /// in the name, case-insensitive); repeatable
        #[arg(long = "secret-pattern", value_name = "REGEX")]
        secret_patterns: Vec<String>,
        /// Stop recording after N events; the program runs on to the end unrecorded
        #[arg(long, value_name = "N")]
        max_events: Option<u64>,
        /// Record only functions whose name or qualified name matches GLOB (`process_*`,
        /// `Parser.*`; a module body is `<module>`); repeatable
        #[arg(long, value_name = "GLOB")]
        include: Vec<String>,
        /// Never record functions whose name or qualified name matches GLOB; repeatable
        #[arg(long, value_name = "GLOB")]
        exclude: Vec<String>,
        /// Record exactly the files PATTERN matches, wherever they are (site-packages and the
        /// standard library too) instead of the script's directory. PATTERN is a file, a
        /// directory, or a glob over absolute paths (`*` crosses `/`); relative to the current
        /// directory; repeatable
        #[arg(long, value_name = "PATTERN")]
        include_file: Vec<String>,
        /// Never record files PATTERN matches (as for --include-file); wins over every include;
        /// repeatable
        #[arg(long, value_name = "PATTERN")]
        exclude_file: Vec<String>,
        /// Benchmark baseline: run the script under the same native callbacks on the same
        /// events, doing nothing; no trace is written
        #[arg(long)]
        floor: bool,
        /// Levels of children recorded below a container or object (elements, entries,
        /// attributes) for expanding it in a debugger; 0 records none
        #[arg(long, value_name = "N", default_value_t = 1)]
        expand_depth: u32,
        /// Children recorded per container or object
        #[arg(long, value_name = "N", default_value_t = 32)]
        expand_width: u32,
        /// The Python script (with `-m`, the module) to run, then its arguments (its
        /// `sys.argv[1:]`); everything after the script goes to the script
        #[arg(
            value_name = "SCRIPT [ARGS]",
            required = true,
            num_args = 1..,
            trailing_var_arg = true,
            allow_hyphen_values = true
        )]
        script_and_args: Vec<OsString>,
    },
    /// Check this installation: Python version, native module, trace format version
    Doctor,
    /// Show what a trace file holds: format version, whether it was closed cleanly, the run, and
    /// rows, segments and bytes per table
    ///
    /// A trace whose recording crashed or was killed has no footer; `pyttd info` says so and
    /// counts the complete segments it recovered.
    Info {
        /// The trace file (`.pyttd`)
        trace: PathBuf,
    },
    /// Ask a trace anything in SQL (DataFusion's dialect); with no QUERY, list the tables and
    /// their columns
    ///
    /// Tables: events, calls, variable_changes, exceptions, threads, output, code, run, and the
    /// stored tables as raw.events, raw.values, ...; `SELECT * FROM locals_at(SEQ)` gives the
    /// locals of the frame at SEQ. Traces given with --attach are schemas: `b.events`.
    /// Read-only: statements that write or create are refused. Bad SQL exits with status 2.
    #[command(arg_required_else_help = true)]
    Sql {
        /// The trace file (`.pyttd`)
        trace: PathBuf,
        /// One SQL statement
        query: Option<String>,
        /// Output format
        #[arg(long, value_enum, default_value_t = SqlFormat::Table)]
        format: SqlFormat,
        /// Write the result to FILE instead of stdout (required for parquet)
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Attach another trace under NAME (its tables are NAME.events, ...); repeatable
        #[arg(long, value_name = "NAME=TRACE")]
        attach: Vec<String>,
    },
    /// Debug a trace from any Debug Adapter Protocol client (VSCode, nvim-dap, Zed, ...): speaks
    /// DAP on stdin/stdout, or on one TCP connection with --listen
    ///
    /// `launch` with `trace` opens a recorded trace; with `program` (or `module`), `args`, `cwd`,
    /// `env` it records the program first. Step, step back, continue, reverse-continue, goto,
    /// breakpoints of every kind, stack, variables and evaluate over recorded values.
    Dap {
        /// Serve one client on this loopback address (e.g. 127.0.0.1:4711; port 0 picks one and
        /// prints it as `listening on ADDR`)
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
    },
    /// Print the stack and locals at one step of a trace
    #[command(arg_required_else_help = true)]
    Replay {
        /// The trace file (`.pyttd`)
        trace: PathBuf,
        /// The step (event seq) to show; default: the first line
        #[arg(long, value_name = "SEQ")]
        goto: Option<u64>,
    },
    /// Export a trace: every table as Parquet (a hive-style `DIR/<table>/run_id=<id>/` dataset),
    /// or the calls as a Perfetto / Chrome trace-event JSON timeline
    #[command(arg_required_else_help = true)]
    Export {
        /// The trace file (`.pyttd`)
        trace: PathBuf,
        /// What to write
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// The directory (parquet) or file (perfetto) to write
        #[arg(short, long, value_name = "PATH")]
        output: PathBuf,
    },
}

/// `pyttd sql --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SqlFormat {
    Table,
    Csv,
    Json,
    Parquet,
}

/// `pyttd export --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Parquet,
    Perfetto,
}

/// What `pyttd record` runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Script(PathBuf),
    /// `-m MODULE`.
    Module(String),
}

/// A parsed `pyttd record` command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordArgs {
    /// The trace to write (the default already applied).
    pub output: PathBuf,
    pub target: Target,
    pub args: Vec<OsString>,
    /// `--no-redact`.
    pub no_redact: bool,
    pub secret_patterns: Vec<String>,
    pub max_events: Option<u64>,
    /// `--include` and `--exclude` function globs.
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// `--include-file` and `--exclude-file` patterns, as given.
    pub include_files: Vec<String>,
    pub exclude_files: Vec<String>,
    /// `--floor`.
    pub floor: bool,
    /// `--expand-depth` and `--expand-width`.
    pub expand_depth: u32,
    pub expand_width: u32,
}

/// A parsed command line, ready to run.
#[derive(Debug)]
pub struct Invocation(Box<Command>);

impl Invocation {
    /// The `record` arguments, when this is `pyttd record` (which needs the Python interpreter
    /// and its GIL); the invocation itself otherwise.
    pub fn into_record(self) -> Result<RecordArgs, Invocation> {
        match *self.0 {
            Command::Record {
                output,
                module,
                no_redact,
                secret_patterns,
                max_events,
                include,
                exclude,
                include_file,
                exclude_file,
                floor,
                expand_depth,
                expand_width,
                mut script_and_args,
            } => {
                let first = script_and_args.remove(0);
                let target = if module {
                    Target::Module(first.to_string_lossy().into_owned())
                } else {
                    Target::Script(PathBuf::from(first))
                };
                let output = output.unwrap_or_else(|| match &target {
                    Target::Script(script) => default_output(script),
                    Target::Module(module) => PathBuf::from(format!("{module}.pyttd")),
                });
                Ok(RecordArgs {
                    output,
                    target,
                    args: script_and_args,
                    no_redact,
                    secret_patterns,
                    max_events,
                    include,
                    exclude,
                    include_files: include_file,
                    exclude_files: exclude_file,
                    floor,
                    expand_depth,
                    expand_width,
                })
            }
            other => Err(Invocation(Box::new(other))),
        }
    }
}

/// `<script stem>.pyttd` in the current directory.
fn default_output(script: &std::path::Path) -> PathBuf {
    let stem = script.file_stem().unwrap_or(script.as_os_str());
    let mut name = stem.to_os_string();
    name.push(".pyttd");
    PathBuf::from(name)
}

/// Whether each output stream gets ANSI styling.
#[derive(Debug, Clone, Copy)]
struct Color {
    stdout: bool,
    stderr: bool,
}

/// Runs the command line `args` (the first item is the program name) and returns the process exit
/// code: 0 on success, 1 when the command failed, 2 for a usage error.
pub fn run<I, T>(args: I, env: &RunEnv) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match parse(args) {
        Ok(invocation) => execute(invocation, env),
        Err(code) => code,
    }
}

/// Parses the command line `args` (program name first). `--help`, `--version` and usage errors
/// are printed here and come back as `Err(exit code)`.
pub fn parse<I, T>(args: I) -> Result<Invocation, i32>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let (stdout, stderr) = (io::stdout(), io::stderr());
    let color = standard_color(&stdout, &stderr);
    parse_with(args, &mut stdout.lock(), &mut stderr.lock(), color)
}

/// Runs a parsed command line and returns the exit code.
pub fn execute(invocation: Invocation, env: &RunEnv) -> i32 {
    let (stdout, stderr) = (io::stdout(), io::stderr());
    execute_with(invocation, env, &mut stdout.lock(), &mut stderr.lock())
}

/// Prints `error` the way every pyttd command reports a failure: one `error: ...` line.
pub fn report_error(error: &anyhow::Error) {
    let _ = writeln!(io::stderr().lock(), "error: {error:#}");
}

fn standard_color(stdout: &io::Stdout, stderr: &io::Stderr) -> Color {
    Color {
        stdout: wants_color(stdout),
        stderr: wants_color(stderr),
    }
}

#[cfg(test)]
fn run_with<I, T>(
    args: I,
    env: &RunEnv,
    out: &mut dyn Write,
    err: &mut dyn Write,
    color: Color,
) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match parse_with(args, out, err, color) {
        Ok(invocation) => execute_with(invocation, env, out, err),
        Err(code) => code,
    }
}

fn parse_with<I, T>(
    args: I,
    out: &mut dyn Write,
    err: &mut dyn Write,
    color: Color,
) -> Result<Invocation, i32>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match Cli::try_parse_from(args) {
        Ok(cli) => Ok(Invocation(Box::new(cli.command))),
        Err(clap_error) => {
            // `--help` and `--version` come through here too, destined for stdout with exit code 0.
            let (stream, styled): (&mut dyn Write, bool) = if clap_error.use_stderr() {
                (&mut *err, color.stderr)
            } else {
                (&mut *out, color.stdout)
            };
            let rendered = clap_error.render();
            // Nothing sensible is left to do if the terminal itself cannot be written to.
            let _ = if styled {
                write!(stream, "{}", rendered.ansi())
            } else {
                write!(stream, "{rendered}")
            };
            Err(clap_error.exit_code())
        }
    }
}

fn execute_with(
    invocation: Invocation,
    env: &RunEnv,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    match dispatch(*invocation.0, env, out) {
        Ok(()) => 0,
        // A reader that went away (`pyttd ... | head`) is not a failure worth reporting.
        Err(error) if is_broken_pipe(&error) => 0,
        Err(error) => {
            let _ = writeln!(err, "error: {error:#}");
            // A statement that does not parse or would write is a usage error.
            match error.downcast_ref::<pyttd_query::QueryError>() {
                Some(pyttd_query::QueryError::Sql(_) | pyttd_query::QueryError::ReadOnly(_)) => 2,
                _ => 1,
            }
        }
    }
}

fn dispatch(command: Command, env: &RunEnv, out: &mut dyn Write) -> anyhow::Result<()> {
    match command {
        Command::Doctor => doctor(env, out),
        Command::Info { trace } => info::info(&trace, out),
        Command::Dap { listen } => match listen {
            Some(addr) => crate::dap::serve_tcp(addr, env.python_executable.clone()),
            None => crate::dap::serve_stdio(env.python_executable.clone()),
        },
        Command::Replay { trace, goto } => replay::replay(&trace, goto, out),
        Command::Sql {
            trace,
            query,
            format,
            output,
            attach,
        } => sql::sql(
            &trace,
            query.as_deref(),
            format,
            output.as_deref(),
            &attach,
            out,
        ),
        Command::Export {
            trace,
            format,
            output,
        } => sql::export(&trace, format, &output, out),
        Command::Record { .. } => Err(anyhow::anyhow!(
            "`pyttd record` runs inside Python; use the `pyttd` console script or `python -m pyttd`"
        )),
    }
}

/// `pyttd doctor`: one `name  value` line per thing a bug report needs.
fn doctor(env: &RunEnv, out: &mut dyn Write) -> anyhow::Result<()> {
    let (format_major, format_minor) = pyttd_format::FORMAT_VERSION;
    let (python, native) = match &env.python_version {
        Some(version) => (version.as_str(), "pyttd._native loaded"),
        None => (
            "not available (pyttd was not started from Python)",
            "not loaded",
        ),
    };
    writeln!(out, "pyttd          {}", env!("CARGO_PKG_VERSION"))?;
    writeln!(out, "python         {python}")?;
    writeln!(out, "native module  {native}")?;
    writeln!(out, "trace format   {format_major}.{format_minor}")?;
    Ok(())
}

/// ANSI styling only for a terminal, and never when `NO_COLOR` is set to a non-empty value.
fn wants_color(stream: &impl IsTerminal) -> bool {
    stream.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<io::Error>()
        .is_some_and(|error| error.kind() == io::ErrorKind::BrokenPipe)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Outcome {
        code: i32,
        stdout: String,
        stderr: String,
    }

    /// Runs `argv` (program name first) without colour, capturing both streams.
    fn run_cli(argv: &[&str], env: &RunEnv) -> Outcome {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let plain = Color {
            stdout: false,
            stderr: false,
        };
        let code = run_with(argv.iter().copied(), env, &mut out, &mut err, plain);
        Outcome {
            code,
            stdout: String::from_utf8(out).unwrap(),
            stderr: String::from_utf8(err).unwrap(),
        }
    }

    fn no_python() -> RunEnv {
        RunEnv::default()
    }

    /// Replaces the versions that change with releases so snapshots stay put.
    fn redact_versions(text: &str) -> String {
        let (major, minor) = pyttd_format::FORMAT_VERSION;
        text.replace(env!("CARGO_PKG_VERSION"), "[VERSION]")
            .replace(&format!("format   {major}.{minor}"), "format   [FORMAT]")
    }

    #[test]
    fn version_prints_name_and_version_on_stdout() {
        let outcome = run_cli(&["pyttd", "--version"], &no_python());
        assert_eq!(outcome.code, 0);
        assert_eq!(
            outcome.stdout,
            format!("pyttd {}\n", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(outcome.stderr, "");
    }

    #[test]
    fn help_lists_doctor_on_stdout() {
        let outcome = run_cli(&["pyttd", "--help"], &no_python());
        assert_eq!(outcome.code, 0);
        // Only fragments: clap wraps help to the terminal's width.
        assert!(
            outcome.stdout.starts_with("Record a Python program"),
            "{}",
            outcome.stdout
        );
        assert!(
            outcome.stdout.contains("Usage: pyttd <COMMAND>"),
            "{}",
            outcome.stdout
        );
        assert!(outcome.stdout.contains("doctor"), "{}", outcome.stdout);
        assert_eq!(outcome.stderr, "");
    }

    #[test]
    fn usage_names_pyttd_whatever_argv0_is() {
        let outcome = run_cli(&["/somewhere/pyttd/__main__.py", "--help"], &no_python());
        assert_eq!(outcome.code, 0);
        assert!(
            outcome.stdout.contains("Usage: pyttd <COMMAND>"),
            "{}",
            outcome.stdout
        );
    }

    #[test]
    fn no_arguments_shows_help_on_stderr_and_exits_2() {
        let outcome = run_cli(&["pyttd"], &no_python());
        assert_eq!(outcome.code, 2);
        assert_eq!(outcome.stdout, "");
        assert!(outcome.stderr.contains("doctor"), "{}", outcome.stderr);
    }

    #[test]
    fn unknown_subcommand_is_a_usage_error() {
        let outcome = run_cli(&["pyttd", "nosuchcmd"], &no_python());
        assert_eq!(outcome.code, 2);
        assert_eq!(outcome.stdout, "");
        insta::assert_snapshot!(outcome.stderr, @r"
        error: unrecognized subcommand 'nosuchcmd'

        Usage: pyttd <COMMAND>

        For more information, try '--help'.
        ");
    }

    #[test]
    fn doctor_reports_versions() {
        let env = RunEnv {
            python_version: Some("3.12.1".to_owned()),
            python_executable: None,
        };
        let outcome = run_cli(&["pyttd", "doctor"], &env);
        assert_eq!(outcome.code, 0, "{}", outcome.stderr);
        assert_eq!(outcome.stderr, "");
        insta::assert_snapshot!(redact_versions(&outcome.stdout), @r"
        pyttd          [VERSION]
        python         3.12.1
        native module  pyttd._native loaded
        trace format   [FORMAT]
        ");
    }

    #[test]
    fn doctor_without_python_says_so() {
        let outcome = run_cli(&["pyttd", "doctor"], &no_python());
        assert_eq!(outcome.code, 0, "{}", outcome.stderr);
        insta::assert_snapshot!(redact_versions(&outcome.stdout), @r"
        pyttd          [VERSION]
        python         not available (pyttd was not started from Python)
        native module  not loaded
        trace format   [FORMAT]
        ");
    }

    fn fixture(name: &str) -> String {
        format!(
            "{}/format-spec/fixtures/v1/{name}",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    #[test]
    fn info_summarises_a_complete_trace() {
        let path = fixture("basic.pyttd");
        let outcome = run_cli(&["pyttd", "info", &path], &no_python());
        assert_eq!((outcome.code, outcome.stderr.as_str()), (0, ""));
        let text = outcome.stdout.replace(&path, "[TRACE]");
        assert!(text.contains("state     complete\n"), "{text}");
        assert!(text.contains("format    1.0\n"), "{text}");
        let events = text.lines().find(|l| l.starts_with("events ")).unwrap();
        let rows: u64 = events.split_whitespace().nth(1).unwrap().parse().unwrap();
        let reader = pyttd_format::TraceReader::open(&path).unwrap();
        assert_eq!(rows, reader.row_count(pyttd_format::Table::Events));
    }

    #[test]
    fn info_says_when_a_trace_was_not_closed() {
        let path = fixture("crashed.pyttd");
        let outcome = run_cli(&["pyttd", "info", &path], &no_python());
        assert_eq!(outcome.code, 0, "{}", outcome.stderr);
        assert!(
            outcome.stdout.contains("state     not closed cleanly: "),
            "{}",
            outcome.stdout
        );
    }

    #[test]
    fn info_on_a_missing_file_is_one_error_line_naming_it() {
        let outcome = run_cli(&["pyttd", "info", "no/such/trace.pyttd"], &no_python());
        assert_eq!(outcome.code, 1);
        assert_eq!(outcome.stdout, "");
        assert_eq!(
            outcome.stderr,
            "error: no/such/trace.pyttd: No such file or directory (os error 2)\n"
        );
    }

    fn parse_quiet(argv: &[&str]) -> Result<Invocation, i32> {
        let plain = Color {
            stdout: false,
            stderr: false,
        };
        parse_with(
            argv.iter().copied(),
            &mut Vec::new(),
            &mut Vec::new(),
            plain,
        )
    }

    #[test]
    fn record_passes_every_later_argument_to_the_script() {
        let invocation = parse_quiet(&["pyttd", "record", "dir/app.py", "-o", "x", "--verbose"]);
        let args = invocation.unwrap().into_record().unwrap();
        assert_eq!(
            args,
            RecordArgs {
                output: PathBuf::from("app.pyttd"),
                target: Target::Script(PathBuf::from("dir/app.py")),
                args: vec!["-o".into(), "x".into(), "--verbose".into()],
                no_redact: false,
                secret_patterns: vec![],
                max_events: None,
                include: vec![],
                exclude: vec![],
                include_files: vec![],
                exclude_files: vec![],
                floor: false,
                expand_depth: 1,
                expand_width: 32,
            }
        );
    }

    #[test]
    fn record_module_with_options() {
        let invocation = parse_quiet(&[
            "pyttd",
            "record",
            "--no-redact",
            "--secret-pattern",
            "pin",
            "--secret-pattern",
            "^ssn$",
            "--max-events",
            "10",
            "--include",
            "process_*",
            "--exclude",
            "Parser.*",
            "--include-file",
            "lib",
            "--exclude-file",
            "lib/gen/*",
            "--exclude-file",
            "vendor",
            "--floor",
            "-m",
            "pkg.app",
            "a",
            "--flag",
            "-o",
            "x",
        ]);
        let args = invocation.unwrap().into_record().unwrap();
        assert_eq!(
            args,
            RecordArgs {
                output: PathBuf::from("pkg.app.pyttd"),
                target: Target::Module("pkg.app".into()),
                args: vec!["a".into(), "--flag".into(), "-o".into(), "x".into()],
                no_redact: true,
                secret_patterns: vec!["pin".into(), "^ssn$".into()],
                max_events: Some(10),
                include: vec!["process_*".into()],
                exclude: vec!["Parser.*".into()],
                include_files: vec!["lib".into()],
                exclude_files: vec!["lib/gen/*".into(), "vendor".into()],
                floor: true,
                expand_depth: 1,
                expand_width: 32,
            }
        );
    }

    #[test]
    fn record_output_option_goes_before_the_script() {
        let invocation = parse_quiet(&["pyttd", "record", "-o", "t.pyttd", "app.py"]);
        let args = invocation.unwrap().into_record().unwrap();
        assert_eq!(args.output, PathBuf::from("t.pyttd"));
        assert!(args.args.is_empty());
    }

    #[test]
    fn record_without_a_script_shows_its_help() {
        let outcome = run_cli(&["pyttd", "record"], &no_python());
        assert_eq!(outcome.code, 2);
        assert!(
            outcome.stderr.contains("Usage: pyttd record"),
            "{}",
            outcome.stderr
        );
    }

    #[test]
    fn record_outside_python_is_one_error_line() {
        let outcome = run_cli(&["pyttd", "record", "app.py"], &no_python());
        assert_eq!(outcome.code, 1);
        assert_eq!(
            outcome.stderr,
            "error: `pyttd record` runs inside Python; use the `pyttd` console script or `python -m pyttd`\n"
        );
    }

    #[test]
    fn broken_pipe_is_not_reported() {
        let error = anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(is_broken_pipe(&error));
        assert!(!is_broken_pipe(&anyhow::anyhow!("disk full")));
    }
}
