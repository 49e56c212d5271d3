//! A scenario file read into steps (`parse`): commands, expectations and `expect refused`,
//! each with the line it came from. Reading only: `run` replays them.

use std::net::IpAddr;

use crate::verify::EndpointKind;

/// Through which front door an expectation's sign-in goes (`expect … --door radius|ldap`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabDoor {
    Radius,
    Ldap,
}

/// What the simulated phone does when an expectation's RADIUS sign-in reaches the MFA
/// extension (`expect … --mfa ACTION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaAction {
    /// Approve the push.
    Approve,
    /// Deny the push.
    Deny,
    /// Answer nothing: the extension's time limit passes.
    Ignore,
    /// Type the authenticator's current code at the prompt.
    Code,
    /// Type a wrong code at the prompt.
    WrongCode,
}

impl MfaAction {
    fn parse(s: &str) -> Option<MfaAction> {
        Some(match s {
            "approve" => MfaAction::Approve,
            "deny" => MfaAction::Deny,
            "ignore" => MfaAction::Ignore,
            "code" => MfaAction::Code,
            "wrong-code" => MfaAction::WrongCode,
            _ => return None,
        })
    }
}

/// Where a step came from, for messages (`FILE:LINE`).
#[derive(Debug, Clone)]
pub struct Step {
    pub line: usize,
    /// The line as written (comments removed), for reports: secrets bound to placeholders
    /// never appear in it.
    pub text: String,
    pub kind: StepKind,
}

#[derive(Debug, Clone)]
pub enum StepKind {
    /// A hybridauth command (words after the program name).
    Command(Vec<String>),
    Expect(Expect),
    /// `expect refused COMMAND…`
    ExpectRefused(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct Expect {
    pub endpoint: EndpointKind,
    pub login: String,
    pub secret: String,
    pub accept: bool,
    pub codes: Vec<String>,
    pub from: Option<IpAddr>,
    pub admin_actions: bool,
    /// Through a real front door of a private lab server instead of as `check` decides.
    pub door: Option<LabDoor>,
    /// Through the lab's RADIUS door with the MFA extension on, the phone doing this.
    pub mfa: Option<MfaAction>,
}

/// A problem with the file itself (exit 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFile {
    pub line: usize,
    pub message: String,
}

const COMMANDS: &[&str] = &["clock", "tenant", "user", "app-password", "sync"];

/// Removes a `#` comment that is outside quotes.
fn strip_comment(line: &str) -> &str {
    let (mut single, mut double, mut escaped) = (false, false, false);
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if !single => escaped = true,
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double => return &line[..i],
            _ => {}
        }
    }
    line
}

pub fn parse(text: &str) -> Result<Vec<Step>, BadFile> {
    let mut steps = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let bad = |message: String| BadFile { line, message };
        let body = strip_comment(raw).trim();
        if body.is_empty() {
            continue;
        }
        let words =
            shell_words::split(body).map_err(|e| bad(format!("cannot split the line: {e}")))?;
        let kind = match words[0].as_str() {
            "expect" if words.get(1).map(String::as_str) == Some("refused") => {
                let cmd = words[2..].to_vec();
                check_command(&cmd).map_err(bad)?;
                StepKind::ExpectRefused(cmd)
            }
            "expect" => StepKind::Expect(parse_expect(&words[1..]).map_err(bad)?),
            _ => {
                check_command(&words).map_err(bad)?;
                StepKind::Command(words)
            }
        };
        steps.push(Step {
            line,
            text: body.to_string(),
            kind,
        });
    }
    Ok(steps)
}

/// Options that would move a step out of its lab: `--config` names another store, other
/// logs and listeners. (The lab gives every step its own; `--json` is harmless.)
const OUT_OF_LAB: &[&str] = &["--config"];

/// The option in `words` that would run a step somewhere else than its lab, if any: as a
/// word of its own or joined to its value (`--config=FILE`).
pub fn escapes_lab(words: &[String]) -> Option<&'static str> {
    OUT_OF_LAB.iter().copied().find(|opt| {
        words.iter().any(|w| {
            w == opt
                || w.strip_prefix(opt)
                    .is_some_and(|rest| rest.starts_with('='))
        })
    })
}

fn check_command(words: &[String]) -> Result<(), String> {
    match words.first() {
        Some(w) if COMMANDS.contains(&w.as_str()) => {}
        Some(w) => {
            return Err(format!(
                "expected a step (clock, tenant, user, app-password, sync, expect), got {w:?}"
            ))
        }
        None => return Err("expected a command after `expect refused`".into()),
    }
    match escapes_lab(words) {
        Some(opt) => Err(format!(
            "{opt} is not allowed in a step: every step runs on the scenario's private lab, never on another configuration or store"
        )),
        None => Ok(()),
    }
}

