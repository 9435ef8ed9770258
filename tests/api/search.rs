//! Search over the index on both backends: accent-insensitive and prefix words, phrases, the
//! query syntax and its errors, every filter that needs no model (the ML tests cover people,
//! sounds and transcripts), keyset pages, and the index kept current after a rename, a folder
//! rename, the trash and a restore; files from before the index get indexed.

use serde_json::{Value, json};

use crate::common::{Backend, TempDir, TestServer};
use crate::jobs::settled_at;
use crate::media::{path_str, tool};
use crate::on_both_backends;

on_both_backends!(search_finds_by_words_and_filters_and_stays_current);

/// A JPEG with a camera and a capture time in its EXIF.
fn photo(dir: &TempDir, name: &str, colour: &str, make: &str, model: &str, taken: &str) -> Vec<u8> {
    let out = dir.path().join(name);
    tool(
        "convert",
        &["-size", "64x48", &format!("xc:{colour}"), path_str(&out)],
    );
    let tags = [
        format!("-Make={make}"),
        format!("-Model={model}"),
        format!("-DateTimeOriginal={taken}"),
    ];
    let mut args = vec!["-q", "-overwrite_original"];
    args.extend(tags.iter().map(String::as_str));
    args.push(path_str(&out));
    tool("exiftool", &args);
    std::fs::read(out).unwrap()
}

/// The names of what `query` (URL-encoded) finds, and the whole answer.
async fn search(srv: &TestServer, lib: &str, who: &str, query: &str) -> (Vec<String>, Value) {
    let res = srv
        .get(&format!("/api/libraries/{lib}/search?{query}"), who)
        .await;
    assert_eq!(res.status, 200, "{query}: {}", res.json);
    let mut names = Vec::new();
    for item in res.json["items"].as_array().unwrap() {
        let id = item["file"]["id"].as_str().unwrap();
        let file = srv
            .get(&format!("/api/libraries/{lib}/files/{id}"), who)
            .await;
        assert_eq!(
            item["name"], file.json["name"],
            "results carry the file's name"
        );
        names.push(file.json["name"].as_str().unwrap().to_owned());
    }
    names.sort();
    (names, res.json)
}

