//! The PostgreSQL and SQLite migration trees hold the same migrations with the same SQL.
//!
//! Both trees are written as one schema (ids TEXT, times BIGINT milliseconds, flags BOOLEAN), so
//! the SQL is compared almost verbatim. Each up.sql and down.sql is normalised first: `--`
//! comments are removed, the text outside '…' literals is uppercased, whitespace runs become one
//! space (none around `(` and `,`, nor before `)`) and it is split into statements at `;`. Then
//! the known type mapping, [`TYPE_MAPPING`], rewrites the PostgreSQL side's types (whole words) to
//! their SQLite forms:
//!
//! | PostgreSQL         | SQLite |
//! |--------------------|--------|
//! | `DOUBLE PRECISION` | `REAL` |
//! | `BYTEA`            | `BLOB` |
//!
//! Nothing else differs today: BOOLEAN with `DEFAULT FALSE`, BIGINT, INTEGER, TEXT, CHECK,
//! REFERENCES … ON DELETE, partial (`WHERE is_owner`) and expression indexes, and ALTER TABLE
//! ADD/DROP COLUMN are the same text in both dialects. Add a pair to the mapping when a migration
//! needs another type (UUID, TIMESTAMPTZ, JSONB, …). A migration whose SQL really has to differ
//! (an SQLite table rebuild instead of ALTER COLUMN, say) is named in [`EXCEPTIONS`] with the
//! reason; its text is not compared, so keep such a migration down to the change that needs it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::TempDir;

/// (PostgreSQL form, SQLite form), uppercase; applied to the PostgreSQL side as whole words.
const TYPE_MAPPING: &[(&str, &str)] = &[("DOUBLE PRECISION", "REAL"), ("BYTEA", "BLOB")];

/// (migration, why its two dialects need different SQL): its text is not compared.
const EXCEPTIONS: &[(&str, &str)] = &[
    (
        "2026-12-06-000017_search",
        "the full-text index is each backend's own: an FTS5 table kept by triggers on SQLite, a \
         generated tsvector column with a GIN index on PostgreSQL",
    ),
    (
        "2026-12-07-000018_text_vectors",
        "ids that only grow: AUTOINCREMENT on SQLite, BIGSERIAL on PostgreSQL; and a hash index \
         on PostgreSQL, whose btree entries are too small for a long transcript line",
    ),
    (
        "2026-12-07-000019_places",
        "the backfill reads the GPS from the JSON: json_extract on SQLite, jsonb operators on \
         PostgreSQL",
    ),
];

const FILES: [&str; 2] = ["up.sql", "down.sql"];

fn roots() -> (PathBuf, PathBuf) {
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    (migrations.join("postgres"), migrations.join("sqlite"))
}

/// The migration folder names under `root`.
fn migrations(root: &Path) -> BTreeSet<String> {
    std::fs::read_dir(root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().into_string().unwrap())
        .collect()
}

/// Migrations present in one tree only, and migrations without an up.sql or a down.sql.
fn layout_problems(postgres: &Path, sqlite: &Path) -> Vec<String> {
    let (pg, lite) = (migrations(postgres), migrations(sqlite));
    let mut problems: Vec<String> = pg
        .symmetric_difference(&lite)
        .map(|name| {
            let only = if pg.contains(name) {
                "postgres"
            } else {
                "sqlite"
            };
            format!("{name}: only in the {only} tree")
        })
        .collect();
    for (root, names) in [(postgres, &pg), (sqlite, &lite)] {
        for name in names {
            for file in FILES {
                let path = root.join(name).join(file);
                if !path.is_file() {
                    problems.push(format!("{} is missing", path.display()));
                }
            }
        }
    }
    problems
}

/// `text` with every whole-word `from` replaced by `to`.
fn replace_word(text: &str, from: &str, to: &str) -> String {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let (mut out, mut copied) = (String::new(), 0);
    for (at, _) in text.match_indices(from) {
        let end = at + from.len();
        if !word(text[..at].chars().next_back()) && !word(text[end..].chars().next()) {
            out.push_str(&text[copied..at]);
            out.push_str(to);
            copied = end;
        }
    }
    out + &text[copied..]
}