fn parse_expect(words: &[String]) -> Result<Expect, String> {
    let usage = "expected `expect ENDPOINT LOGIN SECRET accept|reject [CODE…] [--from IP] [--admin-actions] [--door radius|ldap] [--mfa approve|deny|ignore|code|wrong-code]`";
    let [endpoint, login, secret, outcome, rest @ ..] = words else {
        return Err(usage.into());
    };
    let endpoint = EndpointKind::parse(endpoint).ok_or_else(|| {
        format!("{usage}: ENDPOINT is on-prem, cloud or hybrid, got {endpoint:?}")
    })?;
    let accept = match outcome.as_str() {
        "accept" => true,
        "reject" => false,
        other => return Err(format!("{usage}: expected accept or reject, got {other:?}")),
    };
    let mut e = Expect {
        endpoint,
        login: login.clone(),
        secret: secret.clone(),
        accept,
        codes: vec![],
        from: None,
        admin_actions: false,
        door: None,
        mfa: None,
    };
    let mut it = rest.iter();
    while let Some(w) = it.next() {
        match w.as_str() {
            "--from" => {
                let ip = it.next().ok_or("--from needs an IP address")?;
                e.from = Some(
                    ip.parse()
                        .map_err(|_| format!("--from: not an IP address: {ip:?}"))?,
                );
            }
            "--admin-actions" => e.admin_actions = true,
            "--door" => {
                e.door = Some(match it.next().map(String::as_str) {
                    Some("radius") => LabDoor::Radius,
                    Some("ldap") => LabDoor::Ldap,
                    other => return Err(format!("--door takes radius or ldap, got {other:?}")),
                })
            }
            "--mfa" => {
                let action = it.next().map(String::as_str).unwrap_or("");
                e.mfa = Some(MfaAction::parse(action).ok_or_else(|| {
                    format!("--mfa takes approve, deny, ignore, code or wrong-code, got {action:?}")
                })?)
            }
            flag if flag.starts_with("--") => {
                return Err(format!("{usage}: unknown option {flag}"))
            }
            code => e.codes.push(code.to_string()),
        }
    }
    if e.mfa.is_some() {
        // The MFA extension is on RADIUS only, after an on-prem accept.
        if e.door == Some(LabDoor::Ldap) || e.endpoint != EndpointKind::OnPrem || e.admin_actions {
            return Err("--mfa is for on-prem RADIUS sign-ins (the NPS extension): no --door ldap, no other endpoint, no --admin-actions".into());
        }
        e.door = Some(LabDoor::Radius);
    }
    if e.door.is_some() && e.from.is_some() {
        return Err("--from cannot be used with --door: through a front door the client is the lab's loopback address".into());
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_comments_quotes_and_expectations() {
        let steps = parse(
            "# a story\nclock set 2026-01-05T10:00:00Z\nuser add alice --password 'Win#ter 1'  # ok\n\
             expect cloud alice@contoso.com {app:alice/Mail} reject 50057 cloud.disabled --from 10.0.0.1\n\
             expect refused app-password create alice --name X\n",
        )
        .unwrap();
        assert_eq!(steps.len(), 4);
        assert_eq!(steps[1].line, 3);
        let StepKind::Command(w) = &steps[1].kind else {
            panic!()
        };
        assert_eq!(w[4], "Win#ter 1");
        let StepKind::Expect(e) = &steps[2].kind else {
            panic!()
        };
        assert_eq!((e.accept, e.codes.len()), (false, 2));
        assert_eq!(e.from, Some("10.0.0.1".parse().unwrap()));
        assert!(matches!(steps[3].kind, StepKind::ExpectRefused(_)));
    }

    #[test]
    fn mfa_expectations_go_through_the_radius_door_on_prem_only() {
        let steps =
            parse("expect on-prem alice pw accept mfa.push-approved --mfa approve\n").unwrap();
        let StepKind::Expect(e) = &steps[0].kind else {
            panic!()
        };
        assert_eq!(
            (e.mfa, e.door),
            (Some(MfaAction::Approve), Some(LabDoor::Radius))
        );
        for bad in [
            "expect cloud alice pw accept --mfa approve",
            "expect on-prem alice pw accept --mfa approve --door ldap",
            "expect on-prem alice pw accept --mfa maybe",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_bad_line_says_where_and_what_was_expected() {
        let e = parse("clock set 2026-01-05T10:00:00Z\nserve\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("expected a step"), "{}", e.message);
        let e = parse("expect somewhere alice pw accept\n").unwrap_err();
        assert!(
            e.message.contains("on-prem, cloud or hybrid"),
            "{}",
            e.message
        );
        let e = parse("expect cloud alice pw maybe\n").unwrap_err();
        assert!(e.message.contains("accept or reject"));
        assert!(parse("user add 'unterminated\n").is_err());
    }
}