async fn search_finds_by_words_and_filters_and_stays_current(backend: Backend) {
    let dir = TempDir::new();
    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Search").await;
    let beach = photo(
        &dir,
        "beach.jpg",
        "blue",
        "NIKON",
        "Z 6",
        "2023:08:01 10:00:00",
    );
    let fixtures = [
        (
            "Café de Flore.jpg",
            photo(
                &dir,
                "cafe.jpg",
                "brown",
                "Canon",
                "EOS R5",
                "2024:05:06 07:08:09",
            ),
        ),
        ("beach.jpg", beach.clone()),
        ("beach-copy.jpg", beach),
    ];
    let mut ids = std::collections::HashMap::new();
    for (name, bytes) in fixtures {
        let res = srv.upload(&lib, &owner, name, bytes).await;
        assert_eq!(res.status, 201, "{}", res.json);
        let id = res.json["id"].as_str().unwrap().to_owned();
        settled_at(&srv, &lib, &id, &owner, "waveform").await;
        ids.insert(name, id);
    }
    let folders = format!("/api/libraries/{lib}/folders");
    let trips = srv
        .post(&folders, &owner, json!({ "name": "Trips" }))
        .await
        .json;
    let paris = srv
        .post(
            &folders,
            &owner,
            json!({ "name": "Paris", "parentId": trips["id"] }),
        )
        .await
        .json;
    let cafe = format!("/api/libraries/{lib}/files/{}", ids["Café de Flore.jpg"]);
    let moved = srv
        .call(
            "PATCH",
            &cafe,
            &owner,
            Some(json!({ "folderId": paris["id"] })),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.json);

    let names = |query: &'static str| {
        let (srv, lib, owner) = (&srv, &lib, &owner);
        async move { search(srv, lib, owner, query).await.0 }
    };
    let cafe_only = ["Café de Flore.jpg".to_owned()];
    let beaches = ["beach-copy.jpg".to_owned(), "beach.jpg".to_owned()];

    // Words: without accents, as prefixes, in any field; phrases in order.
    let (found, answer) = search(&srv, &lib, &owner, "q=cafe").await;
    assert_eq!(found, cafe_only);
    assert_eq!(
        answer["items"][0]["hits"][0],
        json!({ "field": "name", "text": "Café de Flore.jpg", "startMs": null, "endMs": null })
    );
    assert_eq!(names("q=CAF%20flo").await, cafe_only);
    assert_eq!(names("q=%22de%20flore%22").await, cafe_only);
    assert!(names("q=%22flore%20de%22").await.is_empty());
    assert!(names("q=xylophone").await.is_empty());
    let (found, answer) = search(&srv, &lib, &owner, "q=canon").await;
    assert_eq!(found, cafe_only);
    assert_eq!(answer["items"][0]["hits"][0]["field"], "camera", "{answer}");
    assert_eq!(
        names("q=may%202024").await,
        cafe_only,
        "dates are words too"
    );
    assert_eq!(names("q=paris").await, cafe_only, "and the folder path");

    // Filters, alone, together and as parameters.
    assert_eq!(names("q=camera:eos").await, cafe_only);
    assert_eq!(names("q=after:2024").await, cafe_only);
    assert_eq!(names("q=before:2023-12").await, beaches);
    assert_eq!(
        names("q=after:2023-08-01%20before:2023-08-01").await,
        beaches
    );
    assert_eq!(names("q=is:duplicate").await, beaches);
    assert_eq!(
        names("q=folder:trips").await,
        cafe_only,
        "with its subfolders"
    );
    assert_eq!(names("q=folder:%22Trips/Paris%22").await, cafe_only);
    assert!(
        names("q=folder:trip").await.is_empty(),
        "whole folder names"
    );
    assert_eq!(names("q=kind:photo%20beach").await, beaches);
    assert!(names("q=kind:video").await.is_empty());
    assert_eq!(
        names("camera=nikon&q=copy").await,
        ["beach-copy.jpg".to_owned()]
    );

    // Keyset pages: every file once.
    let first = srv
        .get(
            &format!("/api/libraries/{lib}/search?q=jpg&limit=2"),
            &owner,
        )
        .await
        .json;
    let cursor = first["nextCursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let second = srv
        .get(
            &format!("/api/libraries/{lib}/search?q=jpg&limit=2&cursor={cursor}"),
            &owner,
        )
        .await
        .json;
    let mut all: Vec<Value> = [&first, &second]
        .iter()
        .flat_map(|p| {
            p["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["file"]["id"].clone())
        })
        .collect();
    all.sort_by_key(|v| v.to_string());
    all.dedup();
    assert_eq!(all.len(), 3);
    assert!(second["nextCursor"].is_null());

    // Bad syntax gets a 400 that names the problem.
    for (query, names) in [
        ("q=colour:red", "colour:"),
        ("q=%22happy%20birthday", "quote is not closed"),
        ("q=after:2024-13", "after:2024-13"),
        ("q=has:cats", "has:cats"),
        ("kind=picture", "kind:picture"),
        ("q=%20", "nothing to look for"),
        ("q=cafe&tz=1000", "tz"),
    ] {
        let res = srv
            .get(&format!("/api/libraries/{lib}/search?{query}"), &owner)
            .await;
        assert_eq!(res.status, 400, "{query}: {}", res.json);
        let message = res.json["message"].as_str().unwrap_or("");
        assert!(message.contains(names), "{query}: {message}");
    }

    // The index follows renames, folder renames, the trash and restores.
    let beach_file = format!("/api/libraries/{lib}/files/{}", ids["beach.jpg"]);
    let renamed = srv
        .call(
            "PATCH",
            &beach_file,
            &owner,
            Some(json!({ "name": "sunset.jpg" })),
        )
        .await;
    assert_eq!(renamed.status, 200);
    assert_eq!(names("q=sunset").await, ["sunset.jpg".to_owned()]);
    assert_eq!(names("q=beach").await, ["beach-copy.jpg".to_owned()]);
    let trips_path = format!("{folders}/{}", trips["id"].as_str().unwrap());
    let res = srv
        .call(
            "PATCH",
            &trips_path,
            &owner,
            Some(json!({ "name": "Voyages" })),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.json);
    assert_eq!(names("q=folder:voyages/paris").await, cafe_only);
    assert!(names("q=folder:trips").await.is_empty());
    assert_eq!(
        srv.post(&format!("{cafe}/trash"), &owner, json!({}))
            .await
            .status,
        200
    );
    assert!(
        names("q=cafe").await.is_empty(),
        "the trash is not searched"
    );
    assert_eq!(
        srv.post(&format!("{cafe}/restore"), &owner, json!({}))
            .await
            .status,
        200
    );
    assert_eq!(names("q=cafe").await, cafe_only);

    // Files from before the index (documents gone) are indexed again.
    {
        use diesel_async::RunQueryDsl;
        let mut conn = srv.app.db.conn().await.unwrap();
        match &mut conn {
            alcoves::db::Conn::Pg(c) => {
                diesel::sql_query("DELETE FROM search_docs")
                    .execute(c)
                    .await
            }
            alcoves::db::Conn::Sqlite(c) => {
                diesel::sql_query("DELETE FROM search_docs")
                    .execute(c)
                    .await
            }
        }
        .unwrap();
    }
    assert!(names("q=cafe").await.is_empty());
    assert_eq!(
        alcoves::search::index_missing(&srv.app.db).await.unwrap(),
        3
    );
    assert_eq!(names("q=cafe").await, cafe_only);
    srv.stop().await;
}
