//! The CSV format of imports: its header row checked at once, and each data row mapped into
//! the vocabulary of `create_order` (an order, its customer, one license of one product), so a
//! row is validated and written by the order code itself. Errors that code reports under a
//! JSON path are mapped back to the CSV column they came from.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::input::parse_bool;

pub const REQUIRED_HEADERS: [&str; 2] = ["license__license_key", "product__short_code"];

/// Every header the vendor documents, plus `customer__email` and `customer__first_name`.
pub const HEADERS: &[&str] = &[
    "license__license_key",
    "product__short_code",
    "customer__email",
    "customer__first_name",
    "customer__last_name",
    "customer__company_name",
    "customer__phone",
    "customer__reference",
    "customer__address",
    "customer__postcode",
    "customer__state",
    "customer__city",
    "customer__country",
    "order__store_id",
    "order__type",
    "order__is_test",
    "order__is_trial",
    "order__download_id",
    "order__language",
    "order__campaign_params",
    "license__enabled",
    "license__max_activations",
    "license__allow_unlimited_activations",
    "license__validity_period",
    "license__valid_duration",
    "license__license_type",
    "license__enable_maintenance_period",
    "license__maintenance_period",
    "license__maintenance_duration",
    "license__is_trial",
    "license__max_consumptions",
    "license__subscription_id",
    "license__prevent_vm",
    "license__allow_overages",
    "license__max_overages",
    "license__reset_consumption",
    "license__consumption_period",
    "license__trial_days",
    "license__is_floating",
    "license__is_floating_cloud",
    "license__floating_users",
    "license__note",
    "license__max_license_users",
    "license__floating_timeout",
];

const BOM: &[u8] = b"\xEF\xBB\xBF";
const UTF16_LE_BOM: &[u8] = b"\xFF\xFE";
const UTF16_BE_BOM: &[u8] = b"\xFE\xFF";

/// Delimiters a header row may use, in the order they are tried (API.md §6: Excel writes `;`
/// in many European locales, and a tab in its "Unicode Text").
pub const DELIMITERS: [(u8, &str); 3] = [(b',', "comma"), (b';', "semicolon"), (b'\t', "tab")];

/// The columns of a file and where its data rows start.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub columns: Vec<String>,
    /// Byte offset of the first data row (after the byte-order mark and header row).
    pub data_start: u64,
    /// The cell delimiter, detected from the header row.
    pub delimiter: u8,
}

/// The UTF-16 encoding a file's byte-order mark names, if any (else the file must be UTF-8).
pub fn utf16_encoding(head: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    if head.starts_with(UTF16_LE_BOM) {
        Some(encoding_rs::UTF_16LE)
    } else if head.starts_with(UTF16_BE_BOM) {
        Some(encoding_rs::UTF_16BE)
    } else {
        None
    }
}

