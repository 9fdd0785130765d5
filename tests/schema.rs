//! The committed schema.graphql is the API contract: a change to the API must
//! be a deliberate change to that file (`pydojo schema > schema.graphql`).

#[test]
fn the_committed_schema_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql is committed");
    let current = graphql::sdl();
    assert!(
        committed == current,
        "the GraphQL schema changed; if that is deliberate, run `cargo run -- schema > schema.graphql` and commit it"
    );
}
