//! From the leaves of one record to an [`AuditEvent`]: the field mapping of each family of
//! forms, and the checks (time, category, resource type) that decide whether it is an event.
//!
//! Two mappings cover the six forms:
//! - [`map_azure`]: Azure Monitor resource-log records (Storage, Event Hubs, Managed HSM arrays)
//!   and the Log Analytics tables (`AzureDiagnostics`, `AZKVAuditLogs`). Their column names do
//!   not collide (`properties.httpStatusCode` / `httpStatusCode_d` / `HttpStatusCode`), so one
//!   mapping reads them all and a record misdetected between them still reads right.
//! - [`map_ecs`]: Elastic `azure.platformlogs` documents; what lies under
//!   `azure.platformlogs.` is handed to [`map_azure`].

use std::borrow::Cow;

use kvsentry_model::{AuditEvent, CallerIp, Identity, Origin, Str, Vault};

use crate::ReadOptions;
use crate::claims_impl::{
    ClaimTarget, apply_claim, apply_target, apply_target_json, apply_target_str, claim_target,
};
use crate::stats::SkipReason;
use crate::time::TimeMemo;
use kvsentry_json::{Key, KeyMap, Leaf, Role, walk_text};

/// The record turned out to be a container of records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nested {
    /// `{"records":[...]}`.
    Records,
    /// `{"hits":{"hits":[...]}}`.
    Hits,
    /// `{"tables":[...]}`.
    Tables,
}

/// The event a [`Builder`] fills in place; its time, category and operation are
/// placeholders until [`Builder::finish`] sets them.
#[derive(Debug)]
struct Draft<'a>(AuditEvent<'a>);

impl Default for Draft<'_> {
    fn default() -> Self {
        Draft(AuditEvent::new(
            jiff::Timestamp::UNIX_EPOCH,
            Cow::Borrowed(""),
            Cow::Borrowed(""),
        ))
    }
}

impl<'a> std::ops::Deref for Draft<'a> {
    type Target = AuditEvent<'a>;
    fn deref(&self) -> &AuditEvent<'a> {
        &self.0
    }
}

impl<'a> std::ops::DerefMut for Draft<'a> {
    fn deref_mut(&mut self) -> &mut AuditEvent<'a> {
        &mut self.0
    }
}

/// The raw values of one record, as the mapping found them.
#[derive(Debug, Default)]
pub(crate) struct Builder<'a> {
    time: Option<Str<'a>>,
    category: Option<Str<'a>>,
    table_type: Option<Str<'a>>,
    dataset: Option<Str<'a>>,
    operation: Option<Str<'a>>,
    operation_fb: Option<Str<'a>>,
    result_type: Option<Str<'a>>,
    result_type_fb: Option<Str<'a>>,
    http_status: Option<Leaf<'a>>,
    duration: Option<Leaf<'a>>,
    duration_ns: Option<Leaf<'a>>,
    caller_ip: Option<Str<'a>>,
    upn_fb: Option<Str<'a>>,
    resource_id: Option<Str<'a>>,
    resource_id_fb: Option<Str<'a>>,
    subscription_id: Option<Str<'a>>,
    resource_group: Option<Str<'a>>,
    resource_name: Option<Str<'a>>,
    resource_type: Option<Str<'a>>,
    provider: Option<Str<'a>>,
    location: Option<Str<'a>>,
    client_info: Option<Str<'a>>,
    client_info_fb: Option<Str<'a>>,
    /// The event, built in place: the fields that go to it unchanged (first value kept,
    /// the identity's claims, geo) are set on it directly, the rest by [`Builder::finish`].
    /// Why: an `AuditEvent` is about a kilobyte, and building it apart then moving it (into
    /// the `Result`, out of it, its identity out of the builder) cost three copies a record.
    ev: Draft<'a>,
    /// Set when the value turned out to be a container rather than a record.
    pub(crate) nested: Option<Nested>,
    /// Set when the value is not a JSON object at all.
    pub(crate) not_object: bool,
    /// Set by [`Builder::finish`] when it refuses the record as a Managed HSM's.
    pub(crate) managed_hsm: bool,
}

/// Sets `slot` from a leaf unless it is already set; empty strings and null count as missing
/// (CSV cannot tell them apart, and one record must read the same in every form).
#[inline(always)]
fn set<'a>(slot: &mut Option<Str<'a>>, v: Leaf<'a>) {
    if slot.is_none() {
        // Strings, nearly every value, without the general conversion.
        let t = match v {
            Leaf::Str(s) => Some(s),
            v => v.into_text(),
        };
        if let Some(t) = t {
            if !t.is_empty() {
                *slot = Some(t);
            }
        }
    }
}

fn set_num<'a>(slot: &mut Option<Leaf<'a>>, v: Leaf<'a>) {
    if slot.is_none() && !matches!(v, Leaf::Null) {
        *slot = Some(v);
    }
}

/// The claim key of an `AzureDiagnostics` column (`identity_claim_<key>_<type>`), without its
/// type suffix, and whether that type is a string (`_s`).
fn strip_type_suffix(k: &str) -> (&str, bool) {
    let b = k.as_bytes();
    if b.len() > 2 && b[b.len() - 2] == b'_' {
        // The keyed walk hands the key in its own case.
        let t = b[b.len() - 1].to_ascii_lowercase();
        if matches!(t, b's' | b'g' | b'd' | b'b' | b't') {
            return (&k[..k.len() - 2], t == b's');
        }
    }
    (k, true)
}

/// Walks a JSON-encoded string (Managed HSM's and CSV's `identity`) under `prefix`.
fn walk_nested<'a>(
    b: &mut Builder<'a>,
    s: Cow<'a, str>,
    prefix: &str,
    map: fn(&mut Builder<'a>, &str, Leaf<'a>),
) {
    if !s.trim_start().starts_with('{') {
        return;
    }
    // A broken encoded identity leaves the identity empty; the record itself is still good.
    let _ = match s {
        Cow::Borrowed(text) => walk_text(text, prefix, &mut |p, l| map(b, p, l)),
        Cow::Owned(text) => walk_text(&text, prefix, &mut |p, l| map(b, p, l.into_owned())),
    };
}

/// The objects of an Azure record the mapping looks into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Az {
    /// The record itself.
    Top,
    /// `identity`.
    Identity,
    /// `identity.claim` / `identity.claims`: every key under it is a claim.
    Claim,
    /// `properties`.
    Properties,
    /// `hits` (a `_search` response).
    Hits,
}

/// The fields of [`Builder`] an Azure key maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AzField {
    Time,
    Category,
    TableType,
    Operation,
    OperationVersion,
    ResultType,
    ResultSignature,
    ResultDescription,
    Duration,
    CallerIp,
    CorrelationId,
    ResourceId,
    ResourceIdFb,
    SubscriptionId,
    ResourceGroup,
    Resource,
    ResourceType,
    Provider,
    Location,
    /// `identity` as a JSON-encoded string (Managed HSM, CSV).
    IdentityText,
    /// `identity_claim`: AzureDiagnostics' bare column, sometimes holding the UPN.
    UpnFb,
    /// `identity_claim_<key>_<type>`: an AzureDiagnostics claim column.
    ClaimColumn,
    ClientInfo,
    RequestUri,
    ObjectId,
    HttpStatus,
    TlsVersion,
    Records,
    Tables,
    HitsHits,
    /// A claim, its key's target decided (see [`claim_target`]).
    Claim(ClaimTarget),
}

/// A lower-case ASCII name of at most 24 bytes, as three little-endian words, to compare
/// with a key's first 24 bytes ([`key_words`]) in a few word operations instead of byte by
/// byte: keys are compared with names for every member of every record.
struct Name {
    /// The name's length in bytes.
    len: usize,
    val: [u64; 3],
    /// `0x20` at the name's letters: a key's byte there may be either case.
    fold: [u64; 3],
    /// `0xff` at the name's bytes: what lies past it is not compared (see [`is_prefix`]).
    care: [u64; 3],
}

const fn name(s: &[u8]) -> Name {
    let mut n = Name {
        len: s.len(),
        val: [0; 3],
        fold: [0; 3],
        care: [0; 3],
    };
    let mut i = 0;
    while i < s.len() && i < 24 {
        let c = s[i];
        let shift = (i % 8) * 8;
        n.val[i / 8] |= (c as u64) << shift;
        n.care[i / 8] |= 0xff << shift;
        if c.is_ascii_lowercase() {
            n.fold[i / 8] |= 0x20 << shift;
        }
        i += 1;
    }
    n
}

const N__SUBSCRIPTIONID: Name = name(b"_subscriptionid");
const N_CALLERIPADDRESS: Name = name(b"calleripaddress");
const N_CATEGORY: Name = name(b"category");
const N_CLAIM: Name = name(b"claim");
const N_CLAIMS: Name = name(b"claims");
const N_CLIENTINFO: Name = name(b"clientinfo");
const N_CLIENTINFO_S: Name = name(b"clientinfo_s");
const N_CORRELATIONID: Name = name(b"correlationid");
const N_DURATIONMS: Name = name(b"durationms");
const N_HITS: Name = name(b"hits");
const N_HTTPSTATUSCODE: Name = name(b"httpstatuscode");
const N_HTTPSTATUSCODE_D: Name = name(b"httpstatuscode_d");
const N_ID_S: Name = name(b"id_s");
const N_IDENTITY: Name = name(b"identity");
const N_IDENTITY_CLAIM: Name = name(b"identity_claim");
const N_LOCATION: Name = name(b"location");
const N_OPERATIONNAME: Name = name(b"operationname");
const N_OPERATIONVERSION: Name = name(b"operationversion");
const N_PROPERTIES: Name = name(b"properties");
const N_REQUESTURI: Name = name(b"requesturi");
const N_REQUESTURI_S: Name = name(b"requesturi_s");
const N_RESOURCE: Name = name(b"resource");
const N_RESOURCEGROUP: Name = name(b"resourcegroup");
const N_RESOURCEID: Name = name(b"resourceid");
const N_RESOURCEPROVIDER: Name = name(b"resourceprovider");
const N_RESOURCETYPE: Name = name(b"resourcetype");
const N_RESULTSIGNATURE: Name = name(b"resultsignature");
const N_RESULTTYPE: Name = name(b"resulttype");
const N_SUBSCRIPTIONID: Name = name(b"subscriptionid");
const N_TIME: Name = name(b"time");
const N_TIMEGENERATED: Name = name(b"timegenerated");
const N_TLSVERSION: Name = name(b"tlsversion");
const N_TLSVERSION_S: Name = name(b"tlsversion_s");
const N_TYPE: Name = name(b"type");
const N_ID: Name = name(b"id");
const N_RECORDS: Name = name(b"records");
const N_TABLES: Name = name(b"tables");
const N_RESULTDESCRIPTION: Name = name(b"resultdescription");
const N__RESOURCEID: Name = name(b"_resourceid");
const N_IDENTITY_CLAIM_PREFIX: Name = name(b"identity_claim_");

const N_AUDITEVENT: Name = name(b"auditevent");
const N_MICROSOFT_KEYVAULT: Name = name(b"microsoft.keyvault");
const N_SUBSCRIPTIONS: Name = name(b"subscriptions");
const N_RESOURCEGROUPS: Name = name(b"resourcegroups");
const N_PROVIDERS: Name = name(b"providers");

