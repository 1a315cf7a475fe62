//! Log Analytics table rows: `AzureDiagnostics` (the legacy shared table) and `AZKVAuditLogs`
//! (the resource-specific table), as JSON array, JSON lines or CSV with a header.

use crate::event::{EventRef, RecordKind};
use crate::fmt::{push_csv, push_guid, push_json_body, push_time, push_u64};
use crate::render::{
    ClaimVal, RESULT_TYPE, client_info, for_each_claim, operation_version, push_description,
    push_identity_json, push_object_id, push_request_uri, result_signature, tls_version,
};

/// `AzureDiagnostics` columns for Key Vault, in export order.
pub const DIAG_COLUMNS: &[&str] = &[
    "TenantId",
    "TimeGenerated",
    "ResourceId",
    "Category",
    "ResourceGroup",
    "SubscriptionId",
    "ResourceProvider",
    "Resource",
    "ResourceType",
    "OperationName",
    "OperationVersion",
    "ResultType",
    "ResultSignature",
    "ResultDescription",
    "DurationMs",
    "CallerIPAddress",
    "CorrelationId",
    "identity_claim_oid_g",
    "identity_claim_appid_g",
    "identity_claim_appidacr_s",
    "identity_claim_scp_s",
    "identity_claim_upn_s",
    "identity_claim_unique_name_s",
    "identity_claim_ipaddr_s",
    "identity_claim_amr_s",
    "identity_claim_idtyp_s",
    "identity_claim_xms_mirid_s",
    "identity_claim_xms_az_nwperimid_s",
    "identity_claim_iss_s",
    "identity_claim_http_schemas_microsoft_com_identity_claims_objectidentifier_g",
    "identity_claim_http_schemas_xmlsoap_org_ws_2005_05_identity_claims_upn_s",
    "identity_claim_http_schemas_xmlsoap_org_ws_2005_05_identity_claims_name_s",
    "id_s",
    "clientInfo_s",
    "httpStatusCode_d",
    "requestUri_s",
    "isAccessPolicyMatch_b",
    "isRbacAuthorized_b",
    "tlsVersion_s",
    "properties_sku_Family_s",
    "properties_sku_Name_s",
    "properties_tenantId_g",
    "properties_enabledForDeployment_b",
    "properties_enabledForDiskEncryption_b",
    "properties_enabledForTemplateDeployment_b",
    "properties_enableSoftDelete_b",
    "properties_softDeleteRetentionInDays_d",
    "properties_enableRbacAuthorization_b",
    "properties_enablePurgeProtection_b",
    "SourceSystem",
    "Type",
];

/// `AZKVAuditLogs` columns, in export order.
pub const AZKV_COLUMNS: &[&str] = &[
    "TenantId",
    "TimeGenerated",
    "OperationName",
    "OperationVersion",
    "ResultType",
    "ResultSignature",
    "ResultDescription",
    "DurationMs",
    "CallerIpAddress",
    "CorrelationId",
    "Identity",
    "HttpStatusCode",
    "Id",
    "ClientInfo",
    "RequestUri",
    "Tlsversion",
    "IsRbacAuthorized",
    "SourceSystem",
    "_ResourceId",
    "_SubscriptionId",
    "Type",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cell {
    Empty,
    /// Text: quoted in JSON.
    Str(u32, u32),
    /// Numbers, booleans, JSON objects: verbatim in JSON.
    Raw(u32, u32),
}

/// One row being built: values in a scratch buffer, cells pointing into it.
#[derive(Debug, Default)]
pub struct Row {
    vals: Vec<u8>,
    cells: Vec<Cell>,
}

impl Row {
    fn reset(&mut self, n: usize) {
        self.vals.clear();
        self.cells.clear();
        self.cells.resize(n, Cell::Empty);
    }

    fn put(&mut self, col: usize, raw: bool, f: impl FnOnce(&mut Vec<u8>)) {
        let a = self.vals.len() as u32;
        f(&mut self.vals);
        let b = self.vals.len() as u32;
        if let Some(c) = self.cells.get_mut(col) {
            *c = if raw {
                Cell::Raw(a, b)
            } else {
                Cell::Str(a, b)
            };
        }
    }

    fn str(&mut self, col: usize, s: &str) {
        self.put(col, false, |b| b.extend_from_slice(s.as_bytes()));
    }

    fn raw(&mut self, col: usize, s: &str) {
        self.put(col, true, |b| b.extend_from_slice(s.as_bytes()));
    }

    fn text(&self, a: u32, b: u32) -> &str {
        std::str::from_utf8(&self.vals[a as usize..b as usize]).unwrap_or("")
    }

    /// `{"Col":value,...}` with empty cells left out.
    pub fn push_json(&self, buf: &mut Vec<u8>, columns: &[&str]) {
        buf.push(b'{');
        let mut first = true;
        for (name, cell) in columns.iter().zip(&self.cells) {
            let (a, b, raw) = match *cell {
                Cell::Empty => continue,
                Cell::Str(a, b) => (a, b, false),
                Cell::Raw(a, b) => (a, b, true),
            };
            if !first {
                buf.push(b',');
            }
            first = false;
            buf.push(b'"');
            buf.extend_from_slice(name.as_bytes());
            buf.extend_from_slice(b"\":");
            if raw {
                buf.extend_from_slice(&self.vals[a as usize..b as usize]);
            } else {
                buf.push(b'"');
                push_json_body(buf, self.text(a, b));
                buf.push(b'"');
            }
        }
        buf.push(b'}');
    }

    /// All cells, comma-separated, CRLF-free (a quoted value may span lines), then `\n`.
    pub fn push_csv(&self, buf: &mut Vec<u8>) {
        for (i, cell) in self.cells.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            match *cell {
                Cell::Empty => {}
                Cell::Str(a, b) | Cell::Raw(a, b) => push_csv(buf, self.text(a, b)),
            }
        }
        buf.push(b'\n');
    }
}

