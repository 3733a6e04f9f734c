//! Integration tests: the real `minik` binary against a real Docker engine and the real
//! Kubernetes node image from tests/fixture. They fail (never skip) when either is missing:
//! run them through tests/run.sh, which builds the fixture first.

mod addons;
mod cli;
mod common;
mod errors;
mod images;
mod lifecycle;
mod spark;
