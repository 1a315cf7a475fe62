//! The alert of one result row: the seed's projection (KQL lines 44-45) with readable
//! names, the entities, the evidence and the threat enrichment.

use std::net::IpAddr;

use kvsentry_intel::Indicator;
use kvsentry_model::{Alert, Entity, EvidenceRef, ThreatEnrichment, TimeWindow};
use serde_json::{Map, Value};

use super::record::{
    C_APP, C_CLIENT, C_CORR, C_ENT_IP, C_ENT_RES, C_OBJ, C_OID, C_OP, C_RESOURCE, C_RESULT, C_SUB,
    C_UPN, Pair,
};
use super::rule::TiRule;
use crate::evidence::{Ev, EvidenceSource, origin_of};
use crate::time::timestamp;

fn opt_str(v: Option<&str>) -> Value {
    v.map_or(Value::Null, |s| Value::String(s.to_string()))
}

fn ts_json(t: i64) -> Value {
    Value::String(timestamp(t).to_string())
}

/// The alert of one result row (the seed's projection, line 44-45, with readable names).
pub(crate) fn alert(
    rule: &TiRule,
    ind: &Indicator,
    ip: IpAddr,
    p: Pair,
    source: Option<&EvidenceSource>,
    form: Option<&EvidenceSource>,
    window: Option<(i64, i64)>,
) -> Alert {
    let ip_text = ip.to_string();
    let e = &p.latest;
    let mut group = Map::new();
    group.insert("indicator_id".into(), Value::String(ind.id.clone()));
    group.insert(rule.field.name().into(), Value::String(ip_text.clone()));

    let mut f = Map::new();
    f.insert("event_time".into(), ts_json(e.time)); // KeyVaultEvents_TimeGenerated
    f.insert("description".into(), opt_str(ind.description.as_deref()));
    f.insert(
        "activity_groups".into(),
        Value::Array(
            ind.activity_groups
                .iter()
                .map(|g| Value::String(g.clone()))
                .collect(),
        ),
    );
    f.insert("indicator_id".into(), Value::String(ind.id.clone()));
    f.insert("threat_type".into(), opt_str(ind.threat_type.as_deref()));
    f.insert("url".into(), opt_str(ind.url.as_deref()));
    f.insert(
        "expiration".into(),
        ind.expiration
            .map_or(Value::Null, |t| Value::String(t.to_string())),
    );
    f.insert(
        "confidence".into(),
        ind.confidence.map_or(Value::Null, Value::from),
    );
    f.insert("indicator_ip".into(), Value::String(ind.value_text.clone())); // TI_ipEntity
    if let Some(col) = ind.sentinel.as_ref().and_then(|s| s.ip_column) {
        f.insert(
            "indicator_ip_column".into(),
            Value::String(col.as_str().into()),
        );
    }
    f.insert("client_ip".into(), Value::String(ip_text.clone())); // ClientIP
    f.insert("resource_id".into(), e.json(C_RESOURCE));
    f.insert("subscription_id".into(), e.json(C_SUB));
    f.insert("operation".into(), e.json(C_OP));
    f.insert("result_type".into(), e.json(C_RESULT));
    f.insert("correlation_id".into(), e.json(C_CORR));
    f.insert("object_id".into(), e.json(C_OBJ)); // id_s
    f.insert("client_info".into(), e.json(C_CLIENT)); // clientInfo_s
    f.insert(
        "http_status".into(),
        e.http_status.map_or(Value::Null, Value::from),
    ); // httpStatusCode_d
    f.insert("app_id".into(), e.json(C_APP)); // identity_claim_appid_g
    f.insert("caller_object_id".into(), e.json(C_OID)); // ..._objectidentifier_g
    // Sentinel's `Type` is the table the row came from; ours is the form the event was read
    // in (`storage`, `eventhub`, `azure-diagnostics`, `azkv`, `ecs`, ...).
    let form = form.and_then(|f| f(&e.origin));
    f.insert("type".into(), form.map_or(Value::Null, Value::String));
    f.insert("event_count".into(), Value::from(p.count));
    f.insert("first_event_time".into(), ts_json(p.first_time));

    let mut entities = Vec::new();
    if let Some(a) = e.col(C_ENT_IP) {
        entities.push(Entity::Ip {
            address: a.to_string(),
        });
    }
    if let Some(r) = e.col(C_ENT_RES) {
        entities.push(Entity::AzureResource {
            resource_id: r.to_string(),
        });
    }
    if rule.entities.account {
        let (upn, oid, app) = (e.col(C_UPN), e.col(C_OID), e.col(C_APP));
        if upn.is_some() || oid.is_some() || app.is_some() {
            entities.push(Entity::Account {
                upn: upn.map(str::to_string),
                object_id: oid.map(str::to_string),
                app_id: app.map(str::to_string),
            });
        }
    }

    // The first events, then the kept (latest) one when it is not among them.
    let mut ev: Vec<Ev<String>> = p.evidence.into_vec();
    ev.sort();
    let kept = e.evidence();
    if !ev.iter().any(|x| x.key == kept.key) {
        ev.push(kept);
    }
    let evidence = ev
        .into_iter()
        .map(|x| EvidenceRef {
            time: timestamp(x.key.0),
            operation: x.operation.unwrap_or_default(),
            correlation_id: x.correlation_id,
            source: source.and_then(|s| s(&origin_of(&x.key))),
        })
        .collect();

    let family = if ind.network.addr().is_ipv4() {
        "ipv4-addr"
    } else {
        "ipv6-addr"
    };
    let indicator_type = if ind.is_single_address() {
        family.to_string()
    } else {
        format!("{family}-cidr")
    };
    Alert {
        // A scheduled run's alert is one of its period (several periods: several alerts).
        alert_id: match window {
            None => Alert::compute_id(&rule.id, &[ind.id.as_str(), ip_text.as_str()]),
            Some((start, _)) => Alert::compute_id(
                &rule.id,
                &[
                    &timestamp(start).to_string(),
                    ind.id.as_str(),
                    ip_text.as_str(),
                ],
            ),
        },
        rule: rule.alert_rule.clone(),
        time: timestamp(e.time),
        window: window.map(|(start, end)| TimeWindow {
            start: timestamp(start),
            end: timestamp(end),
        }),
        group,
        fields: f,
        entities,
        evidence,
        threat: Some(ThreatEnrichment {
            matched_atomic: ip_text,
            matched_field: rule.field.name().into(),
            matched_type: "indicator_match_rule".into(),
            indicator_id: ind.id.clone(),
            indicator_type,
            indicator_value: ind.value_text.clone(),
            feed: Some(ind.source.clone()),
        }),
    }
}