/// A whole uploaded file as UTF-8: UTF-16 (with its byte-order mark) is converted; anything
/// else must be UTF-8 throughout. Otherwise a 400 on `file` naming the first bad line.
pub fn file_as_utf8(data: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, ApiError> {
    if let Some(encoding) = utf16_encoding(data) {
        let (text, malformed) = encoding.decode_with_bom_removal(data);
        if malformed {
            let line = text.split('\n').position(|line| line.contains('\u{FFFD}')).map_or(1, |i| i + 1);
            return Err(ApiError::field("file", not_text(line as u64)));
        }
        return Ok(std::borrow::Cow::Owned(text.into_owned().into_bytes()));
    }
    match first_bad_line(data, 1) {
        Some(line) => Err(ApiError::field("file", not_text(line))),
        None => Ok(std::borrow::Cow::Borrowed(data)),
    }
}

/// The message for a file that is not text in a supported encoding, from line `line` on.
pub fn not_text(line: u64) -> String {
    format!("Line {line} is not text in a supported encoding (UTF-8, or UTF-16 with a byte-order mark).")
}

/// The number of the first line of `buf` that is not UTF-8, counting its first line as
/// `first_line`; `None` if all of it is UTF-8.
pub fn first_bad_line(buf: &[u8], first_line: u64) -> Option<u64> {
    let valid = match std::str::from_utf8(buf) {
        Ok(_) => return None,
        Err(err) => err.valid_up_to(),
    };
    Some(first_line + buf[..valid].iter().filter(|b| **b == b'\n').count() as u64)
}

/// The header row of a CSV file (a UTF-8 byte-order mark is skipped; the delimiter is
/// detected). `head` needs only to hold the first line. Any problem is a 400 on `file`, as
/// nothing may be queued then.
pub fn read_header(head: &[u8]) -> Result<Header, ApiError> {
    let invalid = |message: String| ApiError::field("file", message);
    let bom = if head.starts_with(BOM) { BOM.len() as u64 } else { 0 };
    let head = head.strip_prefix(BOM).unwrap_or(head);
    if head.iter().all(u8::is_ascii_whitespace) {
        return Err(invalid("The file is empty.".into()));
    }
    let first_line = head.split(|b| *b == b'\n').next().unwrap_or(head);
    if std::str::from_utf8(first_line).is_err() {
        return Err(invalid(not_text(1)));
    }
    // The delimiter that makes the most known headers of the first line.
    let known = |delimiter: u8| {
        first_line.split(|b| *b == delimiter).filter(|h| HEADERS.iter().any(|k| k.as_bytes() == trim(h))).count()
    };
    let (delimiter, found) =
        DELIMITERS.iter().map(|(d, _)| (*d, known(*d))).max_by_key(|(_, n)| *n).unwrap_or((b',', 0));
    let splits = DELIMITERS.iter().any(|(d, _)| first_line.contains(d));
    if found == 0 && !splits {
        let tried: Vec<&str> = DELIMITERS.iter().map(|(_, name)| *name).collect();
        return Err(invalid(format!(
            "The header row has no delimiter between its columns (tried: {}).",
            tried.join(", ")
        )));
    }
    let mut reader = csv::ReaderBuilder::new().has_headers(false).delimiter(delimiter).from_reader(head);
    let mut record = csv::ByteRecord::new();
    match reader.read_byte_record(&mut record) {
        Ok(true) => {}
        Ok(false) => return Err(invalid("The file is empty.".into())),
        Err(err) => return Err(invalid(format!("The header row is not valid CSV: {err}"))),
    }
    let mut headers = Vec::with_capacity(record.len());
    for field in record.iter() {
        let text = std::str::from_utf8(field).map_err(|_| invalid(not_text(1)))?;
        headers.push(text.trim().to_string());
    }
    let missing: Vec<&str> = REQUIRED_HEADERS.iter().copied().filter(|h| !headers.iter().any(|x| x == h)).collect();
    if !missing.is_empty() {
        return Err(invalid(format!("Missing required headers: {}.", missing.join(", "))));
    }
    let unknown: Vec<&str> = headers.iter().map(String::as_str).filter(|h| !HEADERS.contains(h)).collect();
    if !unknown.is_empty() {
        return Err(invalid(format!("Unknown headers: {}.", unknown.join(", "))));
    }
    if let Some(twice) = headers.iter().enumerate().find(|(i, h)| headers[..*i].contains(h)).map(|(_, h)| h) {
        return Err(invalid(format!("Header {twice} appears twice.")));
    }
    Ok(Header { columns: headers, data_start: bom + past_crlf(head, reader.position().byte()), delimiter })
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// The csv reader stops a CRLF-terminated row after its `\r`; the row ends after the `\n`.
fn past_crlf(buf: &[u8], end: u64) -> u64 {
    let at = end as usize;
    if at > 0 && buf.get(at - 1) == Some(&b'\r') && buf.get(at) == Some(&b'\n') {
        end + 1
    } else {
        end
    }
}

/// One data row as read: its 1-based number, its cells, and where the next row starts.
#[derive(Debug, Clone)]
pub struct RawRow {
    pub number: u64,
    pub record: csv::ByteRecord,
    pub end: u64,
}

/// The complete rows in `buf`, which holds the file from byte `start` on; `at_end` says that
/// it reaches the end of the file. A row that may continue past the buffer is left for the
/// next read, which starts where the last returned row ends. Blank lines are skipped.
pub fn split_rows(buf: &[u8], start: u64, first_number: u64, at_end: bool, delimiter: u8) -> Vec<RawRow> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter).from_reader(buf);
    let mut rows = Vec::new();
    let mut record = csv::ByteRecord::new();
    // Reading a byte slice cannot fail: byte records need no UTF-8 and rows may differ in length.
    while let Ok(true) = reader.read_byte_record(&mut record) {
        let end = past_crlf(buf, reader.position().byte());
        if !at_end && end as usize >= buf.len() {
            break;
        }
        let number = first_number + rows.len() as u64;
        rows.push(RawRow { number, record: record.clone(), end: start + end });
    }
    rows
}

