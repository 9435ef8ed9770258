//! The timeline in day buckets: counts and aspect ratios per day agree with the file list,
//! days follow the client's offset from UTC, filters and the trash are respected, a day's lean
//! items carry placeholders and thumbnail versions, and a versioned thumbnail is cached for
//! good. Photos are made in the test with ImageMagick and exiftool.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Backend, TempDir, TestServer};
use crate::jobs::settled_at;
use crate::media::{path_str, tool};
use crate::on_both_backends;

on_both_backends!(the_timeline_comes_in_day_buckets);

/// A `width` x `height` JPEG taken at `taken` (EXIF, no offset), as `name` in `dir`.
fn photo(dir: &TempDir, name: &str, width: u32, height: u32, taken: &str) -> Vec<u8> {
    let out = dir.path().join(name);
    let size = format!("{width}x{height}");
    tool(
        "convert",
        &["-size", &size, "plasma:red-blue", path_str(&out)],
    );
    let date = format!("-DateTimeOriginal={taken}");
    tool(
        "exiftool",
        &["-q", "-overwrite_original", &date, path_str(&out)],
    );
    std::fs::read(out).unwrap()
}

/// The bucket list for `query` (after `?`).
async fn buckets(srv: &TestServer, lib: &str, who: &str, query: &str) -> Vec<Value> {
    let res = srv
        .get(
            &format!("/api/libraries/{lib}/timeline/buckets?{query}"),
            who,
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.json);
    res.json["buckets"].as_array().unwrap().clone()
}

