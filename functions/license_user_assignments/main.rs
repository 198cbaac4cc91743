//! `POST /api/v1/licenses/{id}/assign_user/`, `assign_users/`, `unassign_user/` and
//! `set_users_activations/` (API.md §8.2).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::serve(shared::licenses::assignments::license_user_assignments_handler).await
}
