//! The scheduled archive: before retention deletes a project's expired traces, they are
//! written to the archive destination; retention deletes only after that succeeded. Both are
//! recorded in the audit log.

use crate::destination::Destination;
use crate::export::export_to;
use spyglass_model::audit::AuditEntry;
use spyglass_store::archive::{ArchiveFormat, ExportSpec, Selection};
use spyglass_store::retention::BeforeDelete;
use spyglass_store::{RetentionReport, Store};
use std::path::PathBuf;

pub struct RetentionHook {
    /// Where expired data goes first; `None` deletes without archiving.
    pub archive: Option<(Destination, ArchiveFormat)>,
    pub staging_root: PathBuf,
}

async fn audit(
    store: &dyn Store,
    project: &str,
    action: &str,
    target: String,
    detail: serde_json::Value,
) {
    let entry = AuditEntry::now(project, "system", action, target, detail);
    if let Err(e) = store.record_audit(&entry).await {
        tracing::warn!(project, action, error = %e, "could not record the audit entry");
    }
}

#[async_trait::async_trait]
impl BeforeDelete for RetentionHook {
    async fn before_delete(
        &self,
        store: &dyn Store,
        project: &str,
        cutoff_ns: i64,
    ) -> Result<(), String> {
        let Some((dest, format)) = &self.archive else {
            return Ok(());
        };
        let spec = ExportSpec {
            project: project.into(),
            selection: Selection::Expiring { cutoff_ns },
            format: *format,
        };
        let files = export_to(store, &spec, dest, &self.staging_root)
            .await
            .map_err(|e| e.to_string())?;
        if !files.is_empty() {
            let bytes: u64 = files.iter().map(|f| f.bytes).sum();
            tracing::info!(project, files = files.len(), bytes, destination = %dest, "archived data before retention deletes it");
            audit(
                store,
                project,
                "archive.write",
                dest.to_string(),
                serde_json::json!({"files": files, "bytes": bytes, "cutoff_ns": cutoff_ns}),
            )
            .await;
        }
        Ok(())
    }

    async fn deleted(
        &self,
        store: &dyn Store,
        project: &str,
        cutoff_ns: i64,
        report: RetentionReport,
    ) {
        let cutoff =
            std::time::UNIX_EPOCH + std::time::Duration::from_nanos(cutoff_ns.max(0) as u64);
        audit(
            store,
            project,
            "retention.delete",
            format!(
                "traces ended before {}",
                humantime::format_rfc3339_seconds(cutoff)
            ),
            serde_json::json!(report),
        )
        .await;
    }
}
