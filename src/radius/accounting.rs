//! The accounting log: one JSON line per Accounting-Request (RFC 2866).

use std::path::Path;

use serde_json::{json, Value};

use crate::runtime::logfile::AppendLog;

pub struct AccountingLog {
    file: AppendLog,
}

fn status_name(v: u32) -> &'static str {
    match v {
        1 => "Start",
        2 => "Stop",
        3 => "Interim-Update",
        7 => "Accounting-On",
        8 => "Accounting-Off",
        _ => "Other",
    }
}

impl AccountingLog {
    pub fn new(path: &Path) -> AccountingLog {
        AccountingLog {
            file: AppendLog::new(path),
        }
    }

    /// Opens the file now, so that later descriptor pressure cannot lose a record.
    pub fn open(&self) -> std::io::Result<()> {
        self.file.open()
    }

    /// Log rotation: continue in a fresh file at the path.
    pub fn reopen(&self) -> std::io::Result<()> {
        self.file.reopen()
    }

    pub fn record(
        &self,
        nas: &str,
        client: std::net::SocketAddr,
        pkt: &radius::core::packet::Packet,
        now: String,
    ) -> std::io::Result<()> {
        use radius::core::{rfc2865 as a, rfc2866 as acct};
        let ok = |v: Option<Result<u32, radius::core::avp::AVPError>>| v.and_then(Result::ok);
        let status = ok(acct::lookup_acct_status_type(pkt));
        let rec: Value = json!({
            "time": now,
            "nas": nas,
            "client": client.to_string(),
            "nas_ip_address": a::lookup_nas_ip_address(pkt).and_then(Result::ok).map(|i| i.to_string()),
            "nas_identifier": a::lookup_nas_identifier(pkt).and_then(Result::ok),
            "status_type": status.map(status_name),
            "status_type_value": status,
            "session_id": acct::lookup_acct_session_id(pkt).and_then(Result::ok),
            "user": a::lookup_user_name(pkt).and_then(Result::ok),
            "session_time": ok(acct::lookup_acct_session_time(pkt)),
            "input_octets": ok(acct::lookup_acct_input_octets(pkt)),
            "output_octets": ok(acct::lookup_acct_output_octets(pkt)),
            "input_packets": ok(acct::lookup_acct_input_packets(pkt)),
            "output_packets": ok(acct::lookup_acct_output_packets(pkt)),
            // The Class an authorisation policy put in the Access-Accept, as the NAS echoes it
            // (RFC 2865 §5.25): ties the session to the policy that admitted it.
            "class": a::lookup_all_class(pkt).iter().map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>(),
        });
        let mut line = serde_json::to_vec(&rec)?;
        line.push(b'\n');
        // Accounting is billing data: it is on disk before the NAS hears it was received.
        self.file.append(&line, true)
    }
}
