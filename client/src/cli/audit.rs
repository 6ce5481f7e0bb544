//! `accesskey audit list|watch|verify`: the audit trail, as a table for
//! people or JSON for scripts and log shippers, and its hash chain checked.

use serde::Serialize;

use super::{
    Format,
    args::{AuditCommand, AuditFilters},
    output::{print_table, rfc3339},
};
use crate::{AuditQuery, Client, Error, pb};

/// Largest page asked for while collecting `--limit` events.
const PAGE_SIZE: usize = 1_000;

/// The exit code of `audit verify` when the trail was tampered with.
const TAMPERED: u8 = 6;

/// Runs `command`; returns the exit code.
pub(super) async fn audit_command(
    client: &Client,
    format: Format,
    command: AuditCommand,
) -> Result<u8, Error> {
    match command {
        AuditCommand::List { filters, limit } => {
            let query = query(client, filters).await?;
            let events = collect(client, query, limit).await?;
            if format == Format::Json {
                let events: Vec<EventJson<'_>> = events.iter().map(EventJson::from).collect();
                print_json(&events, true);
            } else {
                let rows: Vec<[String; 6]> = events.iter().map(row).collect();
                print_table(
                    &["ID", "TIME", "ACTOR", "ACTION", "TARGET", "CHANGES"],
                    &rows,
                );
            }
        }
        AuditCommand::Watch { after } => {
            let mut watch = client.watch_audit_events(after).await?;
            loop {
                let event = watch.next().await?;
                if format == Format::Json {
                    print_json(&EventJson::from(&event), false);
                } else {
                    println!("{}", row(&event).join("  "));
                }
            }
        }
        AuditCommand::Verify => {
            let report = client.verify_audit_trail().await?;
            if format == Format::Json {
                print_json(&VerificationJson::from(&report), true);
            } else {
                print_verification(&report);
            }
            if !report.intact {
                return Ok(TAMPERED);
            }
        }
    }
    Ok(0)
}

fn print_verification(report: &pb::VerifyAuditTrailResponse) {
    match &report.fault {
        Some(fault) if !report.intact => {
            println!(
                "TAMPERED: {} (event {}, {})",
                fault.description, fault.event_id, fault.kind
            );
        }
        _ => println!(
            "intact: {} events checked (ids {} to {})",
            report.events_checked, report.first_id, report.last_id
        ),
    }
    if report.unlinked_events > 0 {
        println!(
            "{} events were recorded before the chain existed and are not linked",
            report.unlinked_events
        );
    }
    if !report.head_link.is_empty() {
        println!("head link: {}", report.head_link);
    }
}

/// `audit verify` as JSON (a contract: add fields, never rename them).
#[derive(Serialize)]
struct VerificationJson<'a> {
    intact: bool,
    events_checked: i64,
    first_id: i64,
    last_id: i64,
    unlinked_events: i64,
    head_link: &'a str,
    fault: Option<FaultJson<'a>>,
}

#[derive(Serialize)]
struct FaultJson<'a> {
    kind: &'a str,
    event_id: i64,
    description: &'a str,
}

impl<'a> From<&'a pb::VerifyAuditTrailResponse> for VerificationJson<'a> {
    fn from(report: &'a pb::VerifyAuditTrailResponse) -> Self {
        Self {
            intact: report.intact,
            events_checked: report.events_checked,
            first_id: report.first_id,
            last_id: report.last_id,
            unlinked_events: report.unlinked_events,
            head_link: &report.head_link,
            fault: report.fault.as_ref().map(|fault| FaultJson {
                kind: &fault.kind,
                event_id: fault.event_id,
                description: &fault.description,
            }),
        }
    }
}

/// The ListAuditEvents query for `filters`, with usernames looked up
/// (`id:<n>` is taken as it is, so a deleted user can be named).
async fn query(client: &Client, filters: AuditFilters) -> Result<AuditQuery, Error> {
    let mut query = AuditQuery::new();
    if let Some(user) = &filters.user {
        query = query.target(user_id(client, user).await?);
    }
    if let Some(actor) = &filters.actor {
        query = query.actor(user_id(client, actor).await?);
    }
    if let Some(action) = filters.action {
        query = query.action(action);
    }
    if let Some(since) = filters.since {
        query = query.since(since);
    }
    if let Some(until) = filters.until {
        query = query.until(until);
    }
    Ok(query)
}

