//! How the fields of a record map into the event, per family of log forms: one mapping
//! module each, and one table ([`mapping`]) saying which form reads with which.
//!
//! - [`azure`]: Azure Monitor resource-log records (Storage, Event Hubs, Managed HSM arrays)
//!   and the Log Analytics tables (`AzureDiagnostics`, `AZKVAuditLogs`).
//! - [`ecs`]: Elastic `azure.platformlogs` documents.
//!
//! Adding a log form: its detection (`detect.rs`), a mapping module here (a path mapping, a
//! [`MapFn`]; optionally a keyed one, [`kvsentry_json::KeyMap`] for [`Builder`]), a
//! [`Mapping`] variant with its arms in [`Mapping::by_path`] and [`Mapping::walk`], and its
//! row in [`mapping`]. A form whose records are Azure's under other names needs only the row.

pub(crate) mod azure;
pub(crate) mod ecs;

use kvsentry_json::{KeyCache, Leaf, Undecided, walk_fast, walk_keyed};

use crate::LogFormat;
use crate::event::Builder;
use azure::{Az, AzField, map_azure};
use ecs::map_ecs;

/// A family of forms read with one mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mapping {
    /// [`azure`]: the Azure record's own keys, nested or as table columns.
    Azure,
    /// [`ecs`]: Elastic's field names, with the Azure record under `azure.platformlogs`.
    Ecs,
}

/// The registry: the mapping each form's records are read with.
pub(crate) const fn mapping(form: LogFormat) -> Mapping {
    match form {
        LogFormat::Ecs => Mapping::Ecs,
        LogFormat::Auto
        | LogFormat::Storage
        | LogFormat::EventHub
        | LogFormat::Array
        | LogFormat::AzureDiagnostics
        | LogFormat::Azkv => Mapping::Azure,
    }
}

/// A mapping by path: a leaf of a record under its lower-cased, dot-joined path.
pub(crate) type MapFn<'a> = fn(&mut Builder<'a>, &str, Leaf<'a>);

/// The keys the keyed walk remembers between records (the Azure mapping's levels and fields).
pub(crate) type Keys = KeyCache<Az, AzField>;

/// The path mapping of `form` (CSV cells, REST table cells).
pub(crate) fn mapper<'a>(form: LogFormat) -> MapFn<'a> {
    mapping(form).by_path()
}

impl Mapping {
    /// The mapping by path: what the exact walk ([`kvsentry_json::walk_text`]) hands leaves to.
    pub(crate) fn by_path<'a>(self) -> MapFn<'a> {
        match self {
            Mapping::Azure => map_azure as MapFn<'a>,
            Mapping::Ecs => map_ecs as MapFn<'a>,
        }
    }

    /// Reads the record `text` into `b` with the mapping's fast walks; [`Undecided`] leaves
    /// `b` partly filled, for the caller to restart and walk exactly. Each mapping is called
    /// by name, so that it is inlined into the walk.
    #[inline(always)]
    pub(crate) fn walk<'a>(
        self,
        text: &'a str,
        b: &mut Builder<'a>,
        path: &mut String,
        keys: &mut Keys,
    ) -> Result<(), Undecided> {
        match self {
            Mapping::Ecs => walk_fast(text, path, &mut |p, l| map_ecs(b, p, l)),
            // Keys matched as they are read; where the path spelling matters, the path walk.
            Mapping::Azure => walk_keyed(text, b, path, keys).or_else(|_| {
                b.restart();
                walk_fast(text, path, &mut |p, l| map_azure(b, p, l))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Mapping, mapping};
    use crate::LogFormat;

    /// Every form has a mapping, and only Elastic's is not Azure's.
    #[test]
    fn every_form_has_its_mapping() {
        for form in LogFormat::FORMS {
            let want = if form == LogFormat::Ecs {
                Mapping::Ecs
            } else {
                Mapping::Azure
            };
            assert_eq!(mapping(form), want, "{form}");
        }
    }
}