/// `text` is `n` (its lower-case name of `len` bytes) in any case: `eq_ignore_ascii_case`
/// a word at a time, for the names `finish` checks in every record.
#[inline]
fn is_name(text: &str, n: &Name) -> bool {
    text.len() == n.len && is_prefix(&kvsentry_json::key_words(text.as_bytes()), n)
}

/// The key's first bytes are `n` in any case. With a key as long as `n` (the callers
/// dispatch on length first), the key is `n`: the words past both ends are zero. Exact for
/// every byte: `c | 0x20` is a lower-case letter only for that letter and its upper case.
#[inline]
fn is_prefix(k: &[u64; 3], n: &Name) -> bool {
    let d = |i: usize| ((k[i] | n.fold[i]) & n.care[i]) ^ n.val[i];
    (d(0) | d(1) | d(2)) == 0
}

/// The Azure mapping, key by key: what `key` (any case) means at `level`. The one table of
/// the Azure forms' field names; [`map_azure`] (paths) and the keyed walk (keys) both read
/// it. Keys are told apart by length first, so a key is compared with one or two names.
pub(crate) fn azure_role(level: Az, key: &Key<'_>) -> Role<Az, AzField> {
    use AzField as F;
    let k = key.text.as_bytes();
    if level == Az::Claim {
        return Role::Claim(F::Claim(claim_target(key.text)));
    }
    let w = key.words();
    let field = |f: F, lit: &Name| {
        if is_prefix(&w, lit) {
            Role::Field(f)
        } else {
            Role::Ignore
        }
    };
    let r = match level {
        Az::Claim => return Role::Claim(F::Claim(claim_target(key.text))),
        Az::Identity => {
            if (k.len() == 5 && is_prefix(&w, &N_CLAIM))
                || (k.len() == 6 && is_prefix(&w, &N_CLAIMS))
            {
                Role::Enter(Az::Claim)
            } else {
                Role::Ignore
            }
        }
        Az::Properties => match k.len() {
            2 => field(F::ObjectId, &N_ID),
            10 => {
                if is_prefix(&w, &N_CLIENTINFO) {
                    Role::Field(F::ClientInfo)
                } else if is_prefix(&w, &N_REQUESTURI) {
                    Role::Field(F::RequestUri)
                } else if is_prefix(&w, &N_TLSVERSION) {
                    Role::Field(F::TlsVersion)
                } else {
                    Role::Ignore
                }
            }
            14 => field(F::HttpStatus, &N_HTTPSTATUSCODE),
            _ => Role::Ignore,
        },
        Az::Hits if k.len() == 4 => field(F::HitsHits, &N_HITS),
        Az::Hits => Role::Ignore,
        Az::Top => {
            if k.len() >= 15 && is_prefix(&w, &N_IDENTITY_CLAIM_PREFIX) {
                return Role::FieldFlat(F::ClaimColumn);
            }
            match k.len() {
                2 => field(F::ObjectId, &N_ID),
                4 => {
                    if is_prefix(&w, &N_TIME) {
                        Role::Field(F::Time)
                    } else if is_prefix(&w, &N_TYPE) {
                        Role::Field(F::TableType)
                    } else if is_prefix(&w, &N_ID_S) {
                        Role::Field(F::ObjectId)
                    } else if is_prefix(&w, &N_HITS) {
                        Role::Enter(Az::Hits)
                    } else {
                        Role::Ignore
                    }
                }
                6 => field(F::Tables, &N_TABLES),
                7 => field(F::Records, &N_RECORDS),
                8 => {
                    if is_prefix(&w, &N_CATEGORY) {
                        Role::Field(F::Category)
                    } else if is_prefix(&w, &N_RESOURCE) {
                        Role::Field(F::Resource)
                    } else if is_prefix(&w, &N_LOCATION) {
                        Role::Field(F::Location)
                    } else if is_prefix(&w, &N_IDENTITY) {
                        Role::Both(F::IdentityText, Az::Identity)
                    } else {
                        Role::Ignore
                    }
                }
                10 => {
                    if is_prefix(&w, &N_RESULTTYPE) {
                        Role::Field(F::ResultType)
                    } else if is_prefix(&w, &N_DURATIONMS) {
                        Role::Field(F::Duration)
                    } else if is_prefix(&w, &N_RESOURCEID) {
                        Role::Field(F::ResourceId)
                    } else if is_prefix(&w, &N_PROPERTIES) {
                        Role::Enter(Az::Properties)
                    } else if is_prefix(&w, &N_CLIENTINFO) {
                        Role::Field(F::ClientInfo)
                    } else if is_prefix(&w, &N_REQUESTURI) {
                        Role::Field(F::RequestUri)
                    } else if is_prefix(&w, &N_TLSVERSION) {
                        Role::Field(F::TlsVersion)
                    } else {
                        Role::Ignore
                    }
                }
                11 => field(F::ResourceIdFb, &N__RESOURCEID),
                12 => {
                    if is_prefix(&w, &N_CLIENTINFO_S) {
                        Role::Field(F::ClientInfo)
                    } else if is_prefix(&w, &N_REQUESTURI_S) {
                        Role::Field(F::RequestUri)
                    } else if is_prefix(&w, &N_TLSVERSION_S) {
                        Role::Field(F::TlsVersion)
                    } else if is_prefix(&w, &N_RESOURCETYPE) {
                        Role::Field(F::ResourceType)
                    } else {
                        Role::Ignore
                    }
                }
                13 => {
                    if is_prefix(&w, &N_OPERATIONNAME) {
                        Role::Field(F::Operation)
                    } else if is_prefix(&w, &N_CORRELATIONID) {
                        Role::Field(F::CorrelationId)
                    } else if is_prefix(&w, &N_RESOURCEGROUP) {
                        Role::Field(F::ResourceGroup)
                    } else if is_prefix(&w, &N_TIMEGENERATED) {
                        Role::Field(F::Time)
                    } else {
                        Role::Ignore
                    }
                }
                14 => {
                    if is_prefix(&w, &N_SUBSCRIPTIONID) {
                        Role::Field(F::SubscriptionId)
                    } else if is_prefix(&w, &N_IDENTITY_CLAIM) {
                        Role::Field(F::UpnFb)
                    } else if is_prefix(&w, &N_HTTPSTATUSCODE) {
                        Role::Field(F::HttpStatus)
                    } else {
                        Role::Ignore
                    }
                }
                15 => {
                    if is_prefix(&w, &N_CALLERIPADDRESS) {
                        Role::Field(F::CallerIp)
                    } else if is_prefix(&w, &N_RESULTSIGNATURE) {
                        Role::Field(F::ResultSignature)
                    } else if is_prefix(&w, &N__SUBSCRIPTIONID) {
                        Role::Field(F::SubscriptionId)
                    } else {
                        Role::Ignore
                    }
                }
                16 => {
                    if is_prefix(&w, &N_OPERATIONVERSION) {
                        Role::Field(F::OperationVersion)
                    } else if is_prefix(&w, &N_RESOURCEPROVIDER) {
                        Role::Field(F::Provider)
                    } else if is_prefix(&w, &N_HTTPSTATUSCODE_D) {
                        Role::Field(F::HttpStatus)
                    } else {
                        Role::Ignore
                    }
                }
                17 => field(F::ResultDescription, &N_RESULTDESCRIPTION),
                _ => Role::Ignore,
            }
        }
    };
    // The path spelling joins keys with `.` and drops leading empty keys, so at the top (and
    // under `identity`, where `claim.x` would be a claim) such a key may map to another
    // path than its own: only the path walk can tell.
    if r == Role::Ignore
        && matches!(level, Az::Top | Az::Identity)
        && ((k.is_empty() && level == Az::Top) || memchr::memchr(b'.', k).is_some())
    {
        return Role::Unsure;
    }
    r
}

impl<'a> Builder<'a> {
    /// The slot of a field [`azure_field`] fills with [`set`] (plain text, first value
    /// kept), `None` for the others.
    #[inline(always)]
    fn text_slot(&mut self, f: AzField) -> Option<&mut Option<Str<'a>>> {
        use AzField as F;
        Some(match f {
            F::Time => &mut self.time,
            F::Category => &mut self.category,
            F::TableType => &mut self.table_type,
            F::Operation => &mut self.operation,
            F::OperationVersion => &mut self.ev.operation_version,
            F::ResultType => &mut self.result_type,
            F::ResultSignature => &mut self.ev.result_signature,
            F::ResultDescription => &mut self.ev.result_description,
            F::CallerIp => &mut self.caller_ip,
            F::CorrelationId => &mut self.ev.correlation_id,
            F::ResourceId => &mut self.resource_id,
            F::ResourceIdFb => &mut self.resource_id_fb,
            F::SubscriptionId => &mut self.subscription_id,
            F::ResourceGroup => &mut self.resource_group,
            F::Resource => &mut self.resource_name,
            F::ResourceType => &mut self.resource_type,
            F::Provider => &mut self.provider,
            F::Location => &mut self.location,
            F::ClientInfo => &mut self.client_info,
            F::RequestUri => &mut self.ev.request_uri,
            F::ObjectId => &mut self.ev.object_id,
            F::TlsVersion => &mut self.ev.tls_version,
            _ => return None,
        })
    }
}

/// An empty `Identity::other` vector kept between records for its room (see
/// [`Builder::adopt_other`]): tokens carry a handful of claims without a field of their own,
/// and a vector allocated and freed per record was a tenth of the reader's allocator time.
pub(crate) type SpareOther = Vec<(Str<'static>, Str<'static>)>;

/// `v` emptied, as a vector of another lifetime with the same room. Safe code: an empty
/// vector holds no borrow, and collecting a vector's own `into_iter` into a vector of an
/// element of the same layout reuses its allocation (std's in-place collection; pinned by
/// `other_room_is_recycled`, which fails if a std release stops doing it).
// `filter_map`, not the `filter` clippy suggests: the element type changes (its lifetime).
#[allow(clippy::unnecessary_filter_map)]
fn relabel<'x, 'y>(mut v: Vec<(Str<'x>, Str<'x>)>) -> Vec<(Str<'y>, Str<'y>)> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}

impl<'a> Builder<'a> {
    /// Gives the (clean) builder's identity the room of `spare` for its `other` claims
    /// (`spare` is left empty). A method on a builder made in place, not a constructor:
    /// returned by value, the builder (1.3 KB) was copied when not inlined.
    #[inline]
    pub(crate) fn adopt_other(&mut self, spare: &mut SpareOther) {
        self.ev.identity.other = relabel(std::mem::take(spare));
    }

    /// Starts the record again from a clean slate (another walk decides it), keeping the
    /// room of its `other` claims.
    pub(crate) fn restart(&mut self) {
        let mut other = std::mem::take(&mut self.ev.identity.other);
        other.clear();
        *self = Builder::default();
        self.ev.identity.other = other;
    }

    /// Hands the room of the builder's `other` claims back to `spare`, for the next record.
    /// The claims themselves are dropped: call it once the event is delivered.
    #[inline]
    pub(crate) fn recycle(&mut self, spare: &mut SpareOther) {
        *spare = relabel(std::mem::take(&mut self.ev.identity.other));
    }
}

