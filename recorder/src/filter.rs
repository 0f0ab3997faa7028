//! Which code is recorded: the file filter (`--include-file`/`--exclude-file`, paths and globs)
//! and the function filter (`--include`/`--exclude`, globs over function names).
//!
//! File patterns are paths. A relative pattern is taken from the current directory. A pattern
//! without wildcards names a file or a directory (everything under it); otherwise `*` matches any
//! run of characters *including* `/`, `?` one character, `[...]` a set, matched against the
//! file's absolute resolved path (`fnmatch`'s rules, as py-tt-debug and pytest use them).
//!
//! Without `--include-file`, the files under the recorded root (the script's directory) are
//! recorded, except the interpreter's own directories (standard library, site-packages). With
//! it, exactly the files it matches are, wherever they are. `--exclude-file` and pyttd's own
//! package win over both.
//!
//! Function patterns match a code object's `co_qualname` (`Parser.parse`, `main.<locals>.helper`)
//! or its `co_name` (`parse`); a module body is `<module>`. With `--include`, only matching code
//! is recorded; `--exclude` wins.

use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};

use crate::error::RecorderError;

/// One file pattern.
#[derive(Debug, Clone)]
enum FilePattern {
    /// A file, or a directory and everything under it.
    Path(PathBuf),
    Glob(GlobMatcher),
}

impl FilePattern {
    fn parse(pattern: &str, cwd: &Path) -> Result<FilePattern, RecorderError> {
        let has_wildcard = pattern.contains(['*', '?', '[']);
        let path = cwd.join(pattern);
        if !has_wildcard {
            return Ok(FilePattern::Path(canonical(&path)));
        }
        let glob = GlobBuilder::new(&path.to_string_lossy())
            .literal_separator(false)
            .backslash_escape(true)
            .build()
            .map_err(|e| RecorderError::InvalidOption(format!("file pattern {pattern:?}: {e}")))?;
        Ok(FilePattern::Glob(glob.compile_matcher()))
    }

    fn matches(&self, file: &Path) -> bool {
        match self {
            FilePattern::Path(p) => file.starts_with(p),
            FilePattern::Glob(g) => g.is_match(file),
        }
    }
}

/// Decides which files are recorded.
#[derive(Debug, Clone)]
pub(crate) struct FileFilter {
    root: PathBuf,
    /// The interpreter's directories: out of the default set.
    system: Vec<PathBuf>,
    include: Vec<FilePattern>,
    exclude: Vec<FilePattern>,
}

impl FileFilter {
    /// `root`: the default recorded directory. `exclude_dirs`: never recorded (pyttd itself).
    pub fn new(
        root: &Path,
        system: Vec<PathBuf>,
        exclude_dirs: &[PathBuf],
        include_files: &[String],
        exclude_files: &[String],
        cwd: &Path,
    ) -> Result<FileFilter, RecorderError> {
        let parse = |patterns: &[String]| -> Result<Vec<FilePattern>, RecorderError> {
            patterns
                .iter()
                .map(|p| FilePattern::parse(p, cwd))
                .collect()
        };
        let mut exclude = parse(exclude_files)?;
        exclude.extend(exclude_dirs.iter().map(|d| FilePattern::Path(canonical(d))));
        Ok(FileFilter {
            root: canonical(root),
            system: system.iter().map(|p| canonical(p)).collect(),
            include: parse(include_files)?,
            exclude,
        })
    }

    /// Whether code from the file at the resolved path `file` is recorded.
    pub fn records(&self, file: &Path) -> bool {
        if self.exclude.iter().any(|p| p.matches(file)) {
            return false;
        }
        if self.include.is_empty() {
            file.starts_with(&self.root) && !self.system.iter().any(|s| file.starts_with(s))
        } else {
            self.include.iter().any(|p| p.matches(file))
        }
    }
}

/// Decides which functions of the recorded files are recorded.
#[derive(Debug, Clone, Default)]
pub(crate) struct FunctionFilter {
    include: Vec<GlobMatcher>,
    exclude: Vec<GlobMatcher>,
}

