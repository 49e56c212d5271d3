//! The endpoint a front door stands for (docs/model.md §2): which path a request takes, and
//! whether the service is administrative. Vocabulary every layer shares; imports nothing of
//! the domain.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EndpointKind {
    #[serde(rename = "on-prem")]
    OnPrem,
    #[serde(rename = "cloud")]
    Cloud,
    #[serde(rename = "hybrid")]
    Hybrid,
}

impl EndpointKind {
    pub fn parse(s: &str) -> Option<EndpointKind> {
        match s {
            "on-prem" => Some(EndpointKind::OnPrem),
            "cloud" => Some(EndpointKind::Cloud),
            "hybrid" => Some(EndpointKind::Hybrid),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointKind::OnPrem => "on-prem",
            EndpointKind::Cloud => "cloud",
            EndpointKind::Hybrid => "hybrid",
        }
    }
}

/// How a front door is configured: which path it stands for, and whether it is an
/// administrative service (where app passwords are refused even for administrators).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub kind: EndpointKind,
    pub admin_actions: bool,
}
