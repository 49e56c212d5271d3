//! The layering rule, checked on the source: imports only point down, so no two files of
//! `src/` may import each other, directly or round a loop. Every `crate::…`, `super::…` and
//! `self::…` path in a file (tests inside it excluded) is an arrow to the file of the longest
//! module that path names; a strongly connected set of two or more files is a circle, and the
//! test lists each with the arrows that close it.
//!
//! To see the check fail, make a lower file name a higher one that names it back (say
//! `src/ldap/search.rs` naming `super::ops::ConnCtx` again): the test lists the circle with the
//! arrows that close it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `src/verify/mod.rs` → `verify`; `src/verify/hashing.rs` → `verify::hashing`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts.join("::")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("main.rs") {
            out.push(p);
        }
    }
}

/// The code of a file without its unit tests and comments.
fn code(text: &str) -> String {
    let body = text.split("#[cfg(test)]").next().unwrap_or(text);
    body.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every module path named in `code`, absolute (`a::b::c`), from `crate::`, `super::` and
/// `self::` paths, braces of `use` lists expanded one level.
fn named_paths(code: &str, here: &str) -> Vec<String> {
    let mut out = vec![];
    let bytes = code.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < bytes.len() {
        let starts = ["crate::", "super::", "self::"]
            .iter()
            .find(|p| bytes[i..].starts_with(p.as_bytes()) && (i == 0 || !ident(bytes[i - 1])));
        let Some(prefix) = starts else {
            i += 1;
            continue;
        };
        // The path as written: identifiers and `::`, up to a brace list or anything else.
        let mut j = i;
        while j < bytes.len() && (ident(bytes[j]) || bytes[j] == b':') {
            j += 1;
        }
        let written = code[i..j].trim_end_matches(':').to_string();
        let mut heads = vec![written.clone()];
        if code[j..].starts_with('{') {
            if let Some(end) = code[j..].find('}') {
                let inner = &code[j + 1..j + end];
                heads = inner
                    .split(',')
                    .map(|s| s.trim().split(" as ").next().unwrap_or("").trim())
                    .filter(|s| !s.is_empty())
                    .map(|s| format!("{}::{s}", written.trim_end_matches("::")))
                    .collect();
            }
        }
        for h in heads {
            let mut segs: Vec<&str> = h.split("::").filter(|s| !s.is_empty()).collect();
            let mut base: Vec<String> = match *prefix {
                "crate::" => {
                    segs.remove(0);
                    vec![]
                }
                _ => {
                    // A file's own module; `super` of a file is its folder, of a mod.rs its parent.
                    let mut m: Vec<String> = if here.is_empty() {
                        vec![]
                    } else {
                        here.split("::").map(str::to_string).collect()
                    };
                    // `super` is the parent module (a file's folder; for a mod.rs, the folder's
                    // parent), `self` the module itself.
                    while segs.first() == Some(&"super") || segs.first() == Some(&"self") {
                        if segs[0] == "super" {
                            m.pop();
                        }
                        segs.remove(0);
                    }
                    m
                }
            };
            base.extend(segs.iter().map(|s| s.to_string()));
            out.push(base.join("::"));
        }
        i = j.max(i + 1);
    }
    out
}

/// The file module a path lands in: its longest prefix that is a module of a file.
fn resolve<'a>(path: &str, modules: &'a BTreeMap<String, PathBuf>) -> Option<&'a str> {
    let segs: Vec<&str> = path.split("::").collect();
    (0..=segs.len())
        .rev()
        .map(|n| segs[..n].join("::"))
        .find_map(|p| modules.get_key_value(&p).map(|(k, _)| k.as_str()))
}

/// Tarjan's strongly connected components; those of two or more modules.
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'g> {
        g: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on: BTreeSet<&'g str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'g>(t: &mut T<'g>, v: &'g str) {
        t.index.insert(v, t.next);
        t.low.insert(v, t.next);
        t.next += 1;
        t.stack.push(v);
        t.on.insert(v);
        for w in t.g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                let l = t.low[w].min(t.low[v]);
                t.low.insert(v, l);
            } else if t.on.contains(w) {
                let l = t.index[w].min(t.low[v]);
                t.low.insert(v, l);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = vec![];
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        g: graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: vec![],
        on: BTreeSet::new(),
        next: 0,
        out: vec![],
    };
    for v in graph.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

