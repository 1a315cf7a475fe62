//! The Azure forms' field names, key by key ([`azure_role`]): the levels of a record the
//! mapping looks into ([`Az`]) and the fields a key maps to ([`AzField`]).

use kvsentry_json::{Key, Role};

use crate::event::claims::{ClaimTarget, claim_target};
use crate::names::*;

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

/// The Azure mapping, key by key: what `key` (any case) means at `level`. The one table of
/// the Azure forms' field names; [`map_azure`](super::fields::map_azure) (paths) and the keyed walk (keys) both read
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
