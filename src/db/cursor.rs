//! Keyset paging: a page ends at a position (a sort time and an id) and the next page starts
//! after it, so deep pages cost what the first one does and concurrent inserts shift nothing.

/// Position after the last row of a page: the time it is sorted by (newest first), ties
/// broken by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub at: i64,
    pub id: String,
}

impl Cursor {
    /// The opaque text form handed to clients.
    pub fn encode(&self) -> String {
        format!("{}_{}", self.at, self.id)
    }

    /// Parses the text form; `None` for anything else.
    pub fn decode(text: &str) -> Option<Cursor> {
        let (at, id) = text.split_once('_')?;
        let at = at.parse().ok()?;
        uuid::Uuid::parse_str(id).ok()?;
        Some(Cursor {
            at,
            id: id.to_owned(),
        })
    }

    /// Cuts `rows`, read with one row more than `limit`, to one page; the cursor of the next
    /// page when there is one, from the last row kept.
    pub fn next_page<T>(
        rows: &mut Vec<T>,
        limit: i64,
        at: impl Fn(&T) -> Cursor,
    ) -> Option<Cursor> {
        if rows.len() as i64 <= limit {
            return None;
        }
        rows.truncate(limit as usize);
        rows.last().map(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = Cursor {
            at: 1_700_000_000_000,
            id: "5f0c7c5e-8a55-4d8e-9d1c-3c1f6d1b2a10".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        for bad in [
            "",
            "_",
            "12",
            "x_5f0c7c5e-8a55-4d8e-9d1c-3c1f6d1b2a10",
            "12_not-a-uuid",
            "12_' OR 1=1",
        ] {
            assert!(Cursor::decode(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_page_is_cut_at_its_limit() {
        let key = |n: &i64| Cursor {
            at: *n,
            id: String::new(),
        };
        let mut rows = vec![5, 4, 3];
        assert_eq!(Cursor::next_page(&mut rows, 2, key).map(|c| c.at), Some(4));
        assert_eq!(rows, [5, 4]);
        let mut rows = vec![5, 4];
        assert_eq!(Cursor::next_page(&mut rows, 2, key), None);
        assert_eq!(rows, [5, 4]);
    }
}
