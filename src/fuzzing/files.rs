//! Files people hand to hybridauth: CSV and LDIF imports, scenario files, the configuration.

use crate::directory::import::{parse_csv, parse_ldif, Parsed};

use super::lab::lab;

pub fn import_csv(data: &[u8]) {
    import(parse_csv(data));
}

pub fn import_ldif(data: &[u8]) {
    import(parse_ldif(data));
}

/// An import as `user import` runs it, into the lab's store: it commits every row or none.
fn import(parsed: Parsed) {
    let app = &lab().app;
    let sams: Vec<String> = parsed.rows.iter().map(|r| r.sam.clone()).collect();
    let exists = |sam: &str| matches!(app.store.user_by_sam(sam), Ok(Some(_)));
    let before: Vec<bool> = sams.iter().map(|s| exists(s)).collect();
    match app.directory.import_users("fuzz", parsed, &|_, _| {}) {
        Ok(summary) => {
            assert_eq!(summary.imported, sams.len(), "an import commits every row");
            assert!(
                sams.iter().all(|s| exists(s)),
                "every imported row is in the store"
            );
        }
        Err(_) => {
            let after: Vec<bool> = sams.iter().map(|s| exists(s)).collect();
            assert_eq!(before, after, "a refused import leaves the store as it was");
        }
    }
}

/// A scenario file as `scenario run` reads it (size, line length and UTF-8 limits, then the
/// steps, with `--config` refused in a step).
pub fn scenario(data: &[u8]) {
    if let Ok(text) = crate::textfile::read_from(data, crate::textfile::SCENARIO) {
        let _ = crate::scenario::parse(&text);
    }
}

/// A configuration file as `config check` and `serve` load it: every problem listed (each key
/// set back to its default in turn), then the loaded configuration validated.
pub fn config(data: &[u8]) {
    let path = lab()
        .dir
        .path()
        .join(format!("config-{}.toml", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(c) = crate::config_all::load(Some(&path)) {
        let _ = crate::config_check::warnings(&c);
    }
    let _ = crate::config::Config::load(Some(&path));
}