/// The row's cells as text, in header order; `Err` names the columns that are not UTF-8 or
/// that the header does not have.
pub fn row_text(columns: &[String], record: &csv::ByteRecord) -> Result<csv::StringRecord, RowErrors> {
    let mut errors = RowErrors::new();
    if record.len() > columns.len() {
        errors.insert(
            "file".into(),
            vec![format!("The row has {} cells; the header has {}.", record.len(), columns.len())],
        );
    }
    let mut text = csv::StringRecord::with_capacity(record.as_slice().len(), record.len());
    for (column, cell) in columns.iter().zip(record.iter()) {
        match std::str::from_utf8(cell) {
            Ok(cell) => text.push_field(cell),
            Err(_) => {
                errors.insert(column.clone(), vec!["Not UTF-8 text.".into()]);
                text.push_field("");
            }
        }
    }
    if errors.is_empty() {
        Ok(text)
    } else {
        Err(errors)
    }
}

/// One data row in `create_order` terms.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MappedRow {
    /// `order__store_id`; rows without one share the import's own order.
    pub store_id: Option<String>,
    /// Order-level fields (`order_type`, `is_test`, …) as a create_order body gives them.
    pub order: Map<String, Value>,
    /// The customer object, when the row has any customer column.
    pub customer: Option<Map<String, Value>>,
    pub product_code: String,
    /// The license object (`key`, `max_activations`, …), values as the CSV gave them.
    pub license: Map<String, Value>,
    /// `license__enabled`, which orders do not take: applied after the license is resolved.
    pub enabled: Option<bool>,
}

/// Per-column problems of one row.
pub type RowErrors = BTreeMap<String, Vec<String>>;

/// Maps a data row. An empty cell means "not given", except for the license key and the
/// product code, which every row needs.
pub fn map_row(headers: &[String], record: &csv::StringRecord) -> Result<MappedRow, RowErrors> {
    let mut row = MappedRow::default();
    let mut errors = RowErrors::new();
    for (header, cell) in headers.iter().zip(record.iter()) {
        let cell = cell.trim();
        if cell.is_empty() {
            continue;
        }
        let value = Value::String(cell.to_string());
        match header.as_str() {
            "license__license_key" => {
                row.license.insert("key".into(), value);
            }
            "product__short_code" => row.product_code = cell.to_string(),
            "license__enabled" => match parse_bool(cell) {
                Some(enabled) => row.enabled = Some(enabled),
                None => errors.entry(header.clone()).or_default().push("Must be a valid boolean.".into()),
            },
            "order__store_id" => row.store_id = Some(cell.to_string()),
            "order__type" => {
                row.order.insert("order_type".into(), value);
            }
            other => {
                if let Some(field) = other.strip_prefix("license__") {
                    row.license.insert(field.into(), value);
                } else if let Some(field) = other.strip_prefix("customer__") {
                    row.customer.get_or_insert_with(Map::new).insert(field.into(), value);
                } else if let Some(field) = other.strip_prefix("order__") {
                    row.order.insert(field.into(), value);
                }
            }
        }
    }
    for (required, present) in [
        ("license__license_key", row.license.contains_key("key")),
        ("product__short_code", !row.product_code.is_empty()),
    ] {
        if !present {
            errors.entry(required.into()).or_default().push("This field is required.".into());
        }
    }
    if errors.is_empty() {
        Ok(row)
    } else {
        Err(errors)
    }
}