/// (day, count) of each bucket.
fn days(buckets: &[Value]) -> Vec<(String, u64)> {
    buckets
        .iter()
        .map(|b| {
            (
                b["day"].as_str().unwrap().to_owned(),
                b["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

async fn the_timeline_comes_in_day_buckets(backend: Backend) {
    let dir = TempDir::new();
    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Timeline").await;
    let morning = photo(&dir, "morning.jpg", 640, 480, "2024:05:06 07:08:09");
    let fixtures = [
        ("morning.jpg", morning.clone()),
        ("morning-copy.jpg", morning),
        (
            "late.jpg",
            photo(&dir, "late.jpg", 300, 600, "2024:05:06 23:30:00"),
        ),
        (
            "new-year.jpg",
            photo(&dir, "new-year.jpg", 400, 400, "2023:12:31 12:00:00"),
        ),
        (
            "old.jpg",
            photo(&dir, "old.jpg", 200, 100, "2022:01:01 10:00:00"),
        ),
    ];
    let mut ids = std::collections::HashMap::new();
    for (name, bytes) in fixtures {
        let res = srv.upload(&lib, &owner, name, bytes).await;
        assert_eq!(res.status, 201, "{name}: {}", res.json);
        ids.insert(name, res.json["id"].as_str().unwrap().to_owned());
    }

    // Once every job has run, each day's items are settled, with placeholders.
    let day = format!("/api/libraries/{lib}/timeline/bucket/2024-05-06");
    let mut items = Value::Null;
    for _ in 0..1200 {
        items = srv.get(&day, &owner).await.json["items"].clone();
        let settled = items.as_array().is_some_and(|items| {
            items.len() == 3
                && items
                    .iter()
                    .all(|i| i["processing"] == false && i["thumbVersion"].is_i64())
        });
        if settled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let items = items.as_array().unwrap_or_else(|| panic!("{items}"));
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(
        items[0]["id"],
        json!(ids["late.jpg"]),
        "newest first: {items:?}"
    );
    assert_eq!(
        (
            items[0]["width"].clone(),
            items[0]["height"].clone(),
            items[0]["kind"].clone()
        ),
        (json!(300), json!(600), json!("photo"))
    );
    assert_eq!(items[0]["isDuplicate"], false);
    assert!(
        items[1..].iter().all(|i| i["isDuplicate"] == true),
        "{items:?}"
    );
    for item in items {
        assert_eq!(item["processing"], false, "{item}");
        let hash = item["thumbhash"]
            .as_str()
            .unwrap_or_else(|| panic!("{item}"));
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(hash)
            .unwrap();
        assert!(bytes.len() >= 5, "a ThumbHash: {item}");
        assert!(item.get("name").is_none(), "lean items only: {item}");
    }

    // The bucket list: every live file once, newest day first, ratios in the items' order
    // (once every file's date is read: until then a file counts on the day it came).
    for id in ids.values() {
        settled_at(&srv, &lib, id, &owner, "metadata").await;
    }
    let all = buckets(&srv, &lib, &owner, "").await;
    assert_eq!(
        days(&all),
        [
            ("2024-05-06".to_owned(), 3),
            ("2023-12-31".to_owned(), 1),
            ("2022-01-01".to_owned(), 1)
        ]
    );
    assert_eq!(all[0]["ratios"], json!([0.5, 1.333, 1.333]));
    assert_eq!(all[2]["ratios"], json!([2.0]));
    let listed = srv
        .get(&format!("/api/libraries/{lib}/files?limit=100"), &owner)
        .await
        .json;
    let total: u64 = days(&all).iter().map(|(_, n)| n).sum();
    assert_eq!(total as usize, listed["items"].as_array().unwrap().len());

    // Per month, for very long timelines: the same files and ratios, and a month's items.
    let months = buckets(&srv, &lib, &owner, "size=month").await;
    assert_eq!(
        days(&months),
        [
            ("2024-05".to_owned(), 3),
            ("2023-12".to_owned(), 1),
            ("2022-01".to_owned(), 1)
        ]
    );
    assert_eq!(months[0]["ratios"], all[0]["ratios"]);
    // Twelve hours east of UTC, the New Year's Eve photo is taken in January.
    assert_eq!(
        days(&buckets(&srv, &lib, &owner, "size=month&tz=720").await),
        [
            ("2024-05".to_owned(), 3),
            ("2024-01".to_owned(), 1),
            ("2022-01".to_owned(), 1)
        ]
    );
    let may = srv
        .get(
            &format!("/api/libraries/{lib}/timeline/bucket/2024-05"),
            &owner,
        )
        .await;
    assert_eq!(may.status, 200, "{}", may.json);
    let ids_of = |items: &Value| -> Vec<Value> {
        items
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].clone())
            .collect()
    };
    assert_eq!(
        ids_of(&may.json["items"]),
        ids_of(&Value::Array(items.clone()))
    );
    let res = srv
        .get(
            &format!("/api/libraries/{lib}/timeline/buckets?size=week"),
            &owner,
        )
        .await;
    assert_eq!(res.status, 400, "{}", res.json);

    // An hour east of UTC, the late photo falls on the next day.
    assert_eq!(
        days(&buckets(&srv, &lib, &owner, "tz=60").await)[..2],
        [("2024-05-07".to_owned(), 1), ("2024-05-06".to_owned(), 2)]
    );
    let next_day = srv
        .get(
            &format!("/api/libraries/{lib}/timeline/bucket/2024-05-07?tz=60"),
            &owner,
        )
        .await;
    assert_eq!(next_day.json["items"][0]["id"], json!(ids["late.jpg"]));

    // Filters narrow both; the trash leaves the timeline and comes back on restore.
    assert_eq!(
        days(&buckets(&srv, &lib, &owner, "q=new-year").await),
        [("2023-12-31".to_owned(), 1)]
    );
    assert!(buckets(&srv, &lib, &owner, "kind=video").await.is_empty());
    let filtered = srv.get(&format!("{day}?q=copy"), &owner).await;
    assert_eq!(
        filtered.json["items"].as_array().unwrap().len(),
        1,
        "{}",
        filtered.json
    );
    let old = format!("/api/libraries/{lib}/files/{}", ids["old.jpg"]);
    assert_eq!(
        srv.post(&format!("{old}/trash"), &owner, json!({}))
            .await
            .status,
        200
    );
    assert_eq!(buckets(&srv, &lib, &owner, "").await.len(), 2);
    assert_eq!(
        buckets(&srv, &lib, &owner, "trashed=true").await.len(),
        2,
        "the timeline never lists the trash"
    );
    assert_eq!(
        srv.post(&format!("{old}/restore"), &owner, json!({}))
            .await
            .status,
        200
    );
    assert_eq!(buckets(&srv, &lib, &owner, "").await.len(), 3);

    // Bad days and offsets are refused by name.
    for bad in ["2024-02-30", "yesterday", "2024-5-6", "2024-13", "2024"] {
        let res = srv
            .get(
                &format!("/api/libraries/{lib}/timeline/bucket/{bad}"),
                &owner,
            )
            .await;
        assert_eq!(res.status, 400, "{bad}: {}", res.json);
    }
    let res = srv.get(&format!("{day}?tz=900"), &owner).await;
    assert_eq!(res.status, 400);
    assert!(
        res.json["message"].as_str().unwrap_or("").contains("tz"),
        "{}",
        res.json
    );

    // A thumbnail asked for by its current version is cached for good; any other is not.
    let late = &items[0];
    let thumb = format!(
        "/api/libraries/{lib}/files/{}/thumbnails/timeline",
        ids["late.jpg"]
    );
    let cache_control = |headers: &reqwest::header::HeaderMap| {
        headers[reqwest::header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let version = late["thumbVersion"].as_i64().unwrap();
    let (status, headers, _) = srv
        .fetch(&format!("{thumb}?v={version}"), &owner, &[])
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        cache_control(&headers),
        "private, max-age=31536000, immutable"
    );
    for other in [String::new(), format!("?v={}", version + 1)] {
        let (status, headers, _) = srv.fetch(&format!("{thumb}{other}"), &owner, &[]).await;
        assert_eq!(status, 200);
        assert!(!cache_control(&headers).contains("immutable"), "{other}");
    }

    // On this day: the same date in earlier years, newest first.
    let memories = |day: &'static str| {
        let (srv, lib, owner) = (&srv, &lib, &owner);
        async move {
            let res = srv
                .get(&format!("/api/libraries/{lib}/memories?day={day}"), owner)
                .await;
            assert_eq!(res.status, 200, "{}", res.json);
            res.json["years"]
                .as_array()
                .unwrap()
                .iter()
                .map(|y| {
                    let n = y["items"].as_array().unwrap().len();
                    (
                        y["year"].as_i64().unwrap(),
                        y["yearsAgo"].as_i64().unwrap(),
                        n,
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(memories("2026-05-06").await, [(2024, 2, 3)]);
    assert_eq!(memories("2027-01-01").await, [(2022, 5, 1)]);
    assert_eq!(memories("2026-12-31").await, [(2023, 3, 1)]);
    assert!(memories("2026-07-01").await.is_empty());
    assert!(
        memories("2024-05-06").await.is_empty(),
        "this year is not a memory"
    );
    srv.stop().await;
}