/// A value for an Azure field.
pub(crate) fn azure_field<'a>(b: &mut Builder<'a>, f: AzField, key: &str, v: Leaf<'a>) {
    use AzField as F;
    match f {
        F::Time => set(&mut b.time, v),
        F::Category => set(&mut b.category, v),
        F::TableType => set(&mut b.table_type, v),
        F::Operation => set(&mut b.operation, v),
        F::OperationVersion => set(&mut b.ev.operation_version, v),
        F::ResultType => set(&mut b.result_type, v),
        F::ResultSignature => set(&mut b.ev.result_signature, v),
        F::ResultDescription => set(&mut b.ev.result_description, v),
        F::Duration => set_num(&mut b.duration, v),
        F::CallerIp => set(&mut b.caller_ip, v),
        F::CorrelationId => set(&mut b.ev.correlation_id, v),
        F::ResourceId => set(&mut b.resource_id, v),
        F::ResourceIdFb => set(&mut b.resource_id_fb, v),
        F::SubscriptionId => set(&mut b.subscription_id, v),
        F::ResourceGroup => set(&mut b.resource_group, v),
        F::Resource => set(&mut b.resource_name, v),
        F::ResourceType => set(&mut b.resource_type, v),
        F::Provider => set(&mut b.provider, v),
        F::Location => set(&mut b.location, v),
        F::IdentityText => {
            if let Leaf::Str(s) = v {
                walk_nested(b, s, "identity", map_azure);
            }
        }
        F::UpnFb => {
            if let Some(t) = v.into_text() {
                if t.contains('@') {
                    b.upn_fb.get_or_insert(t);
                }
            }
        }
        F::ClaimColumn => {
            // `key` is `identity_claim_<k>`: ASCII up to there, a char boundary.
            let k = key.get(15..).unwrap_or("");
            let (k, is_string) = strip_type_suffix(k);
            if let Some(t) = v.into_text() {
                claim_column(&mut b.ev.identity, k, is_string, t);
            }
        }
        F::ClientInfo => set(&mut b.client_info, v),
        F::RequestUri => set(&mut b.ev.request_uri, v),
        F::ObjectId => set(&mut b.ev.object_id, v),
        F::HttpStatus => set_num(&mut b.http_status, v),
        F::TlsVersion => set(&mut b.ev.tls_version, v),
        F::Records => {
            if matches!(v, Leaf::Json(_)) {
                b.nested = Some(Nested::Records);
            }
        }
        F::Tables => {
            if matches!(v, Leaf::Json(_)) {
                b.nested = Some(Nested::Tables);
            }
        }
        F::HitsHits => {
            if matches!(v, Leaf::Json(_)) {
                b.nested = Some(Nested::Hits);
            }
        }
        F::Claim(target) => claim_leaf(&mut b.ev.identity, target, key, v),
    }
}

/// A claim from a leaf: strings and numbers as text, an array or an object as JSON text that
/// keeps its type (see `Identity::other_json`).
#[inline(always)]
fn claim_leaf<'a>(id: &mut Identity<'a>, target: ClaimTarget, key: &str, v: Leaf<'a>) {
    // One call of each: this is inlined into the walk's member loop.
    let t = match v {
        Leaf::Str(s) => s,
        Leaf::Json(j) => return apply_target_json(id, target, key, Cow::Owned(j)),
        v => match v.into_text() {
            Some(t) => t,
            None => return,
        },
    };
    apply_target(id, target, key, t);
}

/// The value of an `AzureDiagnostics` claim column (`k` without `identity_claim_` and type).
fn claim_column<'a>(id: &mut Identity<'a>, k: &str, is_string: bool, t: Str<'a>) {
    // az cli prints a null typed column as "None".
    if !is_string && t == "None" {
        return;
    }
    // The table flattens an array claim into its JSON text in a string column: typed again,
    // so the record reads as in the other forms.
    if is_string && t.starts_with('[') && t.ends_with(']') {
        apply_target_json(id, claim_target(k), k, t);
    } else {
        apply_claim(id, k, t);
    }
}

/// A value under `identity.claim` (`key` in any case: [`claim_target`] normalises it).
fn azure_claim<'a>(b: &mut Builder<'a>, key: &str, v: Leaf<'a>) {
    claim_leaf(&mut b.ev.identity, claim_target(key), key, v);
}

impl<'a> KeyMap<'a> for Builder<'a> {
    type Level = Az;
    type Field = AzField;
    const TOP: Az = Az::Top;

    #[inline]
    fn level_index(level: Az) -> usize {
        level as usize
    }

    #[inline]
    fn role(level: Az, key: &Key<'_>) -> Role<Az, AzField> {
        azure_role(level, key)
    }

    /// Only a claim column's key and a claim normalised when applied are read (see
    /// `inline_field_is_azure_field`, which pins this).
    #[inline(always)]
    fn reads_key(f: AzField) -> bool {
        matches!(f, AzField::ClaimColumn | AzField::Claim(ClaimTarget::Other))
    }

    /// The common fields (a plain text slot, a claim) are set here, inline in the walk;
    /// the rest go to [`azure_field`], which does exactly the same for these two.
    #[inline(always)]
    fn field(&mut self, f: AzField, key: &str, v: Leaf<'a>) {
        if let AzField::Claim(target) = f {
            claim_leaf(&mut self.ev.identity, target, key, v);
            return;
        }
        match self.text_slot(f) {
            Some(slot) => set(slot, v),
            None => azure_field(self, f, key, v),
        }
    }

    /// As [`KeyMap::field`] with `Leaf::Str(Cow::Borrowed(v))`, the string kept in
    /// registers on the common paths (pinned by `inline_field_is_azure_field`).
    #[inline(always)]
    fn field_str(&mut self, f: AzField, key: &str, v: &'a str) {
        if let AzField::Claim(target) = f {
            apply_target_str(&mut self.ev.identity, target, key, v);
            return;
        }
        match self.text_slot(f) {
            Some(slot) => {
                if slot.is_none() && !v.is_empty() {
                    *slot = Some(Cow::Borrowed(v));
                }
            }
            None => azure_field(self, f, key, Leaf::Str(Cow::Borrowed(v))),
        }
    }

    /// The numbers [`azure_field`] keeps as they are (`set_num`) are stored here, the rest
    /// go through [`KeyMap::field`] (pinned by `inline_field_is_azure_field`).
    #[inline(always)]
    fn field_u64(&mut self, f: AzField, key: &str, n: u64) {
        let slot = match f {
            AzField::HttpStatus => &mut self.http_status,
            AzField::Duration => &mut self.duration,
            _ => return self.field(f, key, Leaf::U64(n)),
        };
        if slot.is_none() {
            *slot = Some(Leaf::U64(n));
        }
    }

    #[inline]
    fn claim(&mut self, key: &str, v: Leaf<'a>) {
        azure_claim(self, key, v)
    }
}

/// Azure Monitor resource logs and the Log Analytics tables, by path (`path` is lower case;
/// see [`crate::walk`]): the path's segments are looked up level by level in
/// [`azure_role`], as the keyed walk looks up keys.
pub(crate) fn map_azure<'a>(b: &mut Builder<'a>, path: &str, v: Leaf<'a>) {
    if path.is_empty() {
        b.not_object = true;
        return;
    }
    let mut level = Az::Top;
    let mut rest = path;
    loop {
        let (seg, more) = match rest.split_once('.') {
            Some((s, m)) => (s, Some(m)),
            None => (rest, None),
        };
        match azure_role(level, &Key::new(seg)) {
            Role::Field(f) => {
                if more.is_none() {
                    azure_field(b, f, seg, v);
                }
                return;
            }
            // The claim column's key runs to the end of the path, dots and all.
            Role::FieldFlat(f) => return azure_field(b, f, rest, v),
            Role::Both(f, l) => match more {
                None => return azure_field(b, f, seg, v),
                Some(m) => (level, rest) = (l, m),
            },
            Role::Enter(l) => match more {
                None => return,
                Some(m) => (level, rest) = (l, m),
            },
            // The claim key runs to the end of the path, dots and all.
            Role::Claim(_) => return azure_claim(b, rest, v),
            Role::Ignore | Role::Unsure => return,
        }
    }
}

/// Elastic `azure.platformlogs` documents, nested or dotted; `path` is lower case.
pub(crate) fn map_ecs<'a>(b: &mut Builder<'a>, path: &str, v: Leaf<'a>) {
    // A hit exported whole (`elasticdump`, `_doc` API) carries the document in `_source`.
    let path = path.strip_prefix("_source.").unwrap_or(path);
    match path {
        "@timestamp" => set(&mut b.time, v),
        "event.action" => set(&mut b.operation_fb, v),
        "event.outcome" => set(&mut b.result_type_fb, v),
        "event.dataset" => set(&mut b.dataset, v),
        "event.duration" => set_num(&mut b.duration_ns, v),
        "source.ip" | "client.ip" => set(&mut b.caller_ip, v),
        "source.geo.city_name" | "client.geo.city_name" | "geo.city_name" => {
            set(&mut b.ev.geo.city, v)
        }
        "source.geo.region_name" | "client.geo.region_name" | "geo.region_name" => {
            set(&mut b.ev.geo.region, v)
        }
        "source.geo.country_name" | "client.geo.country_name" | "geo.country_name" => {
            set(&mut b.ev.geo.country, v)
        }
        "source.as.organization.name" | "client.as.organization.name" => {
            set(&mut b.ev.geo.as_org, v)
        }
        "cloud.region" => set(&mut b.ev.geo.cloud_region, v),
        "agent.name" => set(&mut b.ev.agent_name, v),
        "azure.resource.id" => set(&mut b.resource_id, v),
        "azure.resource.group" => set(&mut b.resource_group, v),
        "azure.resource.name" => set(&mut b.resource_name, v),
        "azure.resource.provider" => set(&mut b.provider, v),
        "azure.subscription_id" => set(&mut b.subscription_id, v),
        "azure.correlation_id" => set(&mut b.ev.correlation_id, v),
        "user_agent.original" => set(&mut b.client_info_fb, v),
        "hits.hits" => {
            if matches!(v, Leaf::Json(_)) {
                b.nested = Some(Nested::Hits);
            }
        }
        "" => b.not_object = true,
        _ => {
            if let Some(rest) = path.strip_prefix("azure.platformlogs.") {
                // Elastic spells the record's own keys in snake case (`operation_name`,
                // `result_type`, `caller_ip_address`): drop the `_` of the first segment.
                let first = rest.split('.').next().unwrap_or(rest);
                if first.contains('_') {
                    let mut k = first.replace('_', "");
                    k.push_str(&rest[first.len()..]);
                    map_azure(b, &k, v);
                } else {
                    map_azure(b, rest, v);
                }
            }
        }
    }
}

/// The namespace after `/providers/` in a resource id, if any.
fn provider_of(id: &str) -> Option<&str> {
    let mut parts = id.split('/').filter(|p| !p.is_empty());
    while let Some(seg) = parts.next() {
        if seg.eq_ignore_ascii_case("providers") {
            return parts.next();
        }
    }
    None
}

/// Segments of a resource id [`vault_of`] takes apart itself; longer ids take the slow way.
const MAX_SEGMENTS: usize = 16;

