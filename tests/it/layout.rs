//! The code layout rules a reviewer checks, as tests: no two modules that import each other
//! (directly or through others), no source file over 700 lines, no function over 150 lines in the
//! library crates. The checks read the sources as text (comments and string literals skipped).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 700;
const MAX_FN_LINES: usize = 150;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The library source roots: the main crate's `src/` and each `crates/*/src`.
fn source_roots() -> Vec<PathBuf> {
    let mut roots = vec![root().join("src")];
    if let Ok(entries) = std::fs::read_dir(root().join("crates")) {
        for e in entries.flatten() {
            if e.path().join("src").is_dir() {
                roots.push(e.path().join("src"));
            }
        }
    }
    roots
}

/// The text of a Rust file with comments and the contents of string and char literals blanked
/// (newlines kept, so line numbers stay).
fn code_only(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_before(&b, i) {
            // Raw string r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            let close: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            while j < b.len() && !b[j..].starts_with(&close) {
                j += 1;
            }
            j = (j + close.len()).min(b.len());
            out.push_str("r\"");
            out.extend(b[i + 2..j.saturating_sub(1)].iter().map(|&c| blank(c)));
            out.push('"');
            i = j;
        } else if c == '"' {
            out.push('"');
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < b.len() {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
            out.push('"');
            i += 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}'), or a lifetime ('a).
            let end = if next == Some('\\') {
                (i + 2..b.len()).find(|&j| b[j] == '\'')
            } else if b.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(e) => {
                    out.push_str("' ");
                    out.extend(std::iter::repeat_n(' ', e - i - 2));
                    out.push('\'');
                    i = e + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(b: &[char], i: usize) -> bool {
    i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_')
}

/// A module's path inside its crate (`["dataflow", "operators"]`) from its file.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("file under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_string());
    }
    parts
}

/// The paths (`crate::a::b`, `super::c`, `self::d`, with `{..}` groups expanded) a file names.
fn referenced_paths(code: &str) -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    for anchor in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(pos) = code[from..].find(anchor) {
            let start = from + pos;
            from = start + anchor.len();
            let before = code[..start].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let head = anchor.trim_end_matches("::").to_string();
            // `super::super::x`
            let mut prefix = vec![];
            let mut rest = &code[from..];
            while let Some(r) = rest.strip_prefix("super::") {
                prefix.push("super".to_string());
                rest = r;
            }
            for path in expand(rest) {
                let mut p = prefix.clone();
                p.extend(path);
                found.push((head.clone(), p));
            }
        }
    }
    found
}

/// Expands `a::b::{c, d::e}` at the start of `s` into its paths.
fn expand(s: &str) -> Vec<Vec<String>> {
    let mut segs = Vec::new();
    let mut rest = s;
    loop {
        let ident: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if ident.is_empty() {
            break;
        }
        rest = &rest[ident.len()..];
        segs.push(ident);
        match rest.strip_prefix("::") {
            Some(r) => rest = r,
            None => return vec![segs],
        }
    }
    let Some(group) = rest.strip_prefix('{') else {
        return vec![segs];
    };
    let mut depth = 1;
    let mut end = 0;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    end = i;
                    break;
                }
            }
            _ => {}
        }
    }
    let inner = &group[..end];
    let mut items = Vec::new();
    let (mut d, mut last) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => d += 1,
            '}' => d -= 1,
            ',' if d == 0 => {
                items.push(&inner[last..i]);
                last = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[last..]);
    let mut out = Vec::new();
    for item in items {
        for tail in expand(item.trim_start()) {
            let mut p = segs.clone();
            p.extend(tail);
            out.push(p);
        }
    }
    if out.is_empty() {
        out.push(segs);
    }
    out
}

/// Every import edge between two modules of one crate that are not ancestor and descendant,
/// lifted to the two children of their closest common ancestor: `(ancestor, from, to, file)`.
type Edge = (Vec<String>, String, String, PathBuf);