/// The file's statements, normalised as the module comment says.
fn statements(path: &Path, postgres: bool) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let code: Vec<&str> = text
        .lines()
        .map(|l| l.split("--").next().unwrap())
        .collect();
    let joined = code.join(" ");
    let parts: Vec<String> = (joined.split('\'').enumerate())
        .map(|(i, part)| {
            if i % 2 == 0 {
                part.to_uppercase()
            } else {
                part.to_owned()
            }
        })
        .collect(); // odd parts are inside '…'
    let mut sql = parts.join("'");
    sql = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    for (spaced, tight) in [
        (" (", "("),
        ("( ", "("),
        (" )", ")"),
        (" ,", ","),
        (", ", ","),
    ] {
        sql = sql.replace(spaced, tight);
    }
    if postgres {
        for (pg, lite) in TYPE_MAPPING {
            sql = replace_word(&sql, pg, lite);
        }
    }
    sql.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// For each migration in both trees (exceptions aside) and each of its files, the first
/// statement that differs after normalising.
fn text_problems(postgres: &Path, sqlite: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for name in migrations(postgres).intersection(&migrations(sqlite)) {
        if EXCEPTIONS.iter().any(|(m, _)| m == name) {
            continue;
        }
        for file in FILES {
            let (path_pg, path_lite) =
                (postgres.join(name).join(file), sqlite.join(name).join(file));
            if !path_pg.is_file() || !path_lite.is_file() {
                continue; // a layout problem
            }
            let (pg, lite) = (statements(&path_pg, true), statements(&path_lite, false));
            if let Some(i) = (0..pg.len().max(lite.len())).find(|&i| pg.get(i) != lite.get(i)) {
                let none = String::from("(none)");
                problems.push(format!(
                    "{name}/{file}, statement {}:\n  postgres: {}\n  sqlite:   {}",
                    i + 1,
                    pg.get(i).unwrap_or(&none),
                    lite.get(i).unwrap_or(&none),
                ));
            }
        }
    }
    problems
}

#[test]
fn both_trees_hold_the_same_migrations() {
    let (postgres, sqlite) = roots();
    let problems = layout_problems(&postgres, &sqlite);
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn both_trees_hold_the_same_sql() {
    let (postgres, sqlite) = roots();
    let problems = text_problems(&postgres, &sqlite);
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn type_mapping_replaces_whole_words_only() {
    assert_eq!(
        replace_word("X BYTEA, Y BYTEA_2", "BYTEA", "BLOB"),
        "X BLOB, Y BYTEA_2"
    );
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// The comparison catches a column added to one tree only, and a missing down.sql.
#[test]
fn a_difference_in_a_scratch_copy_is_reported() {
    let scratch = TempDir::new();
    let (postgres, sqlite) = (
        scratch.path().join("postgres"),
        scratch.path().join("sqlite"),
    );
    copy_tree(&roots().0, &postgres);
    copy_tree(&roots().1, &sqlite);
    assert!(text_problems(&postgres, &sqlite).is_empty());

    let up = sqlite.join("2026-11-28-000002_files/up.sql");
    let text = std::fs::read_to_string(&up).unwrap();
    let altered = text.replacen(
        "    size BIGINT NOT NULL,\n",
        "    size BIGINT NOT NULL,\n    rating INTEGER,\n",
        1,
    );
    assert_ne!(altered, text);
    std::fs::write(&up, altered).unwrap();
    let problems = text_problems(&postgres, &sqlite);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("2026-11-28-000002_files/up.sql, statement 3:"),
        "{}",
        problems[0]
    );
    assert!(
        problems[0].contains("SIZE BIGINT NOT NULL,RATING INTEGER,"),
        "{}",
        problems[0]
    );

    std::fs::remove_file(postgres.join("2026-12-02-000010_job_updates/down.sql")).unwrap();
    let problems = layout_problems(&postgres, &sqlite);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].ends_with("2026-12-02-000010_job_updates/down.sql is missing"));
}

/// Every exception names a migration whose text still differs, so none outlives its reason.
#[test]
fn exceptions_are_still_needed() {
    let (postgres, sqlite) = roots();
    for (name, why) in EXCEPTIONS {
        let differs = FILES.iter().any(|file| {
            let (pg, lite) = (postgres.join(name).join(file), sqlite.join(name).join(file));
            statements(&pg, true) != statements(&lite, false)
        });
        assert!(
            differs,
            "{name} is listed as an exception ({why}) but its SQL matches"
        );
    }
}