/// The positions of the `/` in a byte string, in order, found eight bytes at a time: a
/// resource id has eight or nine of them, a few bytes apart, where a `memchr` call per
/// segment cost more than its search (about 90 instructions each).
struct Slashes<'a> {
    b: &'a [u8],
    /// The start of the next word to read.
    next: usize,
    /// The start of the word `mask` was made from.
    word: usize,
    /// The high bit of each byte of that word that is a `/` and not yet given.
    mask: u64,
}

impl<'a> Slashes<'a> {
    fn new(b: &'a [u8]) -> Self {
        Slashes {
            b,
            next: 0,
            word: 0,
            mask: 0,
        }
    }
}

impl Iterator for Slashes<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        const LO7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
        loop {
            if self.mask != 0 {
                let at = self.word + (self.mask.trailing_zeros() / 8) as usize;
                self.mask &= self.mask - 1;
                return Some(at);
            }
            let rest = self.b.get(self.next..).filter(|r| !r.is_empty())?;
            let w = match rest.first_chunk::<8>() {
                Some(w) => *w,
                None => {
                    let mut w = [0u8; 8];
                    for (d, &c) in w.iter_mut().zip(rest) {
                        *d = c;
                    }
                    w
                }
            };
            // Zero bytes of `t` are the slashes (padding zeros are not `/`); exact per byte,
            // no carry between bytes: (t & 0x7f) + 0x7f has its high bit set unless t's
            // low seven bits are zero.
            let t = u64::from_le_bytes(w) ^ (u64::from(b'/') * 0x0101_0101_0101_0101);
            self.mask = !(((t & LO7) + LO7) | t | LO7);
            self.word = self.next;
            self.next += 8;
        }
    }
}

/// What `finish` remembers from record to record of a block (see [`TimeMemo`],
/// [`VaultMemo`]).
#[derive(Debug, Default)]
pub(crate) struct Memo {
    pub(crate) times: TimeMemo,
    pub(crate) vaults: VaultMemo,
}

/// Slots of [`VaultMemo`] (a power of two).
const VAULT_SLOTS: usize = 64;

/// Resource ids met before in the block and how [`vault_of`] split them, as byte ranges of
/// the id. A log names a few dozen vaults, each record splits its id: looked up here, an id
/// met before costs a hash and a compare instead of the split (exact: the split depends
/// only on the id's bytes, and the ranges are taken from the split itself).
#[derive(Debug, Default)]
pub(crate) struct VaultMemo {
    slots: Vec<Option<(Vec<u8>, Parts)>>,
    /// Answers given from the memo (tests check the memo is used, not only right).
    #[cfg(test)]
    hits: usize,
}

/// Where [`vault_of`]'s answer lies in the id: the name, subscription, resource group,
/// resource type and provider, as byte ranges (`None`: absent).
type Parts = [Option<(usize, usize)>; 5];

impl VaultMemo {
    /// Exactly [`vault_of`]`(id)`.
    pub(crate) fn vault_of<'a>(&mut self, id: &'a str) -> (Vault<'a>, Option<Str<'a>>) {
        let b = id.as_bytes();
        // The last eight bytes (vault names differ there) and the length, multiplied.
        let tail = b
            .len()
            .checked_sub(8)
            .and_then(|t| b.get(t..))
            .map_or(0, |t| {
                let mut w = [0u8; 8];
                w.copy_from_slice(t);
                u64::from_le_bytes(w)
            });
        let h = ((tail ^ b.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize;
        if let Some(Some((seen, spans))) = self.slots.get(h) {
            if seen.as_slice() == b {
                let part = |i: usize| {
                    spans
                        .get(i)
                        .copied()
                        .flatten()
                        .and_then(|(a, z)| id.get(a..z))
                        .map(Cow::Borrowed)
                };
                #[cfg(test)]
                {
                    self.hits += 1;
                }
                let v = Vault {
                    resource_id: Some(Cow::Borrowed(id)),
                    name: part(0),
                    subscription_id: part(1),
                    resource_group: part(2),
                    resource_type: part(3),
                    region: None,
                };
                return (v, part(4));
            }
        }
        let (v, provider) = vault_of(id);
        // The range of a part within `id` (every part is a slice of it).
        let span = |p: &Option<Str<'a>>| -> Result<Option<(usize, usize)>, ()> {
            match p {
                None => Ok(None),
                Some(Cow::Borrowed(s)) => {
                    let a = (s.as_ptr() as usize)
                        .checked_sub(id.as_ptr() as usize)
                        .ok_or(())?;
                    let z = a
                        .checked_add(s.len())
                        .filter(|&z| z <= id.len())
                        .ok_or(())?;
                    Ok(Some((a, z)))
                }
                Some(Cow::Owned(_)) => Err(()),
            }
        };
        let whole = matches!(&v.resource_id, Some(Cow::Borrowed(r)) if std::ptr::eq(*r, id));
        if let (true, None, Ok(n), Ok(s), Ok(g), Ok(t), Ok(p)) = (
            whole,
            &v.region,
            span(&v.name),
            span(&v.subscription_id),
            span(&v.resource_group),
            span(&v.resource_type),
            span(&provider),
        ) {
            if self.slots.len() < VAULT_SLOTS {
                self.slots.resize_with(VAULT_SLOTS, || None);
            }
            if let Some(slot) = self.slots.get_mut(h) {
                let mut seen = match slot.take() {
                    Some((mut buf, _)) => {
                        buf.clear();
                        buf
                    }
                    None => Vec::new(),
                };
                seen.extend_from_slice(b);
                *slot = Some((seen, [n, s, g, t, p]));
            }
        }
        (v, provider)
    }
}

/// [`Vault::from_resource_id`] and [`provider_of`] in one pass over the id (the two walked
/// it three times, a tenth of the cost of a record). Gives exactly what they give.
fn vault_of(id: &str) -> (Vault<'_>, Option<Str<'_>>) {
    let mut segs = [""; MAX_SEGMENTS];
    let mut n = 0usize;
    let mut start = 0usize;
    for end in Slashes::new(id.as_bytes()).chain(std::iter::once(id.len())) {
        // `start` and `end` are at a `/` or an end of the id: char boundaries.
        let seg = id.get(start..end).unwrap_or("");
        start = end + 1;
        if seg.is_empty() {
            continue;
        }
        match segs.get_mut(n) {
            Some(slot) => *slot = seg,
            None => {
                return (
                    Vault::from_resource_id(id),
                    provider_of(id).map(Cow::Borrowed),
                );
            }
        }
        n += 1;
    }
    let segs = &segs[..n];
    let mut v = Vault {
        resource_id: Some(Cow::Borrowed(id)),
        ..Vault::default()
    };
    let mut i = 0usize;
    while let Some(seg) = segs.get(i) {
        if is_name(seg, &N_SUBSCRIPTIONS) {
            v.subscription_id = segs.get(i + 1).map(|s| Cow::Borrowed(*s));
            i += 1;
        } else if is_name(seg, &N_RESOURCEGROUPS) {
            v.resource_group = segs.get(i + 1).map(|s| Cow::Borrowed(*s));
            i += 1;
        }
        i += 1;
    }
    v.name = segs.last().map(|s| Cow::Borrowed(*s));
    v.resource_type = n
        .checked_sub(2)
        .and_then(|k| segs.get(k))
        .map(|s| Cow::Borrowed(*s));
    let provider = segs
        .iter()
        .position(|s| is_name(s, &N_PROVIDERS))
        .and_then(|k| segs.get(k + 1))
        .map(|s| Cow::Borrowed(*s));
    (v, provider)
}

/// The resource type in a provider spelled `MICROSOFT.KEYVAULT/VAULTS` (its last segment),
/// borrowed when the provider is.
fn provider_type<'a>(p: &Str<'a>) -> Option<Str<'a>> {
    fn last(p: &str) -> Option<&str> {
        let (_, t) = p.split_once('/')?;
        Some(t.rsplit('/').next().unwrap_or(t))
    }
    match p {
        Cow::Borrowed(s) => last(s).map(Cow::Borrowed),
        Cow::Owned(s) => last(s).map(|t| Cow::Owned(t.to_string())),
    }
}

/// True for a Managed HSM's resource type in the spellings Azure uses: `MANAGEDHSMS` (resource
/// ids, `ResourceType` columns), `managedHSMs` and `Microsoft.KeyVault/managedHSMs` (the
/// `resourceType` of Microsoft's example record, providers), `HSM`.
pub(crate) fn is_managed_hsm(resource_type: &str) -> bool {
    let t = resource_type
        .rsplit('/')
        .next()
        .unwrap_or(resource_type)
        .trim();
    ["managedhsms", "managedhsm", "hsm", "hsms"]
        .iter()
        .any(|n| t.eq_ignore_ascii_case(n))
}

impl<'a> Builder<'a> {
    /// Completes the event built in place and lends it, or says why the record is not one.
    /// In place (`&mut`, a reference out): the event is large, and moving it costs more
    /// than the rest of this. Called once per builder.
    pub(crate) fn finish(
        &mut self,
        origin: Origin,
        opts: &ReadOptions,
        memo: &mut Memo,
    ) -> Result<&AuditEvent<'a>, (SkipReason, String)> {
        let b = self;
        let category_given = b.category.is_some();
        let category = b.category.take().unwrap_or(Cow::Borrowed("AuditEvent"));
        if !is_name(&category, &N_AUDITEVENT) {
            return Err((SkipReason::OtherCategory, format!("category {category}")));
        }
        if let Some(t) = &b.table_type {
            if !(t.eq_ignore_ascii_case("AzureDiagnostics")
                || t.eq_ignore_ascii_case("AZKVAuditLogs"))
            {
                return Err((SkipReason::OtherCategory, format!("table {t}")));
            }
        }
        if let (Some(ds), false) = (&b.dataset, category_given) {
            if !ds
                .as_bytes()
                .windows(12)
                .any(|w| w.eq_ignore_ascii_case(b"platformlogs"))
            {
                return Err((SkipReason::OtherCategory, format!("dataset {ds}")));
            }
        }

        let (mut vault, id_provider) = match b.resource_id.take().or(b.resource_id_fb.take()) {
            Some(Cow::Borrowed(id)) => memo.vaults.vault_of(id),
            Some(Cow::Owned(id)) => {
                let p = provider_of(&id).map(|p| Cow::Owned(p.to_string()));
                (Vault::from_resource_id_cow(Cow::Owned(id)), p)
            }
            None => (Vault::default(), None),
        };
        // Elastic's provider is `MICROSOFT.KEYVAULT/VAULTS`, the tables' `MICROSOFT.KEYVAULT`.
        // Nothing below refuses a record before this check, so the reasons come out as
        // before; borrowed instead of copied.
        let provider_ns = b
            .provider
            .as_deref()
            .map(|p| p.split_once('/').map_or(p, |(ns, _)| ns));
        if let Some(p) = id_provider.as_deref().or(provider_ns) {
            if !is_name(p, &N_MICROSOFT_KEYVAULT) {
                return Err((SkipReason::NotKeyVault, format!("provider {p}")));
            }
        }
        if vault.resource_type.is_none() {
            vault.resource_type = b
                .resource_type
                .take()
                .or_else(|| b.provider.as_ref().and_then(provider_type));
        }
        if vault.name.is_none() {
            vault.name = b.resource_name.take();
        }
        if vault.subscription_id.is_none() {
            vault.subscription_id = b.subscription_id.take();
        }
        if vault.resource_group.is_none() {
            vault.resource_group = b.resource_group.take();
        }
        vault.region = b.location.take();
        if !vault.is_key_vault() {
            let t = vault.resource_type.as_deref().unwrap_or("");
            let hsm = is_managed_hsm(t);
            if !(opts.include_managed_hsm && hsm) {
                b.managed_hsm = hsm;
                return Err((SkipReason::NotKeyVault, format!("resource type {t}")));
            }
        }

