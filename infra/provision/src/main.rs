//! `provision stack` | `provision company --name N` | `provision api-key --company ID [--products ID1,ID2]`
//! | `provision license-api-key --company ID` | `provision license-api-public-key`
//! | `provision reindex` (after an upgrade that adds an index: see `reindex_licenses`)
//!
//! Reads the same environment as the functions: `TABLE_NAME`, `IMPORT_BUCKET`, for `stack`
//! `IMPORT_QUEUE_NAME` (default `licensing-imports`), and `LICENSE_API_SECRET` (default
//! `<TABLE_NAME>-license-api`); AWS settings (`AWS_ENDPOINT_URL`, `AWS_REGION`, credentials) as
//! the SDK reads them. Prints one JSON line.

use std::process::ExitCode;

use provision::{
    create_api_key, create_company, create_license_api_key, create_stack, license_api_public_key, reindex_licenses,
    StackNames,
};
use serde_json::json;
use shared::store::Store;

const USAGE: &str = "usage: provision stack | provision company --name NAME | provision api-key --company ID \
     [--products ID1,ID2] | provision license-api-key --company ID | provision license-api-public-key \
     | provision reindex";

#[tokio::main]
async fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()).await {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("provision: {message}");
            ExitCode::FAILURE
        }
    }
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).ok().filter(|v| !v.is_empty()).ok_or_else(|| format!("{name} is not set"))
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(String::as_str)
}

async fn run(args: Vec<String>) -> Result<serde_json::Value, String> {
    let sdk = aws_config::load_from_env().await;
    let store = || -> Result<Store, String> { Ok(Store::new(aws_sdk_dynamodb::Client::new(&sdk), env("TABLE_NAME")?)) };
    let secret = || -> Result<String, String> {
        env("LICENSE_API_SECRET").or_else(|_| env("TABLE_NAME").map(|t| format!("{t}-license-api")))
    };
    match args.first().map(String::as_str) {
        Some("stack") => {
            let names = StackNames {
                table: env("TABLE_NAME")?,
                bucket: env("IMPORT_BUCKET")?,
                queue: env("IMPORT_QUEUE_NAME").unwrap_or_else(|_| "licensing-imports".into()),
                license_api_secret: secret()?,
            };
            let stack = create_stack(&sdk, &names).await.map_err(|e| e.to_string())?;
            Ok(json!({
                "table_name": names.table,
                "import_bucket": names.bucket,
                "import_queue_url": stack.queue_url,
                "import_dead_letter_queue_url": stack.dead_letter_queue_url,
                "license_api_secret": names.license_api_secret,
            }))
        }
        Some("company") => {
            let name = flag(&args, "--name").ok_or(USAGE)?;
            let (company_id, api_key) = create_company(&store()?, name).await.map_err(|e| e.to_string())?;
            Ok(json!({ "company_id": company_id, "api_key": api_key }))
        }
        Some("api-key") => {
            let company = flag(&args, "--company").ok_or(USAGE)?.parse().map_err(|_| "--company takes a company id")?;
            let products = flag(&args, "--products")
                .map(|list| list.split(',').map(|id| id.trim().parse()).collect::<Result<Vec<_>, _>>())
                .transpose()
                .map_err(|_| "--products takes comma-separated product ids")?;
            let api_key = create_api_key(&store()?, company, products).await.map_err(|e| e.to_string())?;
            Ok(json!({ "api_key": api_key }))
        }
        Some("license-api-key") => {
            let company = flag(&args, "--company").ok_or(USAGE)?.parse().map_err(|_| "--company takes a company id")?;
            let (api_key, shared_key) =
                create_license_api_key(&sdk, &store()?, &secret()?, company).await.map_err(|e| e.to_string())?;
            Ok(json!({ "api_key": api_key, "shared_key": shared_key }))
        }
        Some("license-api-public-key") => {
            let pem = license_api_public_key(&sdk, &secret()?).await.map_err(|e| e.to_string())?;
            Ok(json!({ "public_key_pem": pem }))
        }
        Some("reindex") => {
            let indexed = reindex_licenses(&store()?).await.map_err(|e| e.to_string())?;
            Ok(json!({ "licenses_indexed": indexed }))
        }
        _ => Err(USAGE.into()),
    }
}
