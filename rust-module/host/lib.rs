//! The checker module's invariant logic, built for the host so that
//! `cargo test` can run it against hand-made snapshots.
#![no_std]

#[path = "../invariants.rs"]
mod invariants;

pub use invariants::*;