        let time = match &b.time {
            None => return Err((SkipReason::BadTime, "no time".to_string())),
            Some(t) => match memo.times.parse_time(t) {
                Some(ts) => ts,
                None => return Err((SkipReason::BadTime, format!("unreadable time '{t}'"))),
            },
        };
        let Some(operation) = b.operation.take().or(b.operation_fb.take()) else {
            return Err((SkipReason::MissingField, "no operationName".to_string()));
        };

        let ev = &mut b.ev.0;
        ev.time = time;
        ev.category = category;
        ev.operation = operation;
        ev.result_type = b.result_type.take().or(b.result_type_fb.take());
        ev.http_status = b
            .http_status
            .take()
            .and_then(|l| l.as_u64())
            .and_then(|n| u16::try_from(n).ok());
        ev.duration_ms = b
            .duration
            .take()
            .and_then(|l| l.as_u64_rounded())
            .or_else(|| {
                b.duration_ns
                    .take()
                    .and_then(|l| l.as_u64())
                    .map(|ns| ns / 1_000_000)
            });
        ev.caller_ip = match b.caller_ip.take() {
            Some(c) => CallerIp::parse(c),
            None => CallerIp::Missing,
        };
        if ev.identity.upn.is_none() {
            ev.identity.upn = b.upn_fb.take();
        }
        ev.vault = vault;
        ev.client_info = b.client_info.take().or(b.client_info_fb.take());
        ev.origin = origin;
        Ok(ev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seeded xorshift for the damage tests: `next(n)` is a pseudo-random index below `n`,
    /// the same sequence on every run.
    fn xorshift(mut seed: u64) -> impl FnMut(usize) -> usize {
        move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        }
    }

