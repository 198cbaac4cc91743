//! The library every Lambda of the licensing Management API uses: domain rules, storage and
//! HTTP glue. Each function's `main.rs` only calls [`app::serve`] with a handler from here.

// The license JSON (seed 002) is one large `json!` literal.
#![recursion_limit = "256"]

pub mod app;
pub mod auth;
pub mod catalog;
pub mod config;
pub mod duration;
pub mod error;
pub mod http;
pub mod ids;
pub mod imports;
pub mod input;
pub mod license_api;
pub mod license_props;
pub mod licenses;
pub mod listing;
pub mod orders;
pub mod passwords;
pub mod store;
pub mod timefmt;

pub use app::App;
pub use error::ApiError;
pub use ids::Id;