pub fn push_csv_header(buf: &mut Vec<u8>, columns: &[&str]) {
    for (i, c) in columns.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(c.as_bytes());
    }
    buf.push(b'\n');
}

fn col(columns: &[&str], name: &str) -> usize {
    columns
        .iter()
        .position(|c| *c == name)
        .unwrap_or(usize::MAX)
}

/// Fills `row` with the `AzureDiagnostics` row of an event.
/// The operation, outcome, duration, caller and correlation cells, which both Log Analytics
/// tables carry under the same names (but for the caller column's case).
fn outcome_cells(row: &mut Row, ev: &EventRef, columns: &[&str], caller_column: &str) {
    let c = |n: &str| col(columns, n);
    row.str(c("OperationName"), ev.operation());
    row.str(c("OperationVersion"), operation_version(ev));
    row.str(c("ResultType"), RESULT_TYPE);
    row.str(c("ResultSignature"), result_signature(ev.ev.status));
    let a = row.vals.len() as u32;
    if push_description(&mut row.vals, ev) {
        let b = row.vals.len() as u32;
        row.cells[c("ResultDescription")] = Cell::Str(a, b);
    }
    row.put(c("DurationMs"), true, |b| {
        push_u64(b, u64::from(ev.ev.duration))
    });
    row.str(c(caller_column), &ev.ip_info().text);
    row.put(c("CorrelationId"), false, |b| {
        push_guid(b, ev.ev.corr, false)
    });
}

pub fn diag_row(row: &mut Row, ev: &EventRef) {
    let c = |n: &str| col(DIAG_COLUMNS, n);
    row.reset(DIAG_COLUMNS.len());
    let v = ev.vault();
    row.str(c("TenantId"), &ev.world.tenant);
    row.put(c("TimeGenerated"), false, |b| push_time(b, ev.ev.ticks, 7));
    row.str(c("ResourceId"), &v.resource_id);
    row.str(c("Category"), ev.category());
    row.str(c("ResourceGroup"), &v.rg_upper);
    row.str(c("SubscriptionId"), &v.sub);
    row.str(c("ResourceProvider"), "MICROSOFT.KEYVAULT");
    row.str(c("Resource"), &v.name_upper);
    row.str(
        c("ResourceType"),
        if ev.ev.kind == RecordKind::ManagedHsm {
            "MANAGEDHSMS"
        } else {
            "VAULTS"
        },
    );
    outcome_cells(row, ev, DIAG_COLUMNS, "CallerIPAddress");
    for_each_claim(ev, |claim, val| {
        if let Some(name) = claim.diag_column() {
            match val {
                ClaimVal::Str(s) => row.str(c(name), s),
                ClaimVal::EmptyArray => row.str(c(name), "[]"),
            }
        }
    });
    let a = row.vals.len() as u32;
    if push_object_id(&mut row.vals, ev) {
        let b = row.vals.len() as u32;
        row.cells[c("id_s")] = Cell::Str(a, b);
    }
    row.str(c("clientInfo_s"), client_info(ev));
    row.put(c("httpStatusCode_d"), true, |b| {
        push_u64(b, u64::from(ev.ev.status))
    });
    row.put(c("requestUri_s"), false, |b| push_request_uri(b, ev));
    if ev.ev.status != 401 && ev.ev.kind == RecordKind::Vault {
        let ok = if ev.ev.status == 403 { "false" } else { "true" };
        row.raw(
            c(if v.rbac {
                "isRbacAuthorized_b"
            } else {
                "isAccessPolicyMatch_b"
            }),
            ok,
        );
    }
    row.str(c("tlsVersion_s"), tls_version(ev));
    if ev.ev.op.is_management() && ev.ev.status == 200 {
        let tf = |x: bool| if x { "true" } else { "false" };
        row.str(c("properties_sku_Family_s"), "A");
        row.str(
            c("properties_sku_Name_s"),
            if v.premium { "premium" } else { "standard" },
        );
        row.str(c("properties_tenantId_g"), &ev.world.tenant);
        row.raw(c("properties_enabledForDeployment_b"), "false");
        row.raw(
            c("properties_enabledForDiskEncryption_b"),
            tf(v.disk_encryption),
        );
        row.raw(c("properties_enabledForTemplateDeployment_b"), "false");
        row.raw(c("properties_enableSoftDelete_b"), "true");
        row.put(c("properties_softDeleteRetentionInDays_d"), true, |b| {
            push_u64(b, u64::from(v.soft_delete_days))
        });
        row.raw(c("properties_enableRbacAuthorization_b"), tf(v.rbac));
        if v.purge_protection {
            row.raw(c("properties_enablePurgeProtection_b"), "true");
        }
    }
    row.str(c("SourceSystem"), "Azure");
    row.str(c("Type"), "AzureDiagnostics");
}

