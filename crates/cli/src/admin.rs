//! `spyglass projects|keys|accounts ...`: projects, API keys and sign-in accounts on a running
//! server with authentication on. Credentials come from `--api-key` / `SPYGLASS_API_KEY` (an
//! admin key manages its project's keys) or `SPYGLASS_USERNAME` + `SPYGLASS_PASSWORD` (a
//! server admin manages projects and accounts).

use crate::Server;
use crate::client::Client;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

macro_rules! command {
    ($(#[$doc:meta])* $name:ident, $sub:ident) => {
        $(#[$doc])*
        #[derive(Args, Debug)]
        pub struct $name {
            #[command(flatten)]
            server: Server,
            /// Print the API's JSON instead of a table.
            #[arg(long, global = true)]
            json: bool,
            #[command(subcommand)]
            cmd: $sub,
        }
    };
}

command!(
    /// `spyglass projects ...`
    ProjectsCommand,
    Projects
);
command!(
    /// `spyglass keys ...`
    KeysCommand,
    Keys
);
command!(
    /// `spyglass accounts ...`
    AccountsCommand,
    Accounts
);

enum What {
    Projects(Projects),
    Keys(Keys),
    Accounts(Accounts),
}

pub async fn projects(c: ProjectsCommand) -> anyhow::Result<()> {
    run(&c.server, c.json, What::Projects(c.cmd)).await
}

pub async fn keys(c: KeysCommand) -> anyhow::Result<()> {
    run(&c.server, c.json, What::Keys(c.cmd)).await
}

pub async fn accounts(c: AccountsCommand) -> anyhow::Result<()> {
    run(&c.server, c.json, What::Accounts(c.cmd)).await
}

#[derive(Subcommand, Debug)]
enum Projects {
    /// The projects you can open, with your role in each.
    List,
    /// A new project (server admins).
    Create {
        /// 1 to 64 lowercase letters, digits and '-'.
        id: String,
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Delete a project with all its data and keys (server admins).
    Delete {
        id: String,
        /// Required: this deletes every span of the project.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand, Debug)]
enum Keys {
    /// The project's keys by prefix (the keys themselves are never shown again).
    List,
    /// A new key, printed once.
    Create {
        #[arg(long)]
        name: String,
        /// ingest (send spans), read (read the API) or admin (manage the project).
        #[arg(long, value_parser = ["ingest", "read", "admin"])]
        scope: String,
    },
    /// Revoke a key by id (the part of its prefix after the scope); it stops working at once.
    Revoke { id: String },
}

#[derive(Subcommand, Debug)]
enum Accounts {
    List,
    /// A new account; its password comes from SPYGLASS_NEW_PASSWORD.
    Create {
        /// The new account's username.
        #[arg(value_name = "USERNAME")]
        account: String,
        /// A server admin.
        #[arg(long)]
        admin: bool,
        /// A role in a project, `project=viewer|member|admin`; repeatable.
        #[arg(long = "role")]
        roles: Vec<String>,
    },
    Delete {
        id: String,
    },
}

fn roles(specs: &[String]) -> anyhow::Result<Value> {
    let mut out = serde_json::Map::new();
    for s in specs {
        let (p, r) = s
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--role {s:?}: expected project=viewer|member|admin"))?;
        out.insert(p.to_string(), Value::String(r.to_string()));
    }
    Ok(Value::Object(out))
}

fn time(ns: &Value) -> String {
    ns.as_i64()
        .map(|n| {
            humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_nanos(n.max(0) as u64),
            )
            .to_string()
        })
        .unwrap_or_else(|| "-".into())
}

fn table(rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..rows.first().map_or(0, Vec::len))
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        v => v.to_string(),
    }
}

async fn run(server: &Server, json: bool, what: What) -> anyhow::Result<()> {
    let client = Client::connect(server).await?;
    let out = match &what {
        What::Projects(Projects::List) => client.get("/api/v1/projects", &[]).await?,
        What::Projects(Projects::Create { id, name }) => {
            client
                .post("/api/v1/projects", &json!({"id": id, "name": name}))
                .await?
        }
        What::Projects(Projects::Delete { id, yes }) => {
            if !yes {
                anyhow::bail!("deleting project {id} deletes all its data; add --yes");
            }
            client.delete(&format!("/api/v1/projects/{id}")).await?
        }
        What::Keys(Keys::List) => client.get("/api/v1/keys", &[]).await?,
        What::Keys(Keys::Create { name, scope }) => {
            client
                .post("/api/v1/keys", &json!({"name": name, "scope": scope}))
                .await?
        }
        What::Keys(Keys::Revoke { id }) => client.delete(&format!("/api/v1/keys/{id}")).await?,
        What::Accounts(Accounts::List) => client.get("/api/v1/accounts", &[]).await?,
        What::Accounts(Accounts::Create {
            account: username,
            admin,
            roles: r,
        }) => {
            let password = std::env::var("SPYGLASS_NEW_PASSWORD").map_err(|_| {
                anyhow::anyhow!("set SPYGLASS_NEW_PASSWORD to the new account's password")
            })?;
            client
                .post(
                    "/api/v1/accounts",
                    &json!({"username": username, "password": password, "admin": admin, "roles": roles(r)?}),
                )
                .await?
        }
        What::Accounts(Accounts::Delete { id }) => {
            client.delete(&format!("/api/v1/accounts/{id}")).await?
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    match &what {
        What::Projects(Projects::List) => {
            let mut rows = vec![vec![
                "ID".into(),
                "NAME".into(),
                "ROLE".into(),
                "CREATED".into(),
            ]];
            for p in out.as_array().into_iter().flatten() {
                rows.push(vec![
                    s(&p["id"]),
                    s(&p["name"]),
                    s(&p["role"]),
                    time(&p["created_ns"]),
                ]);
            }
            table(&rows);
        }
        What::Projects(Projects::Create { .. }) => println!("created project {}", s(&out["id"])),
        What::Projects(Projects::Delete { id, .. }) => println!(
            "deleted project {id}: {} traces, {} spans",
            s(&out["traces"]),
            s(&out["spans"])
        ),
        What::Keys(Keys::List) => {
            let mut rows = vec![vec![
                "ID".into(),
                "PREFIX".into(),
                "SCOPE".into(),
                "NAME".into(),
                "CREATED".into(),
                "REVOKED".into(),
            ]];
            for k in out.as_array().into_iter().flatten() {
                rows.push(vec![
                    s(&k["id"]),
                    s(&k["prefix"]),
                    s(&k["scope"]),
                    s(&k["name"]),
                    time(&k["created_ns"]),
                    time(&k["revoked_ns"]),
                ]);
            }
            table(&rows);
        }
        What::Keys(Keys::Create { .. }) => {
            // The key alone on stdout, so `KEY=$(spyglass keys create ...)` works.
            eprintln!(
                "created {} key {} in project {}; it is shown only now:",
                s(&out["scope"]),
                s(&out["prefix"]),
                s(&out["project_id"])
            );
            println!("{}", s(&out["key"]));
        }
        What::Keys(Keys::Revoke { .. }) => println!("revoked {}", s(&out["prefix"])),
        What::Accounts(Accounts::List) => {
            let mut rows = vec![vec![
                "ID".into(),
                "USERNAME".into(),
                "ADMIN".into(),
                "ROLES".into(),
            ]];
            for u in out.as_array().into_iter().flatten() {
                rows.push(vec![
                    s(&u["id"]),
                    s(&u["username"]),
                    s(&u["admin"]),
                    u["roles"].to_string(),
                ]);
            }
            table(&rows);
        }
        What::Accounts(Accounts::Create { .. }) => {
            println!(
                "created account {} ({})",
                s(&out["username"]),
                s(&out["id"])
            )
        }
        What::Accounts(Accounts::Delete { id }) => println!("deleted account {id}"),
    }
    Ok(())
}
