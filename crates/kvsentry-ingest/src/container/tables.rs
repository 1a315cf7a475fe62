//! The Log Analytics REST API's `tables` shape (`{"tables":[{"columns":[...],"rows":[...]}]}`):
//! each row becomes a record under its column names.

use std::borrow::Cow;

use kvsentry_json::{LineCounter, walk_text};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::ctx::{Ctx, deliver_row, skip_malformed};
use crate::event::Builder;
use crate::forms::azure::map_azure;
use crate::text::column_key;

#[derive(Deserialize)]
struct Column<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Table<'a> {
    #[serde(default, borrow)]
    columns: Vec<Column<'a>>,
    #[serde(default, borrow)]
    rows: Vec<Vec<&'a RawValue>>,
}

/// A Log Analytics REST `tables` element: each row becomes a record under its column names.
pub(super) fn handle_table(ctx: &mut Ctx<'_, '_>, text: &str, lines: &mut LineCounter<'_>) {
    let table: Table<'_> = match serde_json::from_str(text) {
        Ok(t) => t,
        Err(e) => {
            let l = lines.line_of(text);
            skip_malformed(ctx, l, &e);
            return;
        }
    };
    let names: Vec<String> = table.columns.iter().map(|c| column_key(&c.name)).collect();
    for row in &table.rows {
        let line = lines.line_of(row.first().map_or(text, |c| c.get()));
        let mut b = Builder::default();
        b.adopt_other(&mut ctx.other);
        let mut bad = None;
        for (name, cell) in names.iter().zip(row) {
            if let Err(e) = walk_text(cell.get(), name, &mut |p, l| map_azure(&mut b, p, l)) {
                bad = Some(e);
            }
        }
        match bad {
            Some(e) => skip_malformed(ctx, line, &e),
            None => deliver_row(ctx, &mut b, line),
        }
    }
}
