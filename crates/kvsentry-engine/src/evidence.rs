//! Evidence: the events an alert cites, in the order of events whatever their arrival, and
//! how their origins are named.
//!
//! An event's [`Origin`] is `{ source, line }`: for a file, the index of the input in the
//! run's list of inputs and the line (1-based; 0 when the form has no lines, e.g. a JSON
//! document's records). A source that is not a file (a stream partition, a blob) fills them
//! alike: `source` numbers the input among the run's (its name is the caller's, see
//! [`EvidenceSource`]) and `line` is a position that grows along it (an offset, a record
//! number). The engine only orders by them and hands them back: equal times are broken by
//! origin, so an input re-read gives the same alerts.

use std::sync::Arc;

use kvsentry_model::Origin;

/// Names the source of an evidence event (`file:line`) from its origin.
pub type EvidenceSource = Arc<dyn Fn(&Origin) -> Option<String> + Send + Sync>;

/// A source naming function from the run's list of inputs: origin `{source: i, line: n}`
/// becomes `"<names[i]>:<n>"`.
pub fn evidence_from_names(names: Vec<String>) -> EvidenceSource {
    Arc::new(move |o: &Origin| {
        let name = names.get(usize::try_from(o.source).ok()?)?;
        Some(if o.line > 0 {
            format!("{name}:{}", o.line)
        } else {
            name.clone()
        })
    })
}

/// Time, source, line, arrival: the order of events whatever their arrival order.
pub(crate) type OrderKey = (i64, u32, u64, u64);

/// The origin an [`OrderKey`] was made from.
pub(crate) fn origin_of(key: &OrderKey) -> Origin {
    Origin {
        source: key.1,
        line: key.2,
    }
}

/// One evidence event (ordered by its key alone, so a heap keeps the earliest). `S` is how
/// its strings are held: a threshold group's as ranges of the group's text, an indicator
/// pair's owned.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Ev<S> {
    pub key: OrderKey,
    pub operation: Option<S>,
    pub correlation_id: Option<S>,
}

impl<S> PartialEq for Ev<S> {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key
    }
}
impl<S> Eq for Ev<S> {}
impl<S> PartialOrd for Ev<S> {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<S> Ord for Ev<S> {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.key.cmp(&o.key)
    }
}
