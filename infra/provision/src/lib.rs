//! Provisioning: the AWS resources of one deployment (for local runs and tests; production uses
//! infra/template.yaml, which defines the same table), and companies with their API keys.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter, QueueConfiguration,
    S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;
use shared::auth::new_api_key;
use shared::ids::{Id, IdGenerator, NodeLease, NODE_COUNT};
use shared::license_api::keys::Keys;
use shared::store::{keys, Company, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("{0}")]
    Aws(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn aws(err: impl std::error::Error) -> ProvisionError {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    ProvisionError::Aws(text)
}

/// Names of one deployment's resources.
#[derive(Debug, Clone)]
pub struct StackNames {
    pub table: String,
    pub bucket: String,
    pub queue: String,
    /// The License API's secret (`shared::license_api::keys`).
    pub license_api_secret: String,
}

#[derive(Debug, Clone)]
pub struct Stack {
    pub queue_url: String,
    pub dead_letter_queue_url: String,
}

/// Creates whatever of the table, bucket, queues and S3 → SQS notification is missing.
pub async fn create_stack(sdk: &aws_config::SdkConfig, names: &StackNames) -> Result<Stack, ProvisionError> {
    create_table(&aws_sdk_dynamodb::Client::new(sdk), &names.table).await?;
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let dead_letter_queue_url = create_queue(&sqs, &format!("{}-dlq", names.queue), None).await?;
    let dlq_arn = queue_arn(&sqs, &dead_letter_queue_url).await?;
    let redrive = format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"5"}}"#);
    let queue_url = create_queue(&sqs, &names.queue, Some(redrive)).await?;
    let queue_arn = queue_arn(&sqs, &queue_url).await?;
    create_bucket(&s3_client(sdk), &names.bucket, &queue_arn).await?;
    create_license_api_secret(&aws_sdk_secretsmanager::Client::new(sdk), &names.license_api_secret).await?;
    Ok(Stack { queue_url, dead_letter_queue_url })
}

/// Gives the License API's secret its keys if it has none yet: created here when missing
/// (local runs), or the empty secret the SAM template creates. A secret that has keys keeps
/// them (rotation is a new version written on purpose: see the README).
pub async fn create_license_api_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
) -> Result<(), ProvisionError> {
    use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
    match client.get_secret_value().secret_id(name).send().await {
        Ok(out) if out.secret_string().is_some_and(|s| Keys::from_secret(s).is_ok()) => return Ok(()),
        Ok(_) => {
            client.put_secret_value().secret_id(name).secret_string(Keys::new_secret()).send().await.map_err(aws)?;
            return Ok(());
        }
        Err(err) if !matches!(err.as_service_error(), Some(GetSecretValueError::ResourceNotFoundException(_))) => {
            return Err(aws(err));
        }
        Err(_) => {}
    }
    let created = client.create_secret().name(name).secret_string(Keys::new_secret()).send().await;
    match created {
        Ok(_) => Ok(()),
        // Another process created it meanwhile (tests start in parallel): it has its keys.
        Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_exists_exception()) => Ok(()),
        Err(err) => Err(aws(err)),
    }
}

/// New License API credentials for `company` (LICENSE-API.md §0): `(api_key, shared_key)`.
pub async fn create_license_api_key(
    sdk: &aws_config::SdkConfig,
    store: &Store,
    secret: &str,
    company: Id,
) -> Result<(String, String), ProvisionError> {
    let keys = shared::license_api::keys::load(&aws_sdk_secretsmanager::Client::new(sdk), Some(secret))
        .await
        .map_err(|e| ProvisionError::Aws(e.to_string()))?;
    Ok(shared::license_api::auth::mint(store, keys, company).await?)
}

/// The License API's public key as PEM (for the SDK's verifier: `make dev` writes it out).
pub async fn license_api_public_key(sdk: &aws_config::SdkConfig, secret: &str) -> Result<String, ProvisionError> {
    let keys = shared::license_api::keys::load(&aws_sdk_secretsmanager::Client::new(sdk), Some(secret))
        .await
        .map_err(|e| ProvisionError::Aws(e.to_string()))?;
    Ok(keys.public_pem.clone())
}

/// S3 with path-style addressing: local endpoints have no per-bucket host names.
pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk).force_path_style(true).build();
    aws_sdk_s3::Client::from_conf(config)
}

fn key(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder().attribute_name(name).key_type(key_type).build().expect("name and type set")
}

fn string_attribute(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("name and type set")
}

/// Creates the table (its GSIs and TTL) if it is missing.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), ProvisionError> {
    if client.describe_table().table_name(table).send().await.is_ok() {
        return Ok(());
    }
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(keys::PK, KeyType::Hash))
        .key_schema(key(keys::SK, KeyType::Range))
        .attribute_definitions(string_attribute(keys::PK))
        .attribute_definitions(string_attribute(keys::SK));
    for n in 1..=keys::GSI_COUNT {
        let (pk, sk) = (keys::gsi_pk(n), keys::gsi_sk(n));
        request = request
            .attribute_definitions(string_attribute(&pk))
            .attribute_definitions(string_attribute(&sk))
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(keys::gsi_name(n))
                    .key_schema(key(&pk, KeyType::Hash))
                    .key_schema(key(&sk, KeyType::Range))
                    .projection(Projection::builder().projection_type(ProjectionType::All).build())
                    .build()
                    .expect("name, keys and projection set"),
            );
    }
    match request.send().await {
        Ok(_) => {}
        // Another process created it meanwhile.
        Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => return Ok(()),
        Err(err) => return Err(aws(err)),
    }
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(keys::TTL_ATTRIBUTE)
                .enabled(true)
                .build()
                .expect("name and flag set"),
        )
        .send()
        .await
        .map_err(aws)?;
    Ok(())
}

