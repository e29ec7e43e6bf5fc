fn main() {
    // The app package sits at the repository root (see Cargo.toml), so point tauri-build at
    // the capabilities in src-tauri/ explicitly; without them it would rerun on every build.
    tauri_build::try_build(
        tauri_build::Attributes::new().capabilities_path_pattern("./src-tauri/capabilities/**/*"),
    )
    .expect("tauri-build failed");
}
