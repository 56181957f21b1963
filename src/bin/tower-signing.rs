//! Placeholder: the CLI lands in the next commit.
fn main() {}
