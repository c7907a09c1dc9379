// SPDX-License-Identifier: GPL-2.0
//! caba-restore: dump a process tree (pids at every level, sessions,
//! groups, CABA, threads, zombies, subreapers) and re-create it in a new
//! pid namespace with clone3() and set_tid.

mod compare;
mod dump;
mod history;
mod model;
mod plan;
mod planner_caba;
mod planner_nocaba;
#[cfg(test)]
mod tests;

fn main() {}
