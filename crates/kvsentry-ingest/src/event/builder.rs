//! The event a record becomes: [`Builder`] collects what a mapping finds in a record (in
//! place, borrowing from the text), and [`Builder::finish`] checks it (category, provider,
//! resource type, time) and completes the event.

use std::borrow::Cow;

use kvsentry_json::Leaf;
use kvsentry_model::{AuditEvent, CallerIp, Origin, Str, Vault};

use super::memo::Memo;
use super::resource_id::{is_managed_hsm, provider_of, provider_type};
use crate::ReadOptions;
use crate::names::{N_AUDITEVENT, N_MICROSOFT_KEYVAULT, is_name};
use crate::stats::SkipReason;

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
pub(crate) struct Draft<'a>(AuditEvent<'a>);

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
    pub(crate) time: Option<Str<'a>>,
    pub(crate) category: Option<Str<'a>>,
    pub(crate) table_type: Option<Str<'a>>,
    pub(crate) dataset: Option<Str<'a>>,
    pub(crate) operation: Option<Str<'a>>,
    pub(crate) operation_fb: Option<Str<'a>>,
    pub(crate) result_type: Option<Str<'a>>,
    pub(crate) result_type_fb: Option<Str<'a>>,
    pub(crate) http_status: Option<Leaf<'a>>,
    pub(crate) duration: Option<Leaf<'a>>,
    pub(crate) duration_ns: Option<Leaf<'a>>,
    pub(crate) caller_ip: Option<Str<'a>>,
    pub(crate) upn_fb: Option<Str<'a>>,
    pub(crate) resource_id: Option<Str<'a>>,
    pub(crate) resource_id_fb: Option<Str<'a>>,
    pub(crate) subscription_id: Option<Str<'a>>,
    pub(crate) resource_group: Option<Str<'a>>,
    pub(crate) resource_name: Option<Str<'a>>,
    pub(crate) resource_type: Option<Str<'a>>,
    pub(crate) provider: Option<Str<'a>>,
    pub(crate) location: Option<Str<'a>>,
    pub(crate) client_info: Option<Str<'a>>,
    pub(crate) client_info_fb: Option<Str<'a>>,
    /// The event, built in place: the fields that go to it unchanged (first value kept,
    /// the identity's claims, geo) are set on it directly, the rest by [`Builder::finish`].
    /// Why: an `AuditEvent` is about a kilobyte, and building it apart then moving it (into
    /// the `Result`, out of it, its identity out of the builder) cost three copies a record.
    pub(crate) ev: Draft<'a>,
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
pub(crate) fn set<'a>(slot: &mut Option<Str<'a>>, v: Leaf<'a>) {
    if slot.is_none() {
        // Strings, nearly every value, without the general conversion.
        let t = match v {
            Leaf::Str(s) => Some(s),
            v => v.into_text(),
        };
        if let Some(t) = t
            && !t.is_empty()
        {
            *slot = Some(t);
        }
    }
}

pub(crate) fn set_num<'a>(slot: &mut Option<Leaf<'a>>, v: Leaf<'a>) {
    if slot.is_none() && !matches!(v, Leaf::Null) {
        *slot = Some(v);
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
        if let Some(t) = &b.table_type
            && !(t.eq_ignore_ascii_case("AzureDiagnostics")
                || t.eq_ignore_ascii_case("AZKVAuditLogs"))
        {
            return Err((SkipReason::OtherCategory, format!("table {t}")));
        }
        if let (Some(ds), false) = (&b.dataset, category_given)
            && !ds
                .as_bytes()
                .windows(12)
                .any(|w| w.eq_ignore_ascii_case(b"platformlogs"))
        {
            return Err((SkipReason::OtherCategory, format!("dataset {ds}")));
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
        if let Some(p) = id_provider.as_deref().or(provider_ns)
            && !is_name(p, &N_MICROSOFT_KEYVAULT)
        {
            return Err((SkipReason::NotKeyVault, format!("provider {p}")));
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

/// A record walked exactly (the serde walk) with the path mapping `map`, and finished: what
/// the mappings' tests compare.
#[cfg(test)]
pub(crate) fn build<'a>(
    text: &'a str,
    map: fn(&mut Builder<'a>, &str, Leaf<'a>),
) -> Result<AuditEvent<'a>, (SkipReason, String)> {
    let mut b = Builder::default();
    kvsentry_json::walk_text(text, "", &mut |p, l| map(&mut b, p, l)).unwrap();
    b.finish(
        Origin { source: 1, line: 3 },
        &ReadOptions::default(),
        &mut Memo::default(),
    )
    .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::claims::apply_claim;

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
}