impl FunctionFilter {
    pub fn new(include: &[String], exclude: &[String]) -> Result<FunctionFilter, RecorderError> {
        let parse = |patterns: &[String]| -> Result<Vec<GlobMatcher>, RecorderError> {
            patterns
                .iter()
                .map(|p| {
                    GlobBuilder::new(p)
                        .literal_separator(false)
                        .build()
                        .map(|g| g.compile_matcher())
                        .map_err(|e| {
                            RecorderError::InvalidOption(format!("function pattern {p:?}: {e}"))
                        })
                })
                .collect()
        };
        Ok(FunctionFilter {
            include: parse(include)?,
            exclude: parse(exclude)?,
        })
    }

    /// Whether code named `name` (qualified name `qualname`) is recorded.
    pub fn records(&self, name: &str, qualname: &str) -> bool {
        let hit = |g: &GlobMatcher| g.is_match(qualname) || g.is_match(name);
        !self.exclude.iter().any(hit) && (self.include.is_empty() || self.include.iter().any(hit))
    }
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(include: &[&str], exclude: &[&str]) -> FileFilter {
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        FileFilter::new(
            Path::new("/app"),
            vec![PathBuf::from("/app/.venv")],
            &[PathBuf::from("/app/pyttd")],
            &own(include),
            &own(exclude),
            Path::new("/app"),
        )
        .unwrap()
    }

    #[test]
    fn default_set_is_the_root_without_the_interpreter_and_pyttd() {
        let f = files(&[], &[]);
        assert!(f.records(Path::new("/app/main.py")));
        assert!(f.records(Path::new("/app/pkg/mod.py")));
        assert!(!f.records(Path::new("/app/.venv/lib/site.py")));
        assert!(!f.records(Path::new("/app/pyttd/__init__.py")));
        assert!(!f.records(Path::new("/usr/lib/python3.12/json/__init__.py")));
    }

    #[test]
    fn include_file_replaces_the_default_set_and_reaches_anywhere() {
        let f = files(&["pkg", "/usr/lib/*/json/*.py"], &[]);
        assert!(f.records(Path::new("/app/pkg/mod.py")));
        assert!(!f.records(Path::new("/app/main.py")));
        assert!(f.records(Path::new("/usr/lib/python3.12/json/decoder.py")));
        assert!(!f.records(Path::new("/usr/lib/python3.12/ast.py")));
    }

    #[test]
    fn exclude_file_wins_and_star_crosses_directories() {
        let f = files(&[], &["*_test.py", "vendor"]);
        assert!(!f.records(Path::new("/app/deep/er/x_test.py")));
        assert!(!f.records(Path::new("/app/vendor/lib.py")));
        assert!(f.records(Path::new("/app/vendorx.py")));
        assert!(f.records(Path::new("/app/x.py")));
        let both = files(&["/app"], &["/app/secret*"]);
        assert!(!both.records(Path::new("/app/secrets.py")));
    }

    #[test]
    fn function_globs_match_name_or_qualname() {
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let f = FunctionFilter::new(&own(&["process_*", "Parser.*"]), &own(&["*_slow"])).unwrap();
        assert!(f.records("process_item", "process_item"));
        assert!(f.records("parse", "Parser.parse"));
        assert!(f.records("process_one", "Worker.process_one"));
        assert!(!f.records("process_slow", "process_slow"));
        assert!(!f.records("<module>", "<module>"));
        // Functions nested in a method match its class's pattern too.
        assert!(f.records("helper", "Parser.parse.<locals>.helper"));
        let all = FunctionFilter::new(&[], &own(&["<module>"])).unwrap();
        assert!(!all.records("<module>", "<module>"));
        assert!(all.records("f", "f"));
    }

    #[test]
    fn a_bad_pattern_is_an_error_naming_it() {
        let e = FunctionFilter::new(&["[a".to_string()], &[]).unwrap_err();
        assert!(e.to_string().contains("\"[a\""), "{e}");
    }
}
