//! Every problem of a configuration in one run (`config check`), each with its key and where
//! its value came from (the file, or the environment variable). Loading and validation stop at
//! the first problem; to find the next one, the offending key is set back to its default and
//! the configuration read again, until it loads or no progress is made. An unknown key so
//! never hides a bad CIDR, and a bad CIDR never hides a bad endpoint kind.

use std::path::Path;

use figment::providers::Serialized;
use figment::value::{Dict, Value};
use figment::Figment;

use crate::config::{plain_backquotes, source_of, Config, ConfigError, RawConfig};

/// Rounds at most: every round removes one key, and a configuration has far fewer.
const MAX_ROUNDS: usize = 500;

/// Removes `path` (dotted; `[i]` and what follows are dropped: the whole list goes back to its
/// default) from the layered values; whether anything was removed.
fn remove(value: &mut Value, path: &str) -> bool {
    let path = path.split('[').next().unwrap_or(path);
    let parts: Vec<&str> = path.split('.').filter(|p| !p.is_empty()).collect();
    let Some((last, parents)) = parts.split_last() else {
        return false;
    };
    let mut dict: &mut Dict = match value {
        Value::Dict(_, d) => d,
        _ => return false,
    };
    for p in parents {
        dict = match dict.get_mut(*p) {
            Some(Value::Dict(_, d)) => d,
            _ => return false,
        };
    }
    dict.remove(*last).is_some()
}

/// Where the value of `key` came from, for a validation problem.
fn source_of_key(fig: &Figment, key: &str) -> String {
    let key = key.split('[').next().unwrap_or(key);
    let Some(md) = fig.find_metadata(key) else {
        return String::new();
    };
    match &md.source {
        Some(figment::Source::File(path)) => format!(" (in {})", path.display()),
        _ if md.name.contains("environment") => {
            // The variable itself (for an unknown section the key is only its first part).
            let stem = format!("HYBRIDAUTH_{}", key.replace('.', "__").to_uppercase());
            let var = std::env::vars_os()
                .map(|(k, _)| k.to_string_lossy().into_owned())
                .find(|k| *k == stem || k.starts_with(&format!("{stem}__")))
                .unwrap_or(stem);
            format!(" (from environment variable {var})")
        }
        _ => String::new(),
    }
}

/// The configuration, or every problem found in it.
pub fn load(explicit: Option<&Path>) -> Result<Config, Vec<String>> {
    let fig = Config::figment(explicit).map_err(|e| vec![e.to_string()])?;
    // The merged values as they are, whatever their keys (a file that is not TOML stops here).
    let mut value: Value = fig
        .extract()
        .map_err(|e| e.into_iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
    let mut problems = vec![];
    for _ in 0..MAX_ROUNDS {
        let layered = Figment::from(Serialized::defaults(RawConfig::default()))
            .merge(Serialized::defaults(&value));
        let raw: RawConfig = match layered.extract() {
            Ok(r) => r,
            Err(errors) => {
                let mut progressed = false;
                for err in errors {
                    let key = err.path.join(".");
                    // The values were re-layered: where they came from is in the first figment.
                    let from = match source_of(&err) {
                        s if s.is_empty() => source_of_key(&fig, &key),
                        s => s,
                    };
                    problems.push(if key.ends_with("secret") || key == "store.url" {
                        format!("key `{key}`{from}: expected a string (value not shown)")
                    } else if key.is_empty() {
                        plain_backquotes(&err.kind.to_string())
                    } else {
                        format!(
                            "key `{key}`{from}: {}",
                            plain_backquotes(&err.kind.to_string())
                        )
                    });
                    progressed |= remove(&mut value, &key);
                }
                if !progressed {
                    return Err(problems);
                }
                continue;
            }
        };
        match Config::validate(raw) {
            Ok(config) if problems.is_empty() => return Ok(config),
            Ok(_) => return Err(problems),
            Err(ConfigError::Invalid { key, problem }) => {
                problems.push(format!(
                    "key `{key}`{}: {problem}",
                    source_of_key(&fig, &key)
                ));
                if !remove(&mut value, &key) {
                    return Err(problems);
                }
            }
            Err(other) => {
                problems.push(other.to_string());
                return Err(problems);
            }
        }
    }
    Err(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_listed_with_its_key_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[clock]\nmode = \"sundial\"\n[ldap]\ncolour = \"blue\"\n[[radius.clients]]\nname = \"x\"\nnetwork = \"10.0.0.0/40\"\nsecret = \"s\"\nendpoint = \"on-prem\"\n[[ldap.listeners]]\naddress = \"127.0.0.1:3389\"\nendpoint = \"moon\"\n",
        )
        .unwrap();
        let problems = load(Some(&file)).unwrap_err();
        let all = problems.join("\n");
        let shown = file.display().to_string();
        assert!(
            all.contains("key `ldap.colour`") && all.contains(&shown),
            "{all}"
        );
        assert!(all.contains("key `clock.mode`"), "{all}");
        assert!(all.contains("radius.clients"), "{all}");
        assert!(all.contains("ldap.listeners"), "{all}");
        assert!(problems.len() >= 4, "{all}");
        assert!(!all.contains("``"), "{all}");
    }

    /// The shipped configuration loads. Inside a figment Jail: other tests set
    /// `HYBRIDAUTH_*` variables (and the working directory) in one, process-wide, and the jail's
    /// lock keeps them from leaking into this one.
    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn a_good_configuration_loads() {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/hybridauth.toml");
        figment::Jail::expect_with(|_| {
            if let Err(problems) = load(Some(&shipped)) {
                panic!("{problems:#?}");
            }
            Ok(())
        });
    }
}
