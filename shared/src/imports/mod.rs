//! CSV license imports (seed 000, API.md §6).

pub mod rows;