async fn create_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    redrive_policy: Option<String>,
) -> Result<String, ProvisionError> {
    let mut request = client
        .create_queue()
        .queue_name(name)
        // Longer than the worker's 15-minute timeout, so a running job is not redelivered.
        .attributes(QueueAttributeName::VisibilityTimeout, "960");
    if let Some(policy) = redrive_policy {
        request = request.attributes(QueueAttributeName::RedrivePolicy, policy);
    }
    let out = request.send().await.map_err(aws)?;
    out.queue_url.ok_or_else(|| ProvisionError::Aws(format!("no URL for queue {name}")))
}

async fn queue_arn(client: &aws_sdk_sqs::Client, url: &str) -> Result<String, ProvisionError> {
    let out = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(aws)?;
    out.attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| ProvisionError::Aws(format!("no ARN for queue {url}")))
}

async fn create_bucket(client: &aws_sdk_s3::Client, bucket: &str, queue_arn: &str) -> Result<(), ProvisionError> {
    if client.head_bucket().bucket(bucket).send().await.is_err() {
        match client.create_bucket().bucket(bucket).send().await {
            Ok(_) => {}
            Err(err) if err.as_service_error().is_some_and(|e| e.is_bucket_already_owned_by_you()) => {}
            Err(err) => return Err(aws(err)),
        }
    }
    let filter = NotificationConfigurationFilter::builder()
        .key(
            S3KeyFilter::builder()
                .filter_rules(FilterRule::builder().name(FilterRuleName::Prefix).value(keys::IMPORT_PREFIX).build())
                .build(),
        )
        .build();
    let queue = QueueConfiguration::builder()
        .queue_arn(queue_arn)
        .events(Event::from("s3:ObjectCreated:*"))
        .filter(filter)
        .build()
        .map_err(aws)?;
    client
        .put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(NotificationConfiguration::builder().queue_configurations(queue).build())
        .send()
        .await
        .map_err(aws)?;
    Ok(())
}

/// A new company and its first admin key (shown once).
/// Writes the validity index entry (GSI6, `order_by=validity_period`) of every license that has
/// none: licenses written before that index existed. Run once after deploying a version that
/// adds it; safe to run again, and beside live traffic (each write is conditional on the item
/// still lacking the entry: a license changed meanwhile was written whole, entry included).
/// One Scan of the table, a page at a time. The number of licenses indexed.
pub async fn reindex_licenses(store: &Store) -> Result<u64, ProvisionError> {
    use aws_sdk_dynamodb::types::AttributeValue;
    use shared::licenses::License;
    use shared::store::Entity;
    let (client, table) = (store.client(), store.table());
    let (pk, sk) = (keys::gsi_pk(keys::LICENSES_BY_VALIDITY), keys::gsi_sk(keys::LICENSES_BY_VALIDITY));
    let mut indexed = 0;
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .filter_expression("entity = :kind AND attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", &pk)
            .expression_attribute_values(":kind", AttributeValue::S(License::KIND.into()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(aws)?;
        for item in page.items.unwrap_or_default() {
            let company = item.get(keys::PK).and_then(|v| v.as_s().ok()).and_then(|pk| keys::company_of(pk));
            let (Some(company), Ok(license)) = (company, shared::store::from_item::<License>(item.clone())) else {
                continue;
            };
            let Some(entry) = license.index_keys(company).into_iter().find(|k| k.index == keys::LICENSES_BY_VALIDITY)
            else {
                continue;
            };
            let written = client
                .update_item()
                .table_name(table)
                .key(keys::PK, item[keys::PK].clone())
                .key(keys::SK, item[keys::SK].clone())
                .update_expression("SET #pk = :pk, #sk = :sk")
                // Unchanged since it was read: a license rewritten meanwhile (by code that wrote
                // no entry, during a rollout) is indexed by the next run, from what it holds then.
                .condition_expression("attribute_not_exists(#pk) AND #updated = :updated")
                .expression_attribute_names("#updated", "updated_at")
                .expression_attribute_values(":updated", item["updated_at"].clone())
                .expression_attribute_names("#pk", &pk)
                .expression_attribute_names("#sk", &sk)
                .expression_attribute_values(":pk", AttributeValue::S(entry.pk))
                .expression_attribute_values(":sk", AttributeValue::S(entry.sk))
                .send()
                .await;
            match written {
                Ok(_) => indexed += 1,
                Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
                Err(err) => return Err(aws(err)),
            }
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            return Ok(indexed);
        }
    }
}

pub async fn create_company(store: &Store, name: &str) -> Result<(Id, String), ProvisionError> {
    let now = shared::ids::now_ms();
    let lease = store.lease_id_node(&shared::ids::new_lease_owner(), now, NodeLease::expiry(now), NODE_COUNT).await?;
    let id = IdGenerator::new(lease.node).next_id();
    store.release_id_node(&lease, shared::ids::now_ms()).await?;
    let company = Company { id, name: name.to_string(), created_at: shared::timefmt::now() };
    store.put_company(&company).await?;
    let key = create_api_key(store, company.id, None).await?;
    Ok((company.id, key))
}

/// A new key of `company`: admin when `products` is `None`, else scoped to those products.
pub async fn create_api_key(store: &Store, company: Id, products: Option<Vec<Id>>) -> Result<String, ProvisionError> {
    let key = new_api_key(company, products);
    store.put_api_key(&key.record).await?;
    Ok(key.full)
}
