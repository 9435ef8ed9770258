//! Search over the index on both backends: accent-insensitive and prefix words, phrases, the
//! query syntax and its errors, every filter that needs no model (the ML tests cover people,
//! sounds and transcripts), keyset pages, and the index kept current after a rename, a folder
//! rename, the trash and a restore; files from before the index get indexed. The map's clusters
//! and the search's box.

use serde_json::{Value, json};

use crate::common::{Backend, TempDir, TestServer};
use crate::jobs::settled_at;
use crate::media::{path_str, tool};
use crate::on_both_backends;

on_both_backends!(
    search_finds_by_words_and_filters_and_stays_current,
    the_map_clusters_files_where_they_were_taken,
);

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

/// A JPEG taken at `taken` where `latitude` and `longitude` say (none when `None`).
fn photo_at(dir: &TempDir, name: &str, taken: &str, place: Option<(f64, f64)>) -> Vec<u8> {
    let bytes = photo(dir, name, "green", "Apple", "iPhone 15", taken);
    let Some((latitude, longitude)) = place else {
        return bytes;
    };
    let path = dir.path().join(name);
    let tags = [
        format!("-GPSLatitude={}", latitude.abs()),
        format!("-GPSLatitudeRef={}", if latitude < 0.0 { "S" } else { "N" }),
        format!("-GPSLongitude={}", longitude.abs()),
        format!(
            "-GPSLongitudeRef={}",
            if longitude < 0.0 { "W" } else { "E" }
        ),
    ];
    let mut args = vec!["-q", "-overwrite_original"];
    args.extend(tags.iter().map(String::as_str));
    args.push(path_str(&path));
    tool("exiftool", &args);
    std::fs::read(path).unwrap()
}

