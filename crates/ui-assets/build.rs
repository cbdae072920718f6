//! Embeds `ui/dist` when it has been built (`npm run build` in ui/); without it the crate
//! still compiles and serves a page explaining how to build the dashboard, so `cargo build`
//! alone works on a fresh clone.

use std::path::Path;

fn main() {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/dist");
    // A directory here makes cargo rerun this script (and recompile the crate, picking up the
    // new files) when anything under it changes, and when it appears or disappears.
    println!("cargo:rerun-if-changed=../../ui/dist");
    println!("cargo::rustc-check-cfg=cfg(ui_built)");
    if dist.join("index.html").is_file() {
        println!("cargo:rustc-cfg=ui_built");
    } else {
        println!(
            "cargo:warning=ui/dist not found: the binary serves a \"dashboard not built\" page (build it with: cd ui && npm ci && npm run build)"
        );
    }
}