async fn user_id(client: &Client, user: &str) -> Result<i64, Error> {
    match user.strip_prefix("id:").map(str::parse::<i64>) {
        Some(Ok(id)) => Ok(id),
        _ => Ok(client.get_user_by_name(user).await?.id),
    }
}

/// Up to `limit` events, newest first, following page tokens.
async fn collect(
    client: &Client,
    mut query: AuditQuery,
    limit: usize,
) -> Result<Vec<pb::AuditEvent>, Error> {
    let mut events = Vec::new();
    while events.len() < limit {
        let wanted = (limit - events.len()).min(PAGE_SIZE);
        let page = client
            .list_audit_events(
                query
                    .clone()
                    .page_size(i32::try_from(wanted).unwrap_or(1000)),
            )
            .await?;
        events.extend(page.events);
        if page.next_page_token.is_empty() {
            break;
        }
        query = query.page_token(page.next_page_token);
    }
    events.truncate(limit);
    Ok(events)
}

fn actor(event: &pb::AuditEvent) -> String {
    match &event.actor {
        Some(actor) if actor.host => "(host)".to_owned(),
        Some(actor) => format!("{} ({})", actor.username, actor.key_id),
        None => "-".to_owned(),
    }
}

/// `field: old → new`, one per change.
fn changes(event: &pb::AuditEvent) -> String {
    let shown = |value: &Option<String>| match value.as_deref() {
        None => "∅".to_owned(),
        Some("") => "\"\"".to_owned(),
        Some(value) => value.to_owned(),
    };
    event
        .changes
        .iter()
        .map(|change| {
            format!(
                "{}: {} → {}",
                change.field,
                shown(&change.old_value),
                shown(&change.new_value)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn row(event: &pb::AuditEvent) -> [String; 6] {
    [
        event.id.to_string(),
        event.time.map(rfc3339).unwrap_or_default(),
        actor(event),
        event.action.clone(),
        // A role's events and a prune are about no user (id 0).
        match event.target_user_id {
            0 if !event.target_role.is_empty() => format!("role {}", event.target_role),
            0 => "-".to_owned(),
            id => format!("{} (id {id})", event.target_username),
        },
        changes(event),
    ]
}

/// One event as the CLI's JSON shows it (a contract: add fields, never
/// rename them).
#[derive(Serialize)]
struct EventJson<'a> {
    id: i64,
    time: Option<String>,
    actor: ActorJson<'a>,
    action: &'a str,
    target_user_id: i64,
    target_username: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    target_role: &'a str,
    changes: Vec<ChangeJson<'a>>,
    request_id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    client_request_id: &'a str,
    peer: &'a str,
}

#[derive(Serialize)]
struct ActorJson<'a> {
    host: bool,
    user_id: Option<i64>,
    username: Option<&'a str>,
    key_id: Option<&'a str>,
}

#[derive(Serialize)]
struct ChangeJson<'a> {
    field: &'a str,
    old: Option<&'a str>,
    new: Option<&'a str>,
}

impl<'a> From<&'a pb::AuditEvent> for EventJson<'a> {
    fn from(event: &'a pb::AuditEvent) -> Self {
        let actor = match &event.actor {
            Some(actor) if !actor.host => ActorJson {
                host: false,
                user_id: Some(actor.user_id),
                username: Some(&actor.username),
                key_id: Some(&actor.key_id),
            },
            _ => ActorJson {
                host: true,
                user_id: None,
                username: None,
                key_id: None,
            },
        };
        Self {
            id: event.id,
            time: event.time.map(rfc3339),
            actor,
            action: &event.action,
            target_user_id: event.target_user_id,
            target_username: &event.target_username,
            target_role: &event.target_role,
            changes: event
                .changes
                .iter()
                .map(|change| ChangeJson {
                    field: &change.field,
                    old: change.old_value.as_deref(),
                    new: change.new_value.as_deref(),
                })
                .collect(),
            request_id: &event.request_id,
            client_request_id: &event.client_request_id,
            peer: &event.peer,
        }
    }
}

/// Pretty for a list; one compact line per event for a watch, so a shipper
/// reads it line by line.
fn print_json(value: &impl Serialize, pretty: bool) {
    let text = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    };
    match text {
        Ok(text) => println!("{text}"),
        Err(error) => eprintln!("accesskey: cannot encode JSON: {error}"),
    }
}
