//! What happened at one expectation: the decision's outcome, rule, codes and explanation (or,
//! for `expect refused`, whether the command was refused), as reports show it.

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Actual {
    /// accept, reject, refused (a command refused) or done (a command that succeeded).
    pub outcome: String,
    pub rule: Option<String>,
    /// The decision's codes (AD data code, NPS reason, AADSTS), as strings.
    pub codes: Vec<String>,
    pub explanation: String,
}
