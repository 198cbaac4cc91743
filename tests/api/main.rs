//! Integration tests: every handler called in-process against moto server.

mod accounts;
mod auth;
mod compat;
mod custom_fields;
mod customers;
mod devices;
mod faults;
mod features;
mod http;
mod id_nodes;
mod imports;
mod isolation;
mod license_api;
mod license_api_floating;
mod license_custom_fields;
mod license_users;
mod licenses;
mod lifecycle;
mod limits;
mod lists;
mod orders;
mod products;
mod scope;
mod staging;
mod templates;
