//! What reading a block of text needs ([`Ctx`]), and the end of every container's road:
//! a built record delivered as an event, or noted as skipped.

use kvsentry_model::{AuditEvent, CallerIp, Origin};

use crate::event::{Builder, Memo, SpareOther};
use crate::forms::Keys;
use crate::stats::{ReadStats, SkipReason};
use crate::{LogFormat, ReadOptions};

/// The callback an event is delivered to.
pub(crate) type EventFn<'c> = dyn FnMut(&AuditEvent<'_>) + 'c;

/// What one read of a block of text needs, passed down the container layers.
pub(crate) struct Ctx<'s, 'c> {
    pub(crate) form: LogFormat,
    pub(crate) source: u32,
    pub(crate) opts: &'s ReadOptions,
    pub(crate) stats: &'s mut ReadStats,
    pub(crate) on_event: &'s mut EventFn<'c>,
    /// The path buffer of the fast walk, reused from record to record.
    pub(crate) path: String,
    /// The keys of the records read before, for the keyed walk.
    pub(crate) keys: Keys,
    /// The room of the last record's `Identity::other`, for the next one.
    pub(crate) other: SpareOther,
    /// What the records before told `finish` (times, vaults).
    pub(crate) memo: Memo,
}

pub(crate) fn skip_malformed(ctx: &mut Ctx<'_, '_>, line: u64, e: &serde_json::Error) {
    ctx.stats.form(ctx.form).records += 1;
    let msg = e.to_string();
    let msg = match msg.find(" at line ") {
        Some(i) => &msg[..i],
        None => &msg,
    };
    ctx.stats.skip(
        ctx.source,
        line,
        SkipReason::MalformedJson,
        format!("{msg} (column {})", e.column()),
    );
}

/// Counts the record and delivers it, or notes why not; then keeps the room of its
/// `other` claims for the next record.
pub(crate) fn deliver_row<'a>(ctx: &mut Ctx<'_, '_>, b: &mut Builder<'a>, line: u64) {
    deliver(ctx, b, line);
    b.recycle(&mut ctx.other);
}

fn deliver<'a>(ctx: &mut Ctx<'_, '_>, b: &mut Builder<'a>, line: u64) {
    if b.not_object {
        ctx.stats.form(ctx.form).records += 1;
        ctx.stats.skip(
            ctx.source,
            line,
            SkipReason::NotARecord,
            "a JSON value that is not an object",
        );
        return;
    }
    let origin = Origin {
        source: ctx.source,
        line,
    };
    // The form's counts looked up once (the callback cannot see them in between).
    match b.finish(origin, ctx.opts, &mut ctx.memo) {
        Ok(ev) => {
            if matches!(ev.caller_ip, CallerIp::Invalid(_)) {
                ctx.stats.invalid_caller_ip += 1;
            }
            let form = ctx.stats.form(ctx.form);
            form.records += 1;
            form.events += 1;
            (ctx.on_event)(ev);
        }
        Err((reason, detail)) => {
            ctx.stats.form(ctx.form).records += 1;
            if reason == SkipReason::NotKeyVault && b.managed_hsm {
                ctx.stats.managed_hsm += 1;
            }
            ctx.stats.skip(ctx.source, line, reason, detail)
        }
    }
}