/// The CSV column an error of the order code belongs to (`items.0.licenses.0.max_activations`
/// → `license__max_activations`, `customer.email` → `customer__email`, `id` → `order__store_id`).
pub fn column_of(path: &str) -> String {
    let parts: Vec<&str> = path.split('.').collect();
    match parts.as_slice() {
        ["items", _, "licenses", _, "key", ..] => "license__license_key".into(),
        ["items", _, "licenses", _, field, ..] => format!("license__{field}"),
        ["items", _, "product_code", ..] | ["items", ..] => "product__short_code".into(),
        ["customer", field, ..] => format!("customer__{field}"),
        ["id", ..] => "order__store_id".into(),
        ["order_type", ..] => "order__type".into(),
        [field, ..] => format!("order__{field}"),
        [] => "file".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../../tests/fixtures/licenses-sample.csv");

    fn rows(text: &str) -> (Vec<String>, Vec<Result<MappedRow, RowErrors>>) {
        let header = read_header(text.as_bytes()).unwrap();
        let start = header.data_start as usize;
        let raw = split_rows(&text.as_bytes()[start..], header.data_start, 1, true, header.delimiter);
        let mapped = raw
            .iter()
            .map(|r| row_text(&header.columns, &r.record).and_then(|t| map_row(&header.columns, &t)))
            .collect();
        (header.columns, mapped)
    }

    #[test]
    fn rows_split_at_any_buffer_boundary_resume_exactly() {
        let text = format!("\u{feff}{SAMPLE}");
        let bytes = text.as_bytes();
        let header = read_header(bytes).unwrap();
        let whole = split_rows(&bytes[header.data_start as usize..], header.data_start, 1, true, b',');
        assert_eq!(whole.len(), 5);
        assert_eq!(whole.last().unwrap().end, bytes.len() as u64);
        // Reading in small buffers, each starting where the last complete row ended, gives
        // the same rows with the same numbers, whatever the buffer size.
        for size in [7, 64, 200, 1000] {
            let (mut at, mut number, mut rows) = (header.data_start, 1, Vec::new());
            while at < bytes.len() as u64 {
                let mut len = size;
                let batch = loop {
                    let end = (at as usize + len).min(bytes.len());
                    let batch = split_rows(&bytes[at as usize..end], at, number, end == bytes.len(), b',');
                    if !batch.is_empty() || end == bytes.len() {
                        break batch;
                    }
                    len *= 2;
                };
                let Some(last) = batch.last() else { break };
                (at, number) = (last.end, last.number + 1);
                rows.extend(batch);
            }
            let summary = |r: &[RawRow]| r.iter().map(|r| (r.number, r.record.clone(), r.end)).collect::<Vec<_>>();
            assert_eq!(summary(&rows), summary(&whole), "buffer size {size}");
        }
    }

    #[test]
    fn cells_must_be_utf8_and_fit_the_header() {
        let columns = vec!["license__license_key".to_string(), "license__note".to_string()];
        let bad = csv::ByteRecord::from(vec![&b"K"[..], &b"caf\xe9"[..]]);
        assert_eq!(row_text(&columns, &bad).unwrap_err().keys().collect::<Vec<_>>(), ["license__note"]);
        let long = csv::ByteRecord::from(vec!["K", "n", "extra"]);
        assert!(row_text(&columns, &long).unwrap_err().contains_key("file"));
        let short = csv::ByteRecord::from(vec!["K"]);
        assert_eq!(row_text(&columns, &short).unwrap().len(), 1);
    }

    #[test]
    fn the_sample_file_maps_every_header() {
        let (headers, mapped) = rows(SAMPLE);
        assert_eq!(read_header(SAMPLE.as_bytes()).unwrap().data_start, SAMPLE.find("\r\n").unwrap() as u64 + 2);
        assert_eq!(headers.len(), HEADERS.len());
        assert_eq!(mapped.len(), 5);
        let first = mapped[0].as_ref().unwrap();
        assert_eq!(first.product_code, "mch");
        assert_eq!(first.license["key"], "AAAA-BBBB-CCCC-0001");
        assert_eq!(first.license["max_activations"], "3");
        assert_eq!(first.license["license_type"], "perpetual");
        assert_eq!(first.license["note"], "imported, \"legacy\" customer");
        assert_eq!(first.enabled, Some(true));
        assert_eq!(first.store_id.as_deref(), Some("web-1001"));
        assert_eq!(first.order["order_type"], "normal");
        assert_eq!(first.order["is_test"], "false");
        let customer = first.customer.as_ref().unwrap();
        assert_eq!(
            (customer["email"].as_str(), customer["company_name"].as_str()),
            (Some("ana@example.com"), Some("Horvat d.o.o."))
        );
        let fourth = mapped[3].as_ref().unwrap();
        assert_eq!(fourth.license["note"], "multi-line\nnote");
        assert_eq!(fourth.customer, None, "no customer column filled");
        assert_eq!(fourth.store_id, None);
    }

    #[test]
    fn headers_are_checked() {
        assert!(read_header(b"").is_err());
        assert!(read_header(b"  \r\n").is_err());
        assert!(read_header(b"\xEF\xBB\xBFlicense__license_key,product__short_code\r\nK,p\r\n").is_ok());
        for bad in [
            "license__license_key\n",
            "product__short_code,customer__email\n",
            "license__license_key,product__short_code,license__colour\n",
            "license__license_key,product__short_code,license__license_key\n",
        ] {
            let err = read_header(bad.as_bytes()).unwrap_err();
            assert_eq!(err.status(), 400, "{bad}");
            assert!(err.body().get("file").is_some());
        }
        assert!(read_header(b"license__license_key,product__short_code,\xff\n").is_err());
    }

    #[test]
    fn the_delimiter_is_detected_from_the_header() {
        for (text, delimiter) in [
            ("license__license_key;product__short_code\r\nK-3;app\r\n", b';'),
            ("license__license_key\tproduct__short_code\tcustomer__email\nK-3\tapp\tx@example.com\n", b'\t'),
            ("license__license_key,product__short_code\nK-3,app\n", b','),
        ] {
            let header = read_header(text.as_bytes()).unwrap();
            assert_eq!(header.delimiter, delimiter, "{text}");
            let rows =
                split_rows(&text.as_bytes()[header.data_start as usize..], header.data_start, 1, true, delimiter);
            let cells = row_text(&header.columns, &rows[0].record).unwrap();
            assert_eq!(&cells[0], "K-3");
            assert_eq!(&cells[1], "app");
        }
        let err = read_header(b"license__license_key|product__short_code\n").unwrap_err();
        let message = err.body()["file"][0].as_str().unwrap().to_string();
        assert!(message.contains("comma, semicolon, tab"), "{message}");
        // A known delimiter but a missing header still says which.
        let err = read_header(b"license__license_key;customer__email\n").unwrap_err();
        assert!(err.body()["file"][0].as_str().unwrap().contains("product__short_code"));
    }

    #[test]
    fn utf16_files_become_utf8_and_other_encodings_name_their_line() {
        let text = "license__license_key\tproduct__short_code\r\nK-é\tapp\r\n";
        let mut le = vec![0xFF, 0xFE];
        le.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        let mut be = vec![0xFE, 0xFF];
        be.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
        for file in [le, be] {
            assert_eq!(file_as_utf8(&file).unwrap().as_ref(), text.as_bytes());
        }
        let latin1 = b"license__license_key,product__short_code\r\nK-1,app\r\nK-\xe9,app\r\n";
        let err = file_as_utf8(latin1).unwrap_err();
        assert_eq!(err.body()["file"][0], not_text(3));
        assert_eq!(first_bad_line(b"a\nb\n\xff", 10), Some(12));
        assert_eq!(first_bad_line(b"fine\n", 1), None);
    }

    #[test]
    fn rows_need_a_key_and_a_product() {
        let (_, mapped) =
            rows("license__license_key,product__short_code,license__enabled\r\n,app,yes\r\nK-1,,\r\nK-2,app,0\r\n");
        let errors = mapped[0].as_ref().unwrap_err();
        assert_eq!(errors.keys().collect::<Vec<_>>(), ["license__enabled", "license__license_key"]);
        assert_eq!(mapped[1].as_ref().unwrap_err().keys().collect::<Vec<_>>(), ["product__short_code"]);
        assert_eq!(mapped[2].as_ref().unwrap().enabled, Some(false));
    }

    #[test]
    fn order_errors_map_back_to_columns() {
        for (path, column) in [
            ("items.0.licenses.0.max_activations", "license__max_activations"),
            ("items.0.licenses.0.key", "license__license_key"),
            ("items.0.licenses.0.product_features.1", "license__product_features"),
            ("items.0.product_code", "product__short_code"),
            ("items", "product__short_code"),
            ("customer.email", "customer__email"),
            ("id", "order__store_id"),
            ("order_type", "order__type"),
            ("is_test", "order__is_test"),
        ] {
            assert_eq!(column_of(path), column, "{path}");
        }
    }
}
