//! What `finish` remembers from record to record of a block: parsed times and split
//! resource ids, each exact (the same answer as computing it again).

use std::borrow::Cow;

use kvsentry_model::{Str, Vault};

use super::resource_id::vault_of;
use crate::time::TimeMemo;

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
        if let Some(Some((seen, spans))) = self.slots.get(h)
            && seen.as_slice() == b
        {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::resource_id::MAX_SEGMENTS;

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
}