async fn the_map_clusters_files_where_they_were_taken(backend: Backend) {
    let dir = TempDir::new();
    // The owner chose street-map tiles (off by default: see the places test).
    let srv = TestServer::start_with(backend, |c| {
        c.map_tile_url = Some(
            alcoves::config::SettingValue::parse_setting("https://tiles.example/{z}/{x}/{y}.png")
                .unwrap(),
        );
        c.map_tile_attribution = "© Example".into();
    })
    .await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Travels").await;
    let places = [
        ("paris.jpg", "2024:05:01 10:00:00", Some((48.8566, 2.3522))),
        (
            "versailles.jpg",
            "2024:06:01 10:00:00",
            Some((48.8049, 2.1204)),
        ),
        ("rome.jpg", "2023:04:01 10:00:00", Some((41.9028, 12.4964))),
        ("fiji.jpg", "2022:01:01 10:00:00", Some((-17.7134, 178.065))),
        ("lyon.jpg", "2021:01:01 10:00:00", Some((45.764, 4.8357))),
        ("nowhere.jpg", "2020:01:01 10:00:00", None),
    ];
    let mut ids = std::collections::HashMap::new();
    for (name, taken, place) in places {
        let res = srv
            .upload(&lib, &owner, name, photo_at(&dir, name, taken, place))
            .await;
        assert_eq!(res.status, 201, "{}", res.json);
        let id = res.json["id"].as_str().unwrap().to_owned();
        settled_at(&srv, &lib, &id, &owner, "transcribe").await;
        ids.insert(name, id);
    }
    let trashed = srv
        .post(
            &format!("/api/libraries/{lib}/files/{}/trash", ids["lyon.jpg"]),
            &owner,
            json!({}),
        )
        .await;
    assert_eq!(trashed.status, 200, "{}", trashed.json);
    let map = |query: &str| {
        let path = format!("/api/libraries/{lib}/map?{query}");
        let (srv, owner) = (&srv, &owner);
        async move { srv.get(&path, owner).await }
    };

    // Zoomed out, Paris and Versailles are one marker; the trash and files without a place
    // are not on the map.
    let world = map("zoom=5").await;
    assert_eq!(world.status, 200, "{}", world.json);
    assert_eq!(
        world.json["tileUrl"],
        "https://tiles.example/{z}/{x}/{y}.png"
    );
    assert_eq!(world.json["tileAttribution"], "© Example");
    let clusters = world.json["items"].as_array().unwrap();
    let counts: Vec<i64> = clusters
        .iter()
        .map(|c| c["count"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, [2, 1, 1], "{}", world.json);
    let ile = &clusters[0];
    assert_eq!(
        ile["coverId"],
        ids["versailles.jpg"].as_str(),
        "the newest is the cover"
    );
    assert!(
        (ile["west"].as_f64().unwrap() - 2.1204).abs() < 1e-3,
        "{ile}"
    );
    assert!(
        (ile["east"].as_f64().unwrap() - 2.3522).abs() < 1e-3,
        "{ile}"
    );
    let centre = ile["latitude"].as_f64().unwrap();
    assert!((centre - (48.8566 + 48.8049) / 2.0).abs() < 1e-3, "{ile}");

    // Zoomed in on Paris, they part; what lies outside the box is left out.
    let paris = map("zoom=14&bbox=2.0,48.7,2.5,48.9").await.json;
    let covers: Vec<&str> = paris["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["coverId"].as_str().unwrap())
        .collect();
    assert_eq!(covers.len(), 2, "{paris}");
    assert!(covers.contains(&ids["paris.jpg"].as_str()));
    // A box across the 180th meridian.
    let pacific = map("zoom=3&bbox=170,-30,-170,0").await.json;
    assert_eq!(
        pacific["items"][0]["coverId"],
        ids["fiji.jpg"].as_str(),
        "{pacific}"
    );
    assert_eq!(pacific["items"].as_array().unwrap().len(), 1);

    // A cluster's box lists its files through the search, as a parameter or in the query.
    let bbox = format!(
        "{},{},{},{}",
        ile["west"], ile["south"], ile["east"], ile["north"]
    );
    let (names, _) = search(&srv, &lib, &owner, &format!("bbox={bbox}")).await;
    assert_eq!(names, ["paris.jpg", "versailles.jpg"]);
    let (names, _) = search(
        &srv,
        &lib,
        &owner,
        &format!("q=bbox:{bbox}%20after:2024-06"),
    )
    .await;
    assert_eq!(names, ["versailles.jpg"]);

    for (query, says) in [
        ("bbox=1,2,3", "west,south,east,north"),
        ("bbox=0,0,200,1", "-180 to 180"),
        ("zoom=99", "zoom must be"),
    ] {
        let res = map(query).await;
        assert_eq!(res.status, 400, "{query}: {}", res.json);
        assert!(res.json.to_string().contains(says), "{query}: {}", res.json);
    }
    let res = srv
        .get(&format!("/api/libraries/{lib}/search?bbox=0,5,1,4"), &owner)
        .await;
    assert_eq!(res.status, 400, "{}", res.json);
    assert!(res.json.to_string().contains("south edge"), "{}", res.json);
    srv.stop().await;
}

/// A models dir with nothing in it; [`install_places`] adds the place names.
fn empty_models() -> TempDir {
    TempDir::new()
}

/// Links the place-name data (made by `.ci/install-deps` into the model cache) into `models`.
fn install_places(models: &TempDir) {
    let source = crate::ml::model_cache().join("places");
    assert!(
        source.join("geocode.gz").is_file(),
        "{} has no place names (made by .ci/install-deps)",
        source.display()
    );
    std::os::unix::fs::symlink(source, models.path().join("places")).unwrap();
}

on_both_backends!(places_are_named_offline_shown_and_searched);
async fn places_are_named_offline_shown_and_searched(backend: Backend) {
    let dir = TempDir::new();
    let models = empty_models();
    let models_dir = models.path().to_path_buf();
    let srv = TestServer::start_with(backend, move |c| c.models_dir = Some(models_dir)).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Travels").await;
    let view = |id: &str| {
        let path = format!("/api/libraries/{lib}/files/{id}");
        let (srv, owner) = (&srv, &owner);
        async move { srv.get(&path, owner).await.json }
    };
    let mut ids = std::collections::HashMap::new();
    let taken = [
        ("a.jpg", Some((48.8566, 2.3522))),
        ("b.jpg", Some((41.9028, 12.4964))),
        ("c.jpg", Some((30.0, -40.0))),
        ("d.jpg", None),
    ];
    for (name, place) in taken {
        let res = srv
            .upload(
                &lib,
                &owner,
                name,
                photo_at(&dir, name, "2024:05:01 10:00:00", place),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.json);
        let id = res.json["id"].as_str().unwrap().to_owned();
        settled_at(&srv, &lib, &id, &owner, "transcribe").await;
        ids.insert(name, id);
    }
    // Without the data, nothing is named, and the files are still on the map, which is
    // offline (no tile server) by default.
    assert_eq!(view(&ids["a.jpg"]).await["place"], Value::Null);
    let map = srv
        .get(&format!("/api/libraries/{lib}/map?zoom=2"), &owner)
        .await
        .json;
    assert_eq!(map["items"].as_array().unwrap().len(), 3, "{map}");
    assert_eq!(
        (&map["tileUrl"], &map["tileAttribution"]),
        (&Value::Null, &Value::Null)
    );
    assert!(search(&srv, &lib, &owner, "q=italy").await.0.is_empty());

    // Once it is installed, the files read before are named (at the next start) and indexed.
    install_places(&models);
    let named = alcoves::places::name_missing(&srv.app).await.unwrap();
    assert_eq!(
        named, 2,
        "the Paris and Rome photos; none near the mid-Atlantic one"
    );
    assert_eq!(
        view(&ids["a.jpg"]).await["place"],
        "Paris, Île-de-France, France"
    );
    assert_eq!(view(&ids["b.jpg"]).await["place"], "Rome, Lazio, Italy");
    assert_eq!(
        view(&ids["c.jpg"]).await["place"],
        Value::Null,
        "no town within 100 km"
    );
    assert_eq!(view(&ids["d.jpg"]).await["place"], Value::Null);
    let (names, found) = search(&srv, &lib, &owner, "q=italy").await;
    assert_eq!(names, ["b.jpg"]);
    assert!(
        found["items"][0]["hits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["field"] == "place" && h["text"] == "Rome, Lazio, Italy"),
        "{found}"
    );
    // Accents and case do not matter, and a place name starts a prefix like any word.
    assert_eq!(
        search(&srv, &lib, &owner, "q=ile%20de%20fran").await.0,
        ["a.jpg"]
    );
    assert_eq!(
        alcoves::places::name_missing(&srv.app).await.unwrap(),
        0,
        "nothing is left to name"
    );

    // A photo read with the data installed is named by its metadata stage.
    let res = srv
        .upload(
            &lib,
            &owner,
            "e.jpg",
            photo_at(
                &dir,
                "e.jpg",
                "2024:05:02 10:00:00",
                Some((-17.7134, 178.065)),
            ),
        )
        .await;
    let id = res.json["id"].as_str().unwrap().to_owned();
    settled_at(&srv, &lib, &id, &owner, "transcribe").await;
    assert_eq!(view(&id).await["place"], "Ba, Western, Fiji");
    assert_eq!(search(&srv, &lib, &owner, "q=fiji").await.0, ["e.jpg"]);

    // A share shows the place only when it shows both metadata and location.
    let sharing = srv
        .call(
            "PATCH",
            &format!("/api/libraries/{lib}"),
            &owner,
            Some(json!({ "sharing": true })),
        )
        .await;
    assert_eq!(sharing.status, 200, "{}", sharing.json);
    for (metadata, location, shown) in [
        (true, true, true),
        (true, false, false),
        (false, true, false),
    ] {
        let share = srv
            .post(
                &format!("/api/libraries/{lib}/shares"),
                &owner,
                json!({ "kind": "files", "fileIds": [ids["a.jpg"]], "showMetadata": metadata, "showLocation": location }),
            )
            .await;
        assert_eq!(share.status, 201, "{}", share.json);
        let token = share.json["token"].as_str().unwrap();
        let seen = srv.get(&format!("/api/share/{token}"), "").await.json;
        let place = &seen["items"][0]["place"];
        assert_eq!(
            place.is_string(),
            shown,
            "metadata {metadata}, location {location}: {seen}"
        );
    }
    srv.stop().await;
}
