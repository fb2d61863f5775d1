//! Which files a Parquet dataset is: a directory walked as Spark, DuckDB and
//! warehouses write them, or a pattern over one directory's file names; and the
//! `key=value` folder names (hive partitioning) that supply a column its files lack.
//! Only the file system here: the files are decoded in [`crate::arrow`].

use crate::error::{Error, Result};

/// The Parquet files of a dataset, sorted by path: `path` itself when it is a file;
/// every file under a directory, recursively, skipping names that start with `_` or
/// `.` (Spark's `_SUCCESS`, checksum files); or, when the last component holds `*`
/// or `?`, the files of its directory whose names match (`exports/part-*.parquet`),
/// hidden names skipped as in a directory unless the pattern itself starts with `_`
/// or `.` (`exports/*` does not read `_SUCCESS`). Whatever their names (Hive writes
/// `000000_0`), the files of a directory or a pattern must be Parquet files: one that
/// is not is refused by name ([`Error::NotParquet`]; a pipe, socket or device:
/// [`Error::NotAFile`]), never passed over. Links to files are read; a link to a
/// folder is followed when the folder lies outside the dataset (each real folder
/// once), not when it lies inside, where the walk reads it anyway (a link back up the
/// tree is not a walk without end). A wildcard in a directory part is refused
/// ([`Error::WildcardDirectory`]).
pub fn dataset_files(path: &std::path::Path) -> Result<Vec<std::path::PathBuf>> {
    let io = |p: &std::path::Path| {
        let p = p.to_path_buf();
        move |e| Error::Io { path: p, source: e }
    };
    // Every file a dataset names is read or refused, never passed over: a CSV beside
    // the Parquet parts lost its rows without a word, and Hive's extensionless parts
    // (`000000_0`) were not found. A Parquet file begins with `PAR1`.
    // Opened only when a regular file (a link to one included; `metadata` follows
    // links): opening a named pipe waits for a writer.
    let parquet = |(p, regular): (std::path::PathBuf, bool)| -> Result<std::path::PathBuf> {
        if !regular {
            return Err(Error::NotAFile { path: p.display().to_string() });
        }
        use std::io::Read;
        let mut magic = Vec::with_capacity(4);
        std::fs::File::open(&p).and_then(|f| f.take(4).read_to_end(&mut magic)).map_err(io(&p))?;
        if magic == b"PAR1" {
            Ok(p)
        } else {
            Err(Error::NotParquet { file: p.display().to_string() })
        }
    };
    let hidden = |p: &std::path::Path| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('_') || n.starts_with('.'));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let wild = |s: &str| s.contains('*') || s.contains('?');
    if path.parent().is_some_and(|d| d.components().any(|c| c.as_os_str().to_str().is_some_and(wild))) {
        return Err(Error::WildcardDirectory { path: path.display().to_string() });
    }
    if wild(name) {
        let pattern_hidden = name.starts_with('_') || name.starts_with('.');
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).map_err(io(dir))? {
            let p = e.map_err(io(dir))?.path();
            if (pattern_hidden || !hidden(&p)) && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| wildcard(name, n)) {
                // A pattern names files: a directory that matches is not read.
                let meta = std::fs::metadata(&p).map_err(io(&p))?;
                if !meta.is_dir() {
                    out.push((p, meta.is_file()));
                }
            }
        }
        out.sort();
        return out.into_iter().map(parquet).collect();
    }
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    // A link to a folder inside the dataset is not followed: that folder is read where
    // it is, under its own `key=value` names (a link back up the tree, `again -> .`,
    // walked 40 levels deep and failed; two hung). A link to a folder elsewhere is
    // read, each real folder once.
    let real_root = std::fs::canonicalize(path).map_err(io(path))?;
    let mut seen = std::collections::HashSet::new();
    while let Some(dir) = stack.pop() {
        if !seen.insert(std::fs::canonicalize(&dir).map_err(io(&dir))?) {
            continue;
        }
        for e in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let e = e.map_err(io(&dir))?;
            let p = e.path();
            if hidden(&p) {
                continue;
            }
            let meta = std::fs::metadata(&p).map_err(io(&p))?;
            if meta.is_dir() {
                // The entry's own type: a link is not followed by `file_type`.
                let link = e.file_type().map_err(io(&p))?.is_symlink();
                if !link || !std::fs::canonicalize(&p).map_err(io(&p))?.starts_with(&real_root) {
                    stack.push(p);
                }
            } else {
                out.push((p, meta.is_file()));
            }
        }
    }
    out.sort();
    out.into_iter().map(parquet).collect()
}

/// `*` (any run of characters) and `?` (one character) matching of a file name.
fn wildcard(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

/// The `key=value` folder names of a dataset's files (hive partitioning), decoded
/// as Spark and Hive write them: `%XX` escapes (`CNTRL%2FSTORE SUP` is `CNTRL/STORE
/// SUP`, `10%3A30` is `10:30`), and `__HIVE_DEFAULT_PARTITION__` for a null or empty
/// value (`None`).
#[cfg_attr(not(feature = "parquet"), allow(dead_code))]
pub(crate) struct HiveFolders {
    root: std::path::PathBuf,
    /// The root's own name, by its real path (`.` inside `region=UK`, `region=UK/..`,
    /// a link named otherwise), found once for every file.
    own: Option<std::path::PathBuf>,
}

#[cfg_attr(not(feature = "parquet"), allow(dead_code))]
impl HiveFolders {
    pub(crate) fn new(root: &std::path::Path) -> Self {
        let real = std::fs::canonicalize(if root.as_os_str().is_empty() { std::path::Path::new(".") } else { root }).ok();
        HiveFolders { root: root.to_path_buf(), own: real.as_deref().and_then(std::path::Path::file_name).map(std::path::PathBuf::from) }
    }

    /// The values of `file`'s folders between the root and it, the root's own name
    /// included (`sales/region=UK` given alone, or the pattern
    /// `sales/region=UK/part-*.parquet`: its files lack `region`, their folder says
    /// it); a key named twice takes its deepest folder's value.
    pub(crate) fn values(&self, file: &std::path::Path) -> Vec<(String, Option<String>)> {
        let rel = file.strip_prefix(&self.root).unwrap_or(file);
        let mut out: Vec<(String, Option<String>)> = Vec::new();
        for c in self.own.as_deref().into_iter().chain(rel.parent()).flat_map(|d| d.components()) {
            if let Some((k, v)) = c.as_os_str().to_str().and_then(|c| c.split_once('=')) {
                let (k, v) = (unescape_hive(k), (v != "__HIVE_DEFAULT_PARTITION__").then(|| unescape_hive(v)));
                out.retain(|(key, _)| *key != k);
                out.push((k, v));
            }
        }
        out
    }
}

/// Undoes Hive's path escaping: `%XX` (two hex digits) is that byte; anything else,
/// a stray `%` included, is kept as written.
fn unescape_hive(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}