    fn build<'a>(
        text: &'a str,
        map: fn(&mut Builder<'a>, &str, Leaf<'a>),
    ) -> Result<AuditEvent<'a>, (SkipReason, String)> {
        let mut b = Builder::default();
        walk_text(text, "", &mut |p, l| map(&mut b, p, l)).unwrap();
        b.finish(
            Origin { source: 1, line: 3 },
            &ReadOptions::default(),
            &mut Memo::default(),
        )
        .cloned()
    }

    #[test]
    fn managed_hsm_shape_is_read_and_filtered() {
        let text = r#"{"time":"2020-08-31T19:52:39.763Z","resourceId":"/SUBSCRIPTIONS/s/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/MANAGEDHSMS/CONTOSOMHSM","operationName":"BackupCreate","durationMs":488,"callerIpAddress":"52.178.1.2","identity":"{\"claim\":{\"appid\":\"app-1\",\"http_schemas_microsoft_com_identity\":{\"claims\":{\"objectidentifier\":\"obj-1\"}},\"http_schemas_xmlsoap_org_ws_2005_05_identity\":{\"claims\":{\"upn\":\"admin@contoso.com\"}}}}","clientInfo":"azsdk","httpStatusCode":202,"requestUri":"https://x/backup","resourceType":"managedHSMs"}"#;
        let err = build(text, map_azure).unwrap_err();
        assert_eq!(
            err,
            (SkipReason::NotKeyVault, "resource type MANAGEDHSMS".into())
        );
        let mut b = Builder::default();
        walk_text(text, "", &mut |p, l| map_azure(&mut b, p, l)).unwrap();
        let opts = ReadOptions {
            include_managed_hsm: true,
            ..ReadOptions::default()
        };
        let ev = b
            .finish(Origin::default(), &opts, &mut Memo::default())
            .unwrap();
        assert_eq!(ev.identity.upn.as_deref(), Some("admin@contoso.com"));
        assert_eq!(ev.identity.object_id.as_deref(), Some("obj-1"));
        assert_eq!(ev.identity.app_id.as_deref(), Some("app-1"));
        assert!(ev.identity.other.is_empty());
        assert_eq!(ev.duration_ms, Some(488));
        assert_eq!(ev.http_status, Some(202));
        assert_eq!(ev.client_info.as_deref(), Some("azsdk"));
        assert_eq!(ev.request_uri.as_deref(), Some("https://x/backup"));
        assert_eq!(ev.vault.name.as_deref(), Some("CONTOSOMHSM"));
    }

    #[test]
    fn other_categories_tables_and_providers_are_refused() {
        let r = build(
            r#"{"time":"2024-01-01T00:00:00Z","category":"AzurePolicyEvaluationDetails","operationName":"x"}"#,
            map_azure,
        );
        assert_eq!(
            r.unwrap_err(),
            (
                SkipReason::OtherCategory,
                "category AzurePolicyEvaluationDetails".into()
            )
        );
        let r = build(
            r#"{"TimeGenerated":"2024-01-01T00:00:00Z","Type":"AzureMetrics","OperationName":"x"}"#,
            map_azure,
        );
        assert_eq!(r.unwrap_err().0, SkipReason::OtherCategory);
        let r = build(
            r#"{"time":"2024-01-01T00:00:00Z","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.NETWORK/VAULTS/X","operationName":"x"}"#,
            map_azure,
        );
        assert_eq!(
            r.unwrap_err(),
            (SkipReason::NotKeyVault, "provider MICROSOFT.NETWORK".into())
        );
        let r = build(r#"{"operationName":"x"}"#, map_azure);
        assert_eq!(r.unwrap_err(), (SkipReason::BadTime, "no time".into()));
        let r = build(r#"{"time":"soon","operationName":"x"}"#, map_azure);
        assert_eq!(
            r.unwrap_err(),
            (SkipReason::BadTime, "unreadable time 'soon'".into())
        );
        let r = build(r#"{"time":"2024-01-01T00:00:00Z"}"#, map_azure);
        assert_eq!(r.unwrap_err().0, SkipReason::MissingField);
    }

    #[test]
    fn inline_field_is_azure_field() {
        use crate::claims_impl::Slot;
        use AzField as F;
        let fields = [
            F::Time,
            F::Category,
            F::TableType,
            F::Operation,
            F::OperationVersion,
            F::ResultType,
            F::ResultSignature,
            F::ResultDescription,
            F::Duration,
            F::CallerIp,
            F::CorrelationId,
            F::ResourceId,
            F::ResourceIdFb,
            F::SubscriptionId,
            F::ResourceGroup,
            F::Resource,
            F::ResourceType,
            F::Provider,
            F::Location,
            F::IdentityText,
            F::UpnFb,
            F::ClaimColumn,
            F::ClientInfo,
            F::RequestUri,
            F::ObjectId,
            F::HttpStatus,
            F::TlsVersion,
            F::Records,
            F::Tables,
            F::HitsHits,
            F::Claim(ClaimTarget::Slot(Slot::Upn)),
            F::Claim(ClaimTarget::Slot(Slot::Azp)),
            F::Claim(ClaimTarget::Common(2)),
            F::Claim(ClaimTarget::Other),
        ];
        let leaves = || {
            [
                Leaf::Str(Cow::Borrowed("a@b")),
                Leaf::Str(Cow::Owned("x".into())),
                Leaf::Str(Cow::Borrowed("")),
                Leaf::U64(7),
                Leaf::Null,
                Leaf::Bool(true),
                Leaf::Json("[1]".into()),
                Leaf::Str(Cow::Borrowed(r#"{"upn":"u@v"}"#)),
            ]
        };
        let (mut by_str_calls, mut by_u64_calls) = (0, 0);
        for f in fields {
            let mut inline = Builder::default();
            let mut called = Builder::default();
            let mut by_str = Builder::default();
            // Twice each: the second value meets a filled slot.
            for v in leaves().into_iter().chain(leaves()) {
                // The walk hands over "" for a key `reads_key` says is not read.
                let key = if <Builder as KeyMap>::reads_key(f) {
                    "identity_claim_Some.Key_s"
                } else {
                    ""
                };
                // `field_str` for a borrowed string and `field_u64` for a plain number, as
                // the walk calls them.
                match &v {
                    Leaf::Str(Cow::Borrowed(s)) => {
                        KeyMap::field_str(&mut by_str, f, key, s);
                        by_str_calls += 1;
                    }
                    Leaf::U64(n) => {
                        KeyMap::field_u64(&mut by_str, f, key, *n);
                        by_u64_calls += 1;
                    }
                    v => KeyMap::field(&mut by_str, f, key, v.clone()),
                }
                KeyMap::field(&mut inline, f, key, v.clone());
                azure_field(&mut called, f, "identity_claim_Some.Key_s", v);
                assert_eq!(format!("{inline:?}"), format!("{called:?}"), "{f:?}");
                assert_eq!(format!("{by_str:?}"), format!("{called:?}"), "{f:?}");
            }
        }
        assert_eq!(by_str_calls, fields.len() * 6);
        assert_eq!(by_u64_calls, fields.len() * 2);
    }

    #[test]
    fn slashes_are_memchr_iter() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let bytes = [b'/', b'a', b'.', 0x2f ^ 0x80, 0xaf, 0, 0x7f, b'Z'];
        for len in 0..70 {
            for _ in 0..50 {
                let v: Vec<u8> = (0..len).map(|_| bytes[(next() % 8) as usize]).collect();
                let want: Vec<usize> = memchr::memchr_iter(b'/', &v).collect();
                assert_eq!(Slashes::new(&v).collect::<Vec<_>>(), want, "{v:?}");
            }
        }
        let id = "/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/V";
        assert_eq!(
            Slashes::new(id.as_bytes()).collect::<Vec<_>>(),
            [0, 14, 16, 31, 33, 43, 62, 69]
        );
    }

    /// The memo answers as `vault_of`, id after id in any order, with ids sharing their
    /// length and last bytes (one slot), differing in the middle, and the long way's ids.
    #[test]
    fn vault_memo_is_vault_of() {
        let long = format!("/{}", "a/".repeat(MAX_SEGMENTS + 3));
        let mut ids: Vec<String> = [
            "/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/V",
            "/SUBSCRIPTIONS/T/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/V",
            "/SUBSCRIPTIONS/S/RESOURCEGROUPQ/R/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/V",
            "/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERX/MICROSOFT.KEYVAULT/VAULTS/V",
            "/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT/VAULTZ/V",
            "/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT//ULTS/V",
            "/subscriptions/s/resourceGroups/r/providers/Microsoft.KeyVault/managedHSMs/h/",
            "//subscriptions//s//x",
            "/subscriptions/providers/providers/X/resourcegroups",
            "v",
            "",
            "///",
            "/SUBSCRIPTIONS/S/SUBSCRIPTIONS/T/RESOURCEGROUPS/é/PROVIDERS/P/PROVIDERS/Q",
            &long,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for k in 0..80 {
            ids.push(format!(
                "/SUBSCRIPTIONS/{k:04}/RESOURCEGROUPS/RG-{k}/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV{}",
                k % 7
            ));
        }
        let mut memo = VaultMemo::default();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for round in 0..5 {
            for i in 0..ids.len() {
                let at = if round == 0 {
                    i
                } else {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed % ids.len() as u64) as usize
                };
                // a copy: the answer must borrow from the id handed over, not a former one
                let id = ids[at].clone();
                let (v, p) = memo.vault_of(&id);
                let (w, q) = vault_of(&id);
                assert_eq!(format!("{v:?} {p:?}"), format!("{w:?} {q:?}"), "{id}");
                let inside = |s: &Option<Str<'_>>| {
                    s.as_deref().is_none_or(|s| {
                        let (a, b) = (s.as_ptr() as usize, id.as_ptr() as usize);
                        a >= b && a + s.len() <= b + id.len()
                    })
                };
                assert!(
                    inside(&v.name) && inside(&v.resource_group) && inside(&p),
                    "{id}"
                );
            }
        }
        assert!(memo.slots.iter().flatten().count() > 10);
        // Ids met again while remembered were answered by the memo (exact count: the rounds
        // are seeded), not only answered right.
        assert_eq!(memo.hits, 84);
    }

    #[test]
    fn vault_of_matches_the_model() {
        let long = format!("/{}", "a/".repeat(MAX_SEGMENTS + 3));
        for id in [
            "/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/V",
            "/subscriptions/s/resourceGroups/r/providers/Microsoft.KeyVault/managedHSMs/h/",
            "//subscriptions//s//x",
            "/subscriptions/providers/providers/X/resourcegroups",
            "/subscriptions",
            "providers",
            "/a/providers",
            "v",
            "",
            "///",
            "/SUBSCRIPTIONS/S/SUBSCRIPTIONS/T/RESOURCEGROUPS/é/PROVIDERS/P/PROVIDERS/Q",
            &long,
        ] {
            let (v, p) = vault_of(id);
            let want = Vault::from_resource_id(id);
            assert_eq!(
                serde_json::to_value(&v).unwrap(),
                serde_json::to_value(&want).unwrap(),
                "{id}"
            );
            assert_eq!(p.as_deref(), provider_of(id), "{id}");
        }
    }

    #[test]
    fn ecs_dotted_and_nested_read_the_same() {
        let nested = r#"{"@timestamp":"2024-05-01T10:00:00.1234567Z","event":{"action":"SecretGet","outcome":"success","dataset":"azure.platformlogs"},"source":{"ip":"104.40.82.76","geo":{"city_name":"Dublin","country_name":"Ireland"},"as":{"organization":{"name":"Contoso"}}},"azure":{"resource":{"id":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV1","provider":"MICROSOFT.KEYVAULT/VAULTS"},"platformlogs":{"result_type":"Success","durationMs":"12","identity":{"claim":{"upn":"a@b.c"}},"properties":{"httpStatusCode":200}}},"cloud":{"region":"westeurope"},"agent":{"name":"fb-1"}}"#;
        let dotted = r#"{"@timestamp":"2024-05-01T10:00:00.1234567Z","event.action":"SecretGet","event.outcome":"success","event.dataset":"azure.platformlogs","source.ip":"104.40.82.76","source.geo.city_name":"Dublin","source.geo.country_name":"Ireland","source.as.organization.name":"Contoso","azure.resource.id":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV1","azure.resource.provider":"MICROSOFT.KEYVAULT/VAULTS","azure.platformlogs.result_type":"Success","azure.platformlogs.durationMs":"12","azure.platformlogs.identity.claim.upn":"a@b.c","azure.platformlogs.properties.httpStatusCode":200,"cloud.region":"westeurope","agent.name":"fb-1"}"#;
        let a = build(nested, map_ecs).unwrap();
        let b = build(dotted, map_ecs).unwrap();
        assert_eq!(a.to_dictionary_json(), b.to_dictionary_json());
        assert_eq!(a.operation, "SecretGet");
        assert_eq!(a.result_type.as_deref(), Some("Success"));
        assert_eq!(a.identity.upn.as_deref(), Some("a@b.c"));
        assert_eq!(a.http_status, Some(200));
        assert_eq!(a.duration_ms, Some(12));
        assert_eq!(a.geo.city.as_deref(), Some("Dublin"));
        assert_eq!(a.geo.as_org.as_deref(), Some("Contoso"));
        assert_eq!(a.geo.cloud_region.as_deref(), Some("westeurope"));
        assert_eq!(a.agent_name.as_deref(), Some("fb-1"));
        assert_eq!(a.vault.name.as_deref(), Some("KV1"));
        let other = build(
            r#"{"@timestamp":"2024-05-01T10:00:00Z","event.action":"x","event.dataset":"azure.activitylogs"}"#,
            map_ecs,
        );
        assert_eq!(other.unwrap_err().0, SkipReason::OtherCategory);
    }

    #[allow(clippy::collapsible_if)]
    /// The path mapping as it was before [`azure_role`]: the reference the new one must match.
    fn old_map_azure<'a>(b: &mut Builder<'a>, path: &str, v: Leaf<'a>) {
        if let Some(k) = path
            .strip_prefix("identity.claim.")
            .or_else(|| path.strip_prefix("identity.claims."))
        {
            // Claim values as the mapping reads them (arrays keep their type).
            claim_leaf(&mut b.ev.identity, claim_target(k), k, v);
            return;
        }
        if let Some(k) = path.strip_prefix("identity_claim_") {
            let (k, is_string) = strip_type_suffix(k);
            if let Some(t) = v.into_text() {
                claim_column(&mut b.ev.identity, k, is_string, t);
            }
            return;
        }
        match path {
            "time" | "timegenerated" => set(&mut b.time, v),
            "category" => set(&mut b.category, v),
            "type" => set(&mut b.table_type, v),
            "operationname" => set(&mut b.operation, v),
            "operationversion" => set(&mut b.ev.operation_version, v),
            "resulttype" => set(&mut b.result_type, v),
            "resultsignature" => set(&mut b.ev.result_signature, v),
            "resultdescription" => set(&mut b.ev.result_description, v),
            "durationms" => set_num(&mut b.duration, v),
            "calleripaddress" => set(&mut b.caller_ip, v),
            "correlationid" => set(&mut b.ev.correlation_id, v),
            "resourceid" => set(&mut b.resource_id, v),
            "_resourceid" => set(&mut b.resource_id_fb, v),
            "subscriptionid" | "_subscriptionid" => set(&mut b.subscription_id, v),
            "resourcegroup" => set(&mut b.resource_group, v),
            "resource" => set(&mut b.resource_name, v),
            "resourcetype" => set(&mut b.resource_type, v),
            "resourceprovider" => set(&mut b.provider, v),
            "location" => set(&mut b.location, v),
            "identity" => {
                if let Leaf::Str(s) = v {
                    walk_nested(b, s, "identity", old_map_azure);
                }
            }
            // AzureDiagnostics sometimes has a bare `identity_claim` column holding the UPN.
            "identity_claim" => {
                if let Some(t) = v.into_text() {
                    if t.contains('@') {
                        b.upn_fb.get_or_insert(t);
                    }
                }
            }
            "properties.clientinfo" | "clientinfo" | "clientinfo_s" => set(&mut b.client_info, v),
            "properties.requesturi" | "requesturi" | "requesturi_s" => {
                set(&mut b.ev.request_uri, v)
            }
            "properties.id" | "id" | "id_s" => set(&mut b.ev.object_id, v),
            "properties.httpstatuscode" | "httpstatuscode" | "httpstatuscode_d" => {
                set_num(&mut b.http_status, v)
            }
            "properties.tlsversion" | "tlsversion" | "tlsversion_s" => {
                set(&mut b.ev.tls_version, v)
            }
            "records" => {
                if matches!(v, Leaf::Json(_)) {
                    b.nested = Some(Nested::Records);
                }
            }
            "tables" => {
                if matches!(v, Leaf::Json(_)) {
                    b.nested = Some(Nested::Tables);
                }
            }
            "hits.hits" => {
                if matches!(v, Leaf::Json(_)) {
                    b.nested = Some(Nested::Hits);
                }
            }
            "" => b.not_object = true,
            _ => {}
        }
    }

    /// Every path the old string match knew, with case, suffix, prefix and separator
    /// variants, and every kind of leaf: the level-by-level mapping gives the same builder.
    #[test]
    fn map_azure_matches_the_old_path_match() {
        let known = [
            "time",
            "timegenerated",
            "category",
            "type",
            "operationname",
            "operationversion",
            "resulttype",
            "resultsignature",
            "resultdescription",
            "durationms",
            "calleripaddress",
            "correlationid",
            "resourceid",
            "_resourceid",
            "subscriptionid",
            "_subscriptionid",
            "resourcegroup",
            "resource",
            "resourcetype",
            "resourceprovider",
            "location",
            "identity",
            "identity_claim",
            "properties.clientinfo",
            "clientinfo",
            "clientinfo_s",
            "properties.requesturi",
            "requesturi",
            "requesturi_s",
            "properties.id",
            "id",
            "id_s",
            "properties.httpstatuscode",
            "httpstatuscode",
            "httpstatuscode_d",
            "properties.tlsversion",
            "tlsversion",
            "tlsversion_s",
            "records",
            "tables",
            "hits.hits",
            "",
            "identity.claim.upn",
            "identity.claims.oid",
            "identity.claim.",
            "identity.claim",
            "identity.claims",
            "identity.claim.a.b.c",
            "identity.claim.http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
            "identity_claim_upn_s",
            "identity_claim_oid_g",
            "identity_claim_x_d",
            "identity_claim_",
            "identity_claim_a.b_s",
            "identity_claim_a_",
            "identity_claim_ab",
            "identity.",
            "identity..claim.upn",
            "identity.x.claim.upn",
            "properties",
            "properties.",
            "properties.id.x",
            "hits",
            "hits.",
            "hits.hits.x",
            "hits.x",
            ".time",
            "time.",
            "time.x",
            "x.time",
            "..",
            ".",
            "a..b",
            "properties..id",
            "identity_claimx",
            "identity.claimx.upn",
            "identity.claimsx.upn",
            "identityx",
            "recordsx",
            "z",
            "tablez",
            "é",
            "ida",
            "clientinfo_x",
            "timex",
            "hits.hitsx",
            "identity.claimsx",
            "properties.idx",
            "properties.clientinfox",
            "clientinfo_ss",
            "resourcetypes",
            "resultdescriptions",
            "identity_claim_upn_s.x",
        ];
        let leaves = [
            Leaf::Str(Cow::Borrowed("a@b.c")),
            Leaf::Str(Cow::Borrowed("")),
            Leaf::Str(Cow::Borrowed("None")),
            Leaf::Str(Cow::Owned("owned".to_string())),
            Leaf::Str(Cow::Borrowed(r#"{"claim":{"upn":"u@v.w","oid":"o"}}"#)),
            Leaf::U64(200),
            Leaf::I64(-3),
            Leaf::F64(12.5),
            Leaf::Bool(true),
            Leaf::Null,
            Leaf::Json("[1,\"x\"]".to_string()),
        ];
        let mut n = 0;
        for path in known {
            for leaf in &leaves {
                let (mut old, mut new) = (Builder::default(), Builder::default());
                old_map_azure(&mut old, path, leaf.clone());
                map_azure(&mut new, path, leaf.clone());
                assert_eq!(format!("{old:?}"), format!("{new:?}"), "{path} {leaf:?}");
                n += 1;
            }
        }
        assert_eq!(n, known.len() * leaves.len());
        // A record's paths in sequence: first-wins fields and last-wins claims agree too.
        let (mut old, mut new) = (Builder::default(), Builder::default());
        for (i, path) in known.iter().enumerate() {
            let leaf = leaves[i % leaves.len()].clone();
            old_map_azure(&mut old, path, leaf.clone());
            map_azure(&mut new, path, leaf);
        }
        assert_eq!(format!("{old:?}"), format!("{new:?}"));
        assert!(new.ev.identity.upn.is_some() && new.time.is_some());
    }

    /// `text` with every object key upper-cased (keys are the strings followed by `:`).
    fn upper_keys(text: &str) -> String {
        let parts: Vec<&str> = text.split('"').collect();
        let mut out = String::new();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                out.push('"');
            }
            let is_key = i % 2 == 1
                && parts
                    .get(i + 1)
                    .is_some_and(|n| n.trim_start().starts_with(':'));
            if is_key {
                out.push_str(&p.to_uppercase());
            } else {
                out.push_str(p);
            }
        }
        out
    }

    /// The keyed walk, wherever it decides, builds what the path walk builds from the same
    /// text; keys in any case, dotted and empty keys, nested claims.
    #[test]
    fn keyed_walk_builds_what_the_path_walk_builds() {
        let fixture = include_str!("../tests/fixtures/storage.jsonl");
        let mut texts: Vec<String> = fixture
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(str::to_string)
            .collect();
        for t in texts.clone() {
            texts.push(upper_keys(&t));
            texts.push(
                t.replace("\"identity\"", "\"IDENTITY\"")
                    .replace("\"claim\"", "\"Claims\""),
            );
        }
        let extra = [
            r#"{"time":"2024-01-01T00:00:00Z","identity":{"claim":{"a":{"b":{"UPN":"x@y"},"c":[1]},"oid":"o","":"e"}}}"#,
            r#"{"identity.claim.upn":"x@y","time":"t"}"#,
            r#"{"identity":{"claim.upn":"x@y"},"time":"t"}"#,
            r#"{"":{"time":"t","operationName":"op"}}"#,
            r#"{"identity":{"":{"claim":{"upn":"u"}}},"properties":{"":1,"a.b":2,"id":"i"}}"#,
            r#"{"Identity_Claim_UPN_S":"u@v","IDENTITY_CLAIM_oid_G":"o","identity_claim_x_d":"None","identity_claim_y.z_s":"q"}"#,
            r#"{"identity_claim_a":{"b":"c"}}"#,
            r#"{"hits":{"hits":[{"_source":{}}],"total":{"value":1}},"records":{"a":1}}"#,
            r#"{"records":[{"time":"t"}],"tables":[]}"#,
            r#"{"time":{"x":1},"category":["a",{"b":null}],"properties":"p","identity":"{\"claim\":{\"upn\":\"n@m\"}}"}"#,
            r#"{"identity":5,"properties":{"httpStatusCode":"200","HTTPSTATUSCODE":201,"tlsVersion":null}}"#,
            r#"{"K\u0045Y":1,"Ti\u006de":"t","identity":{"cl\u0061im":{"u\u0070n":"x"}}}"#,
        ];
        texts.extend(extra.iter().map(|s| s.to_string()));
        let mut decided = 0;
        for t in &texts {
            let mut keyed = Builder::default();
            let mut buf = String::new();
            let k = kvsentry_json::walk_keyed(t, &mut keyed, &mut buf, &mut Default::default());
            let mut by_path = Builder::default();
            let mut path = String::new();
            let p =
                kvsentry_json::walk_fast(t, &mut path, &mut |p, l| map_azure(&mut by_path, p, l));
            if k.is_ok() {
                decided += 1;
                assert!(p.is_ok(), "{t}");
                assert_eq!(format!("{keyed:?}"), format!("{by_path:?}"), "{t}");
            }
            // and the path mapping agrees with the old one on the same text
            let mut old = Builder::default();
            let o = walk_text(t, "", &mut |p, l| old_map_azure(&mut old, p, l));
            let mut new = Builder::default();
            let r = walk_text(t, "", &mut |p, l| map_azure(&mut new, p, l));
            assert_eq!(o.is_ok(), r.is_ok());
            assert_eq!(format!("{old:?}"), format!("{new:?}"), "{t}");
        }
        // dotted and empty keys at the top or under identity are left to the path walk
        assert_eq!(decided, texts.len() - 4, "{decided}");
    }

    /// Random damage to real records (including dots, case and empty keys): wherever the
    /// keyed walk decides, the path walk and serde_json accept the text too and the builders
    /// agree.
    #[test]
    fn keyed_walk_agrees_on_damaged_records() {
        let fixture = include_str!("../tests/fixtures/storage.jsonl");
        let recs: Vec<&str> = fixture.lines().filter(|l| l.starts_with('{')).collect();
        let alphabet = b"{}[],:\"\\ .._x0-eEInutfals1T\x01";
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        let (mut decided, mut refused) = (0, 0);
        // One cache for all: damaged records meet keys remembered from intact ones.
        let mut cache = kvsentry_json::KeyCache::default();
        for round in 0..6000 {
            let mut b = recs[round % recs.len()].as_bytes().to_vec();
            for _ in 0..1 + next(3) {
                let at = next(b.len());
                match next(4) {
                    0 => b[at] = alphabet[next(alphabet.len())],
                    1 => b.insert(at, alphabet[next(alphabet.len())]),
                    2 => {
                        b.remove(at);
                    }
                    _ => b[at] = b[at].to_ascii_uppercase(),
                }
            }
            let Ok(text) = String::from_utf8(b) else {
                continue;
            };
            let mut keyed = Builder::default();
            let mut buf = String::new();
            if kvsentry_json::walk_keyed(&text, &mut keyed, &mut buf, &mut cache).is_err() {
                refused += 1;
                continue;
            }
            decided += 1;
            let mut by_path = Builder::default();
            let mut path = String::new();
            let p = kvsentry_json::walk_fast(&text, &mut path, &mut |p, l| {
                map_azure(&mut by_path, p, l)
            });
            assert!(p.is_ok(), "{text}");
            assert!(
                serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok(),
                "{text}"
            );
            assert_eq!(format!("{keyed:?}"), format!("{by_path:?}"), "{text}");
        }
        assert!(decided > 1000 && refused > 1000, "{decided} {refused}");
    }

    /// Word-wise name comparison is exactly `eq_ignore_ascii_case`, for every byte at every
    /// position of every name, and a prefix test for the claim columns.
    #[test]
    fn names_compare_like_eq_ignore_ascii_case() {
        let names = [
            &b"id"[..],
            b"time",
            b"_resourceid",
            b"identity_claim",
            b"httpstatuscode_d",
            b"resultdescription",
            b"identity_claim_",
        ];
        for lit in names {
            let n = name(lit);
            for at in 0..lit.len() {
                for c in 0..=255u8 {
                    let mut k = lit.to_vec();
                    k[at] = c;
                    assert_eq!(
                        is_prefix(&kvsentry_json::key_words(&k), &n),
                        k.eq_ignore_ascii_case(lit),
                        "{lit:?} {at} {c}"
                    );
                }
            }
            let mut long = lit.to_ascii_uppercase();
            long.extend_from_slice(b"_more_bytes_than_twenty_four");
            assert!(is_prefix(&kvsentry_json::key_words(&long), &n));
            assert!(!is_prefix(
                &kvsentry_json::key_words(&lit[..lit.len() - 1]),
                &n
            ));
        }
    }

    /// Records read one after another with one key cache: repeated, reordered, re-cased,
    /// spaced and escaped keys all build what the path walk builds.
    #[test]
    fn the_key_cache_never_changes_a_record() {
        let texts = [
            r#"{"time":"2024-01-01T00:00:00Z","operationName":"A","identity":{"claim":{"upn":"u@v","oid":"o"}},"properties":{"id":"i","httpStatusCode":200}}"#,
            r#"{"time":"2024-01-01T00:00:01Z","operationName":"B","identity":{"claim":{"upn":"x@y","oid":"p"}},"properties":{"id":"j","httpStatusCode":201}}"#,
            r#"{"operationName":"C","time":"2024-01-01T00:00:02Z","identity":{"claim":{"oid":"q","upn":"z@w"}},"properties":{"httpStatusCode":202,"id":"k"}}"#,
            r#"{"TIME":"2024-01-01T00:00:03Z","operationname":"D","Identity":{"Claim":{"UPN":"a@b","oid":"r"}},"properties":{"ID":"l"}}"#,
            r#"{"time" :"2024-01-01T00:00:04Z", "operationName":"E","identity":{"claim":{"u\u0070n":"c@d"}},"properties":{"i\u0064":"m"}}"#,
            r#"{"time":"2024-01-01T00:00:05Z","operationName.x":"F","identity":{"claim.upn":"e@f"},"properties":{"id":"n"}}"#,
            r#"{"time":"2024-01-01T00:00:06Z","operationName":"G","identity":{"claim":{"upn":"g@h","oid":"s"}},"properties":{"id":"o","httpStatusCode":203}}"#,
            // Keys sharing their first bytes (the cache's first word), short and long.
            r#"{"time":"2024-01-01T00:00:07Z","identity":{"claim":{"appidacr":"2","appid":"a","oi":"t"}}}"#,
            r#"{"time":"2024-01-01T00:00:08Z","identity":{"claim":{"appid":"b","appidacr":"1","oid":"u"}}}"#,
            r#"{"time":"2024-01-01T00:00:09Z","identity":{"claim":{"appidacx":"3","appi":"c","o":"v"}}}"#,
            r#"{"time":"2024-01-01T00:00:10Z","identity":{"claim":{"appidacr":"4","appid":"d","oid":"w"}}}"#,
            // `"key":` of 9 to 16 bytes and longer, the same but for one byte past the first
            // eight (the cache compares those by their last eight bytes).
            r#"{"resultType":"R1","operationName":"H","httpStatusCode":204,"identity":{"claim":{"xms_mirid":"m1","appidacr":"5"}},"properties":{"clientInfo":"c1"}}"#,
            r#"{"resultTypf":"R2","operationNamf":"I","httpStatusCodf":205,"identity":{"claim":{"xms_mirix":"m2","appidacx":"6"}},"properties":{"clientInfp":"c2"}}"#,
            r#"{"resultTyqe":"R3","operationNbme":"J","httpStatusCpde":206,"identity":{"claim":{"xms_miri":"m3","appidac":"7"}},"properties":{"clientInf":"c3"}}"#,
            r#"{"resultType":"R4","operationName":"K","httpStatusCode":207,"identity":{"claim":{"xms_mirid":"m4","appidacr":"8"}},"properties":{"clientInfo":"c4"}}"#,
            r#"{"resultTypf":"R5","operationNamf":"L","httpStatusCodf":208,"identity":{"claim":{"xms_mirix":"m5","appidacx":"9"}},"properties":{"clientInfp":"c5"}}"#,
        ];
        let mut cache = kvsentry_json::KeyCache::default();
        let mut decided = 0;
        for t in texts {
            let mut keyed = Builder::default();
            let mut buf = String::new();
            let k = kvsentry_json::walk_keyed(t, &mut keyed, &mut buf, &mut cache);
            let mut by_path = Builder::default();
            let mut path = String::new();
            kvsentry_json::walk_fast(t, &mut path, &mut |p, l| map_azure(&mut by_path, p, l))
                .unwrap();
            if k.is_ok() {
                decided += 1;
                assert_eq!(format!("{keyed:?}"), format!("{by_path:?}"), "{t}");
            }
        }
        // the dotted keys of the sixth record are the path walk's to read
        assert_eq!(decided, texts.len() - 1);
    }

    /// A field's number read inline by the keyed walk (`Scan::plain_u64`,
    /// `KeyMap::field_u64`) reads as the path walk reads it, plain or not, for the numbers
    /// kept as they are and for a field that takes a number as text.
    #[test]
    fn inline_numbers_read_as_the_path_walk() {
        let numbers = [
            "0",
            "7",
            "200",
            "01",
            "-5",
            "2.0",
            "1e3",
            "9999999999999999999",
            "18446744073709551615",
            "123456789012345678901",
            "404 ",
            "3}",
        ];
        let mut cache = kvsentry_json::KeyCache::default();
        let mut decided = Vec::new();
        for n in numbers {
            let t = format!(
                r#"{{"time":"2024-01-01T00:00:00Z","durationMs":{n},"resultSignature":{n},"properties":{{"httpStatusCode":{n}}}}}"#
            );
            let mut keyed = Builder::default();
            let mut buf = String::new();
            let k = kvsentry_json::walk_keyed(&t, &mut keyed, &mut buf, &mut cache);
            let mut by_path = Builder::default();
            let mut path = String::new();
            let p =
                kvsentry_json::walk_fast(&t, &mut path, &mut |p, l| map_azure(&mut by_path, p, l));
            assert_eq!(k.is_ok(), p.is_ok(), "{t}");
            if k.is_ok() {
                assert_eq!(format!("{keyed:?}"), format!("{by_path:?}"), "{t}");
                decided.push((n, format!("{:?}", keyed.http_status)));
            }
        }
        let want: Vec<(&str, String)> = [
            ("0", "Some(U64(0))"),
            ("7", "Some(U64(7))"),
            ("200", "Some(U64(200))"),
            ("-5", "Some(I64(-5))"),
            ("2.0", "Some(F64(2.0))"),
            ("1e3", "Some(F64(1000.0))"),
            ("9999999999999999999", "Some(U64(9999999999999999999))"),
            ("18446744073709551615", "Some(U64(18446744073709551615))"),
            ("123456789012345678901", "Some(F64(1.2345678901234567e20))"),
            ("404 ", "Some(U64(404))"),
        ]
        .into_iter()
        .map(|(n, s)| (n, s.to_string()))
        .collect();
        // `01` and `3}` are refused by both walks.
        assert_eq!(decided, want);
    }

    /// A remembered key's flattened step (`walk::Step`) does with each kind of value what
    /// its role does: the same keys record after record (all but the first read from the
    /// cache), each with a string, an escaped string, a number, a literal, null, an array
    /// and an object in turn, for a plain field, a field reading its key (a claim column),
    /// a claim normalised when applied, a key nothing reads and a key to enter.
    #[test]
    fn a_remembered_key_steps_as_its_role() {
        let values = [
            r#""v1""#,
            r#""v\u0032""#,
            "3",
            "true",
            "null",
            r#"["a",4]"#,
            r#"{"x":"5"}"#,
            r#""v6""#,
        ];
        let mut cache = kvsentry_json::KeyCache::default();
        let (mut decided, mut given_up) = (0, 0);
        let mut others = Vec::new();
        for (i, v) in values.iter().enumerate() {
            // Rotated so that every key meets every kind of value.
            let at = |k: usize| values.get((i + k) % values.len()).copied().unwrap_or("0");
            let t = format!(
                r#"{{"time":"2024-01-01T00:00:0{i}Z","operationName":{v},"identity_claim_upn_s":{},"identity":{{"claim":{{"Xms_Foo":{},"oid":{}}}}},"fooBar":{},"properties":{}}}"#,
                at(1),
                at(2),
                at(3),
                at(4),
                at(5),
            );
            let mut keyed = Builder::default();
            let mut buf = String::new();
            let k = kvsentry_json::walk_keyed(&t, &mut keyed, &mut buf, &mut cache);
            let mut by_path = Builder::default();
            let mut path = String::new();
            kvsentry_json::walk_fast(&t, &mut path, &mut |p, l| map_azure(&mut by_path, p, l))
                .unwrap();
            match k {
                Ok(()) => {
                    decided += 1;
                    assert_eq!(format!("{keyed:?}"), format!("{by_path:?}"), "{t}");
                    others.push(format!("{:?}", keyed.ev.identity.other));
                }
                Err(_) => given_up += 1,
            }
        }
        // An object under the claim column (the sixth record puts one there) is the path
        // walk's to read; every other record is the keyed walk's.
        assert_eq!((decided, given_up), (7, 1));
        // `Xms_Foo` (its key read from the cache, normalised to `xms_foo`): an array's text
        // in the fourth record (`oid`'s object is that claim's value, kept whole in its own
        // field), an escaped string in the last; `null` is no claim.
        let at = |i: usize| others.get(i).map(String::as_str);
        assert_eq!(at(3), Some(r#"[("xms_foo", "[\"a\",4]")]"#));
        assert_eq!(at(2), Some("[]"));
        assert_eq!(at(6), Some(r#"[("xms_foo", "v2")]"#));
    }

    /// The room of `other` goes from record to record; the claims themselves do not.
    #[test]
    fn other_room_is_recycled() {
        let mut spare = SpareOther::with_capacity(8);
        let room = spare.as_ptr();
        let text = String::from("iss-value");
        let mut b = Builder::default();
        b.adopt_other(&mut spare);
        assert_eq!(spare.capacity(), 0);
        assert_eq!(b.ev.identity.other.capacity(), 8);
        assert_eq!(b.ev.identity.other.as_ptr(), room);
        apply_claim(&mut b.ev.identity, "iss", Cow::Borrowed(&text));
        apply_claim(&mut b.ev.identity, "foo", Cow::Borrowed("x"));
        assert_eq!(b.ev.identity.other.len(), 2);
        b.recycle(&mut spare);
        drop(b);
        drop(text);
        assert!(spare.is_empty());
        assert_eq!(spare.capacity(), 8);
        assert_eq!(spare.as_ptr(), room);
        let mut b = Builder::default();
        b.adopt_other(&mut spare);
        assert!(b.ev.identity.other.is_empty());
        assert_eq!(b.ev.identity.other.as_ptr(), room);
    }

    /// A walk that gives up restarts the record from a clean slate without losing the
    /// room of `other` (it goes back to the spare after the fallback walk too).
    #[test]
    fn a_restart_clears_the_record_and_keeps_the_room() {
        let mut spare = SpareOther::with_capacity(8);
        let room = spare.as_ptr();
        let mut b = Builder::default();
        b.adopt_other(&mut spare);
        apply_claim(
            &mut b.ev.identity,
            "upn",
            Cow::Borrowed("alice@contoso.com"),
        );
        apply_claim(&mut b.ev.identity, "iss", Cow::Borrowed("x"));
        b.not_object = true;
        b.restart();
        assert!(!b.not_object);
        assert_eq!(b.ev.identity.upn, None);
        assert!(b.ev.identity.other.is_empty());
        assert_eq!(b.ev.identity.other.as_ptr(), room);
        b.recycle(&mut spare);
        assert_eq!((spare.capacity(), spare.as_ptr()), (8, room));
    }

    /// The event built in place is complete after `finish`: placeholders replaced, every
    /// field set from the record, the identity's fallback UPN applied.
    #[test]
    fn finish_fills_the_event_in_place() {
        let text = r#"{"time":"2024-01-02T03:04:05.1234567Z","category":"AuditEvent","operationName":"SecretGet","operationVersion":"7.4","resultType":"Success","resultSignature":"OK","resultDescription":"d","durationMs":"12","callerIpAddress":"104.40.82.76","correlationId":"c-1","identity":{"claim":{"oid":"o-1","iss":"i-1"}},"properties":{"id":"https://v/secrets/s","clientInfo":"ci","httpStatusCode":200,"requestUri":"https://v/x","tlsVersion":"TLS1_2"},"resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV1","identity_claim":"u@contoso.com"}"#;
        let ev = build(text, map_azure).unwrap();
        assert_eq!(ev.time.to_string(), "2024-01-02T03:04:05.1234567Z");
        assert_eq!(ev.category, "AuditEvent");
        assert_eq!(ev.operation, "SecretGet");
        assert_eq!(ev.operation_version.as_deref(), Some("7.4"));
        assert_eq!(ev.result_type.as_deref(), Some("Success"));
        assert_eq!(ev.result_signature.as_deref(), Some("OK"));
        assert_eq!(ev.result_description.as_deref(), Some("d"));
        assert_eq!(ev.duration_ms, Some(12));
        assert_eq!(ev.http_status, Some(200));
        assert_eq!(
            ev.caller_ip,
            CallerIp::Addr(std::net::IpAddr::from([104, 40, 82, 76]))
        );
        assert_eq!(ev.correlation_id.as_deref(), Some("c-1"));
        assert_eq!(ev.identity.object_id.as_deref(), Some("o-1"));
        assert_eq!(ev.identity.upn.as_deref(), Some("u@contoso.com"));
        assert_eq!(
            ev.identity.other,
            vec![(Cow::Borrowed("iss"), Cow::Borrowed("i-1"))]
        );
        assert_eq!(ev.object_id.as_deref(), Some("https://v/secrets/s"));
        assert_eq!(ev.client_info.as_deref(), Some("ci"));
        assert_eq!(ev.request_uri.as_deref(), Some("https://v/x"));
        assert_eq!(ev.tls_version.as_deref(), Some("TLS1_2"));
        assert_eq!(ev.vault.name.as_deref(), Some("KV1"));
        assert_eq!(ev.origin, Origin { source: 1, line: 3 });
    }

    #[test]
    fn names_checked_in_finish_compare_like_eq_ignore_ascii_case() {
        for (lit, n) in [
            ("AuditEvent", &N_AUDITEVENT),
            ("microsoft.keyvault", &N_MICROSOFT_KEYVAULT),
            ("subscriptions", &N_SUBSCRIPTIONS),
            ("resourcegroups", &N_RESOURCEGROUPS),
            ("providers", &N_PROVIDERS),
        ] {
            for text in [
                lit.to_string(),
                lit.to_uppercase(),
                lit.to_lowercase(),
                format!("{lit}x"),
                lit[1..].to_string(),
                lit.replace('e', "é"),
                lit.replace('.', "n"),
                lit.replace('o', "O").replace('s', "\u{17f}"),
                String::new(),
            ] {
                assert_eq!(is_name(&text, n), text.eq_ignore_ascii_case(lit), "{text}");
            }
        }
    }
}
