//! What `oauth-admin` prints: text for people, JSON for scripts. A secret appears only in
//! [`credentials_json`], [`created_text`] and [`rotated_text`], the one time it is shown.

use super::ops::{ClientView, Credentials};
use crate::store::tables::TablesReport;
use serde_json::json;
use std::fmt::Write;

/// `{"client_id": ..., "client_secret": ...}` and a newline.
pub fn credentials_json(c: &Credentials) -> String {
    let mut out = json!({
        "client_id": c.client_id,
        "client_secret": c.client_secret.expose(),
    })
    .to_string();
    out.push('\n');
    out
}

fn credentials_block(c: &Credentials) -> String {
    format!(
        "  client_id:     {}\n  client_secret: {}\n",
        c.client_id,
        c.client_secret.expose()
    )
}

pub fn created_text(c: &Credentials, name: &str) -> String {
    format!(
        "Created client {} ({name}).\n\n{}\n\
         Save the secret now: it will not be shown again (only its hash is stored).\n",
        c.client_id,
        credentials_block(c)
    )
}

pub fn rotated_text(c: &Credentials) -> String {
    format!(
        "Added a new secret to client {id}; the previous one keeps working.\n\n{}\n\
         Save the secret now: it will not be shown again (only its hash is stored).\n\
         Once the client's users have switched to it, retire the old one with:\n  \
         oauth-admin rotate-secret {id} --finish\n",
        credentials_block(c),
        id = c.client_id,
    )
}

pub fn tables_text(report: &TablesReport, clients_table: &str, tokens_table: &str) -> String {
    let state = |t: &str| {
        if report.created.iter().any(|c| c == t) {
            "created"
        } else {
            "already exists"
        }
    };
    format!(
        "clients table {clients_table}: {}\ntokens table {tokens_table}: {}\nTTL on expires_at: {}\n",
        state(clients_table),
        state(tokens_table),
        if report.ttl_enabled {
            "enabled"
        } else {
            "already enabled"
        },
    )
}

fn status(v: &ClientView) -> &'static str {
    if v.disabled { "disabled" } else { "enabled" }
}

fn ttl_text(ttl: Option<u64>, variable: &str) -> String {
    match ttl {
        Some(s) => format!("{s} s"),
        None => format!("deployment default ({variable})"),
    }
}

fn quota_text(v: &ClientView) -> String {
    match (v.max_tokens_per_hour, v.tokens_this_hour) {
        (None, _) => "none".to_owned(),
        (Some(max), Some(used)) => format!("{max} per hour ({used} this hour)"),
        (Some(max), None) => format!("{max} per hour"),
    }
}

fn list_or_none(items: &[String], none: &str) -> String {
    if items.is_empty() {
        none.to_owned()
    } else {
        items.join(" ")
    }
}

/// One client, a field a line. No hashes: a count and their kinds.
pub fn client_text(v: &ClientView) -> String {
    let mut secrets = format!("{} ({})", v.active_secrets, v.secret_kinds.join(", "));
    if v.active_secrets > 1 {
        secrets.push_str(&format!(
            "; rotating: `oauth-admin rotate-secret {} --finish` keeps only the newest",
            v.client_id
        ));
    }
    let mut out = String::new();
    let rows = [
        ("client_id", v.client_id.clone()),
        ("name", v.name.clone()),
        ("status", status(v).to_owned()),
        ("active secrets", secrets),
        ("grants", v.grants.join(" ")),
        ("scopes", list_or_none(&v.scopes, "(none)")),
        (
            "default scopes",
            list_or_none(&v.default_scopes, "(all of its scopes)"),
        ),
        ("access ttl", ttl_text(v.access_ttl, "ACCESS_TOKEN_TTL")),
        ("refresh ttl", ttl_text(v.refresh_ttl, "REFRESH_TOKEN_TTL")),
        (
            "token format",
            v.token_format
                .map_or_else(|| "(TOKEN_FORMAT)".to_owned(), str::to_owned),
        ),
        (
            "audiences",
            list_or_none(&v.audiences, "(JWT_AUDIENCE, else the issuer)"),
        ),
        (
            "resource server",
            if v.resource_server { "yes" } else { "no" }.to_owned(),
        ),
        ("token quota", quota_text(v)),
        ("created", utc(v.created_at)),
        ("updated", utc(v.updated_at)),
    ];
    for (k, val) in rows {
        let _ = writeln!(out, "{:<16} {val}", format!("{k}:"));
    }
    out
}

/// Every client, a line each, under a header.
pub fn clients_text(views: &[ClientView], clients_table: &str) -> String {
    if views.is_empty() {
        return format!("No clients in table {clients_table}.\n");
    }
    let scopes: Vec<String> = views.iter().map(|v| list_or_none(&v.scopes, "-")).collect();
    let width = |header: &str, cells: &mut dyn Iterator<Item = usize>| {
        cells.max().unwrap_or(0).max(header.len())
    };
    let id_width = width("CLIENT_ID", &mut views.iter().map(|v| v.client_id.len()));
    let scope_width = width("SCOPES", &mut scopes.iter().map(|s| s.chars().count()));
    let mut out = format!(
        "{:<id_width$}  {:<8}  {:<7}  {:<scope_width$}  NAME\n",
        "CLIENT_ID", "STATUS", "SECRETS", "SCOPES"
    );
    for (v, scopes) in views.iter().zip(&scopes) {
        let _ = writeln!(
            out,
            "{:<id_width$}  {:<8}  {:<7}  {:<scope_width$}  {}",
            v.client_id,
            status(v),
            v.active_secrets,
            scopes,
            v.name
        );
    }
    out
}

pub fn clients_json(views: &[ClientView]) -> String {
    let mut out = serde_json::to_string(views).unwrap_or_else(|_| "[]".into());
    out.push('\n');
    out
}

pub fn client_json(view: &ClientView) -> String {
    let mut out = serde_json::to_string(view).unwrap_or_else(|_| "{}".into());
    out.push('\n');
    out
}

/// Epoch seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc(epoch: u64) -> String {
    let days = (epoch / 86_400) as i64;
    let secs = epoch % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::Secret;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_401_437_772), "2014-05-30T08:16:12Z");
        assert_eq!(utc(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn credentials_json_is_one_object_on_one_line() {
        let c = Credentials {
            client_id: "abc".into(),
            client_secret: Secret::new("s\"e".into()),
        };
        let out = credentials_json(&c);
        assert_eq!(out.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v, json!({"client_id": "abc", "client_secret": "s\"e"}));
    }
}