/// Fills `row` with the `AZKVAuditLogs` row of an event; false for records that table does
/// not hold (Managed HSM and other categories).
pub fn azkv_row(row: &mut Row, ev: &EventRef) -> bool {
    if ev.ev.kind != RecordKind::Vault {
        return false;
    }
    let c = |n: &str| col(AZKV_COLUMNS, n);
    row.reset(AZKV_COLUMNS.len());
    let v = ev.vault();
    row.str(c("TenantId"), &ev.world.tenant);
    row.put(c("TimeGenerated"), false, |b| push_time(b, ev.ev.ticks, 7));
    outcome_cells(row, ev, AZKV_COLUMNS, "CallerIpAddress");
    let a = row.vals.len() as u32;
    if push_identity_json(&mut row.vals, ev) {
        let b = row.vals.len() as u32;
        row.cells[c("Identity")] = Cell::Raw(a, b);
    }
    row.put(c("HttpStatusCode"), true, |b| {
        push_u64(b, u64::from(ev.ev.status))
    });
    let a = row.vals.len() as u32;
    if push_object_id(&mut row.vals, ev) {
        let b = row.vals.len() as u32;
        row.cells[c("Id")] = Cell::Str(a, b);
    }
    row.str(c("ClientInfo"), client_info(ev));
    row.put(c("RequestUri"), false, |b| push_request_uri(b, ev));
    row.str(c("Tlsversion"), tls_version(ev));
    if v.rbac && ev.ev.status != 401 {
        row.raw(
            c("IsRbacAuthorized"),
            if ev.ev.status == 403 { "false" } else { "true" },
        );
    }
    row.str(c("SourceSystem"), "Azure");
    row.str(c("_ResourceId"), &v.resource_id_lower);
    row.str(c("_SubscriptionId"), &v.sub);
    row.str(c("Type"), "AZKVAuditLogs");
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_render_as_json_and_csv() {
        let mut row = Row::default();
        row.reset(4);
        row.str(0, "a,b");
        row.raw(1, "12");
        row.str(3, "line1\r\nsaid \"hi\"");
        let mut j = Vec::new();
        row.push_json(&mut j, &["A", "B", "C", "D"]);
        assert_eq!(
            String::from_utf8(j).unwrap(),
            r#"{"A":"a,b","B":12,"D":"line1\r\nsaid \"hi\""}"#
        );
        let mut c = Vec::new();
        row.push_csv(&mut c);
        assert_eq!(
            String::from_utf8(c).unwrap(),
            "\"a,b\",12,,\"line1\r\nsaid \"\"hi\"\"\"\n"
        );
    }

    #[test]
    fn every_claim_column_exists() {
        use crate::render::Claim::*;
        for c in [
            Oid,
            AppId,
            AppIdAcr,
            Scp,
            Upn,
            IpAddr,
            UniqueName,
            Amr,
            IdTyp,
            XmsMirid,
            XmsAzNwperimid,
            Iss,
            LongObjectId,
            LongUpn,
            LongName,
        ] {
            let name = c.diag_column().unwrap();
            assert!(DIAG_COLUMNS.contains(&name), "{name}");
        }
    }
}
