//! The web dashboard's files (`ui/dist`, built by Vite), compiled into the binary.
//!
//! A leaf crate so that changing the dashboard recompiles only this crate and relinks.

/// One file of the dashboard.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    pub bytes: &'static [u8],
    pub content_type: &'static str,
    /// Vite puts content-hashed file names under `assets/`: a name never changes content, so
    /// browsers may cache it for good. Everything else (index.html) must be revalidated.
    pub immutable: bool,
}

#[cfg(ui_built)]
static DIST: include_dir::Dir<'static> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/../../ui/dist");

/// Served in place of the dashboard when the binary was built without `ui/dist`.
const NOT_BUILT: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Spyglass</title></head>\
<body style=\"font-family: system-ui, sans-serif; max-width: 640px; margin: 48px auto\">\
<h1>Spyglass</h1><p>The web dashboard was not built into this binary.</p>\
<p>Build it and then the binary: <code>cd ui &amp;&amp; npm ci &amp;&amp; npm run build &amp;&amp; cd .. &amp;&amp; cargo build --release</code>, \
or run <code>./scripts/run serve</code>, which does both.</p>\
<p>The API works without it: <a href=\"/api/openapi.json\">/api/openapi.json</a>.</p></body></html>";

/// Whether the dashboard was embedded (else only the "not built" page is served).
pub fn built() -> bool {
    cfg!(ui_built)
}

/// The file at `path` (relative, like `assets/index-abc123.js`), if the dashboard has it.
pub fn get(path: &str) -> Option<Asset> {
    #[cfg(ui_built)]
    {
        let file = DIST.get_file(path.trim_start_matches('/'))?;
        Some(Asset {
            bytes: file.contents(),
            content_type: content_type(path),
            immutable: path.trim_start_matches('/').starts_with("assets/"),
        })
    }
    #[cfg(not(ui_built))]
    {
        let _ = path;
        None
    }
}

/// The single-page app's entry point, served for every dashboard route.
pub fn index() -> Asset {
    get("index.html").unwrap_or(Asset {
        bytes: NOT_BUILT.as_bytes(),
        content_type: "text/html; charset=utf-8",
        immutable: false,
    })
}

/// The content type for a file name's extension.
pub fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext.to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_always_html() {
        let i = index();
        assert!(i.content_type.starts_with("text/html"));
        assert!(!i.immutable);
        assert!(!i.bytes.is_empty());
    }

    #[test]
    fn unknown_files_are_absent() {
        assert!(get("no/such/file.js").is_none());
    }

    #[test]
    fn content_types() {
        assert_eq!(
            content_type("assets/a-1.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("x.CSS"), "text/css; charset=utf-8");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }

    #[cfg(ui_built)]
    #[test]
    fn hashed_assets_are_immutable() {
        let asset = DIST
            .get_dir("assets")
            .and_then(|d| d.files().next())
            .expect("vite emits assets/");
        let got = get(asset.path().to_str().unwrap()).unwrap();
        assert!(got.immutable);
    }
}
