//! How large a search filter may be. A filter is tested against every candidate entry, so its
//! cost is its number of terms times the directory's size: a 750 KB OR of 30,000 substrings ran
//! for two CPU-minutes over 100,000 users. Filters over `ldap.max_filter_terms` terms or nested
//! deeper than `ldap.max_filter_depth` are refused with adminLimitExceeded before any work
//! (application filters have a few dozen terms; the decoder already bounds BER nesting).

use ldap3_proto::proto::LdapFilter;

use crate::config::LdapConfig;

/// Terms (every node: each and/or/not and each test) and depth, counted without recursion
/// so that no filter can exhaust the stack; stops counting once over either limit.
fn measure(f: &LdapFilter, max_terms: usize, max_depth: usize) -> (usize, usize) {
    let mut terms = 0;
    let mut deepest = 0;
    let mut stack = vec![(f, 1usize)];
    while let Some((node, depth)) = stack.pop() {
        terms += 1;
        deepest = deepest.max(depth);
        if terms > max_terms || deepest > max_depth {
            break;
        }
        match node {
            LdapFilter::And(v) | LdapFilter::Or(v) => {
                stack.extend(v.iter().map(|c| (c, depth + 1)));
            }
            LdapFilter::Not(inner) => stack.push((inner, depth + 1)),
            _ => {}
        }
    }
    (terms, deepest)
}

/// `Err` with the diagnostic message when the filter is over a limit.
pub fn check(f: &LdapFilter, cfg: &LdapConfig) -> Result<(), String> {
    let (terms, depth) = measure(f, cfg.max_filter_terms, cfg.max_filter_depth);
    if terms > cfg.max_filter_terms {
        return Err(format!(
            "the filter has more than {} terms (ldap.max_filter_terms)",
            cfg.max_filter_terms
        ));
    }
    if depth > cfg.max_filter_depth {
        return Err(format!(
            "the filter is nested deeper than {} levels (ldap.max_filter_depth)",
            cfg.max_filter_depth
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eq(v: &str) -> LdapFilter {
        LdapFilter::Equality("sAMAccountName".into(), v.into())
    }

    #[test]
    fn terms_and_depth_are_counted_and_limited() {
        let f = LdapFilter::And(vec![
            LdapFilter::Equality("objectClass".into(), "user".into()),
            LdapFilter::Or(vec![eq("a"), eq("b"), LdapFilter::Not(Box::new(eq("c")))]),
        ]);
        assert_eq!(measure(&f, 100, 100), (7, 4));
        let wide = LdapFilter::Or((0..2000).map(|i| eq(&i.to_string())).collect());
        assert_eq!(
            measure(&wide, 1000, 32).0,
            1001,
            "stops counting past the limit"
        );
        let mut deep = eq("x");
        for _ in 0..50 {
            deep = LdapFilter::Not(Box::new(deep));
        }
        assert!(measure(&deep, 1000, 16).1 > 16);
    }
}
