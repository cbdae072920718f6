//! Where `POST /api/v1/import` puts what it read: archived rows straight into the store, trace
//! exports through the engine's scan first, OTLP/JSON through the ingest pipeline.

use spyglass_archive::ImportSink;
use spyglass_engine::Engine;
use spyglass_model::Span;
use spyglass_receiver::Pipeline;
use spyglass_store::Batch;
use std::sync::Arc;

pub struct Importer {
    pub pipeline: Arc<Pipeline>,
    pub engine: Arc<Engine>,
}

#[async_trait::async_trait]
impl ImportSink for Importer {
    async fn write(&self, _project: &str, batch: Batch) -> Result<(), String> {
        self.pipeline
            .store()
            .write(Arc::new(batch))
            .await
            .map_err(|e| e.to_string())
    }

    async fn scan_and_write(&self, project: &str, mut spans: Vec<Span>) -> Result<u64, String> {
        let project: Arc<str> = Arc::from(project);
        for s in &mut spans {
            s.project_id = project.clone();
        }
        let findings = self.engine.scan(&mut spans);
        let n = findings.len() as u64;
        self.write(&project, Batch { spans, findings }).await?;
        Ok(n)
    }

    async fn otlp_json(&self, project: &str, body: &[u8]) -> Result<u64, String> {
        let admission = self.pipeline.admit(body.len()).map_err(|e| e.to_string())?;
        self.pipeline
            .export_bytes(admission, body, spyglass_ingest::Format::Json, project)
            .await
            .map(|a| a.accepted)
            .map_err(|e| e.to_string())
    }
}
