//! Placeholder: the benchmarks land in the next commit.
fn main() {}
