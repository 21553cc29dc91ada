// `sqlx::migrate!` embeds the migration files at compile time, but cargo does
// not know they are inputs: without this, a migration added to the folder is
// missing from the next build until some Rust file of the crate changes.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