/// Every file module and the file modules it names.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    rust_files(&src, &mut files);
    let modules: BTreeMap<String, PathBuf> = files
        .iter()
        .map(|f| (module_of(&src, f), f.clone()))
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, f) in &modules {
        let text = std::fs::read_to_string(f).unwrap();
        let mut edges = BTreeSet::new();
        let code = code(&text);
        // Paths relative to this module (`hashing::Hasher` in verify/mod.rs) name its children.
        let children: Vec<&str> = modules
            .keys()
            .filter_map(|k| {
                let rest = if m.is_empty() {
                    Some(k.as_str())
                } else {
                    k.strip_prefix(m.as_str())?.strip_prefix("::")
                };
                rest.filter(|r| !r.is_empty() && !r.contains("::"))
            })
            .collect();
        let mut relative = vec![];
        for child in &children {
            let needle = format!("{child}::");
            let b = code.as_bytes();
            let mut from = 0;
            while let Some(at) = code[from..].find(&needle) {
                let i = from + at;
                let before = if i == 0 { b' ' } else { b[i - 1] };
                if !(before.is_ascii_alphanumeric() || before == b'_' || before == b':') {
                    relative.push(if m.is_empty() {
                        child.to_string()
                    } else {
                        format!("{m}::{child}")
                    });
                }
                from = i + needle.len();
            }
        }
        for p in named_paths(&code, m).into_iter().chain(relative) {
            if let Some(target) = resolve(&p, &modules) {
                // Naming itself is no arrow; the crate root only declares modules.
                if target != m && !m.is_empty() {
                    edges.insert(target.to_string());
                }
            }
        }
        graph.insert(m.clone(), edges);
    }
    graph
}

#[test]
fn no_two_files_of_src_import_each_other_round_a_loop() {
    let graph = import_graph();
    let found = circles(&graph);
    let mut report = String::new();
    for c in &found {
        report.push_str(&format!("circle of {} files:\n", c.len()));
        for a in c {
            for b in graph[a].iter().filter(|b| c.contains(b)) {
                report.push_str(&format!("  {a} -> {b}\n"));
            }
        }
    }
    assert!(found.is_empty(), "import circles in src/:\n{report}");
}

/// The command line, the admin page, the front doors and the fuzzers' entries are the top of the
/// house: nothing below them (the domain, the store, the verifier, the runtime) may name them.
/// The doors may name the read layer and the verifier, never the command line or the page.
#[test]
fn nothing_below_the_doors_the_command_line_and_the_page_imports_them() {
    let graph = import_graph();
    let top = [
        "cli", "admin", "daemon", "scenario", "load", "app", "fuzzing",
    ];
    let is_top = |m: &str| {
        top.iter()
            .any(|t| m == *t || m.starts_with(&format!("{t}::")))
    };
    let wrong: Vec<String> = graph
        .iter()
        .filter(|(m, _)| !is_top(m))
        .flat_map(|(m, to)| {
            to.iter()
                .filter(|t| {
                    let door = t.starts_with("radius") || t.starts_with("ldap");
                    let below_doors = !m.starts_with("radius") && !m.starts_with("ldap");
                    t.starts_with("cli") || t.starts_with("admin") || (door && below_doors)
                })
                .map(move |t| format!("{m} -> {t}"))
        })
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn the_checker_finds_a_circle_when_there_is_one() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.insert("a".into(), ["b".to_string()].into());
    g.insert("b".into(), ["c".to_string()].into());
    g.insert("c".into(), ["a".to_string()].into());
    g.insert("d".into(), ["a".to_string()].into());
    assert_eq!(circles(&g), vec![vec!["a", "b", "c"]]);
    // Paths as written resolve to the files they land in.
    let m: BTreeMap<String, PathBuf> = ["verify", "verify::hashing", "ldap::ops", "ldap::search"]
        .iter()
        .map(|m| (m.to_string(), PathBuf::new()))
        .collect();
    let names = named_paths(
        "use super::ops::ConnCtx; use crate::verify::{hashing::Secret, Verifier};",
        "ldap::search",
    );
    let landed: Vec<_> = names.iter().filter_map(|p| resolve(p, &m)).collect();
    assert_eq!(landed, ["ldap::ops", "verify::hashing", "verify"]);
}