fn import_edges(src: &Path) -> Vec<Edge> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.retain(|f| !f.ends_with("main.rs") || f.parent() != Some(src));
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(src, f)).collect();
    let mut edges = Vec::new();
    for file in &files {
        let me = module_of(src, file);
        let code = code_only(&std::fs::read_to_string(file).expect("readable source"));
        for (head, path) in referenced_paths(&code) {
            let mut base = match head.as_str() {
                "crate" => vec![],
                // In `a/b.rs` (module a::b) `super` is `a`; in `a/mod.rs` (module a) the root.
                "super" => me[..me.len().saturating_sub(1)].to_vec(),
                _ => me.clone(),
            };
            let mut path = path.as_slice();
            while path.first().is_some_and(|s| s == "super") {
                base.pop();
                path = &path[1..];
            }
            // The longest prefix of base + path that is a module of this crate.
            let mut target = base.clone();
            for seg in path {
                let mut next = target.clone();
                next.push(seg.clone());
                if modules.contains(&next) {
                    target = next;
                } else {
                    break;
                }
            }
            let common = me.iter().zip(&target).take_while(|(a, b)| a == b).count();
            if common < me.len() && common < target.len() {
                edges.push((
                    me[..common].to_vec(),
                    me[common].clone(),
                    target[common].clone(),
                    file.clone(),
                ));
            }
        }
    }
    edges
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let mut problems = Vec::new();
    for src in source_roots() {
        let edges = import_edges(&src);
        // Per common ancestor: the graph of its children.
        let mut graphs: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
        let mut witness: BTreeMap<(Vec<String>, String, String), PathBuf> = BTreeMap::new();
        for (anc, a, b, file) in edges {
            graphs
                .entry(anc.clone())
                .or_default()
                .entry(a.clone())
                .or_default()
                .insert(b.clone());
            witness.entry((anc, a, b)).or_insert(file);
        }
        for (anc, graph) in &graphs {
            for (a, targets) in graph {
                for b in targets {
                    // Does b reach a?
                    let mut seen = BTreeSet::new();
                    let mut stack = vec![b.clone()];
                    while let Some(n) = stack.pop() {
                        if !seen.insert(n.clone()) {
                            continue;
                        }
                        stack.extend(graph.get(&n).into_iter().flatten().cloned());
                    }
                    if seen.contains(a) && a < b {
                        let at = if anc.is_empty() {
                            "crate".to_string()
                        } else {
                            anc.join("::")
                        };
                        problems.push(format!(
                            "{}: in {at}, {a} imports {b} ({}) and {b} leads back to {a} ({})",
                            src.display(),
                            witness[&(anc.clone(), a.clone(), b.clone())].display(),
                            witness
                                .iter()
                                .find(|((x, f, _), _)| x == anc && f == b)
                                .map(|(_, p)| p.display().to_string())
                                .unwrap_or_default()
                        ));
                    }
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "import cycles:\n{}",
        problems.join("\n")
    );
}

#[test]
fn no_source_file_over_700_lines() {
    let mut files = Vec::new();
    for dir in ["src", "tests", "examples", "benches", "crates"] {
        rust_files(&root().join(dir), &mut files);
    }
    let mut long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).ok()?.lines().count();
            (n > MAX_FILE_LINES).then(|| format!("{} has {n} lines", f.display()))
        })
        .collect();
    long.sort();
    assert!(
        long.is_empty(),
        "files over {MAX_FILE_LINES} lines:\n{}",
        long.join("\n")
    );
}

/// `(name, first line, lines)` of every function in a file.
fn functions(code: &str) -> Vec<(String, usize, usize)> {
    let bytes = code.as_bytes();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(pos) = code[from..].find("fn ") {
        let start = from + pos;
        from = start + 3;
        if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
            continue;
        }
        let name: String = code[from..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            continue; // `fn(` types
        }
        // The body starts at the first `{` before any `;` (a declaration without body), both
        // outside brackets: `[u32; 4]` in a signature is neither.
        let mut brackets = 0i32;
        let Some(open_rel) = code[from..].find(|c: char| {
            match c {
                '(' | '[' => brackets += 1,
                ')' | ']' => brackets -= 1,
                _ => {}
            }
            brackets == 0 && (c == '{' || c == ';')
        }) else {
            continue;
        };
        let open = from + open_rel;
        if bytes[open] == b';' {
            continue;
        }
        let mut depth = 0;
        let mut close = open;
        for (i, c) in code[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = open + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let first = code[..start].matches('\n').count() + 1;
        let last = code[..close].matches('\n').count() + 1;
        found.push((name, first, last - first + 1));
    }
    found
}

#[test]
fn no_function_over_150_lines_in_the_library() {
    let mut long = Vec::new();
    for src in source_roots() {
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for f in files {
            let code = code_only(&std::fs::read_to_string(&f).expect("readable source"));
            for (name, line, n) in functions(&code) {
                if n > MAX_FN_LINES {
                    long.push(format!("{}:{line} fn {name} has {n} lines", f.display()));
                }
            }
        }
    }
    long.sort();
    assert!(
        long.is_empty(),
        "functions over {MAX_FN_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_checker_sees_through_comments_strings_and_groups() {
    let code = code_only("let s = \"crate::a { }\"; // crate::b\nuse crate::{c::D, e::{f, g}};");
    let paths: Vec<Vec<String>> = referenced_paths(&code).into_iter().map(|p| p.1).collect();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(paths, vec![s(&["c", "D"]), s(&["e", "f"]), s(&["e", "g"])]);
    let fns = functions(&code_only(
        "fn a() {\n let c = '{';\n}\nfn b();\nfn c(x: &[u32; 4]) -> [u8; 2] {\n\n}\n",
    ));
    assert_eq!(fns, vec![("a".to_string(), 1, 3), ("c".to_string(), 5, 3)]);
}
