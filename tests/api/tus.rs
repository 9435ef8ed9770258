//! Resumable uploads (tus 1.0): an upload cut off midway resumes to the identical file.

use std::io::Write;
use std::net::TcpStream;

use base64::Engine;

use crate::common::{Backend, TestServer};
use crate::on_both_backends;

on_both_backends!(interrupted_tus_upload_resumes_to_the_identical_file);

const TUS: (&str, &str) = ("tus-resumable", "1.0.0");

impl TestServer {
    /// Starts a tus upload of `length` bytes; returns its path.
    pub async fn tus_create(&self, library: &str, who: &str, name: &str, length: usize) -> String {
        let meta = format!(
            "filename {}",
            base64::engine::general_purpose::STANDARD.encode(name)
        );
        let res = self
            .raw(
                reqwest::Client::new()
                    .post(format!("{}/api/libraries/{library}/tus", self.base))
                    .header(TUS.0, TUS.1)
                    .header("upload-length", length.to_string())
                    .header("upload-metadata", meta),
                who,
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.json);
        res.headers["location"].to_str().unwrap().to_owned()
    }

    pub async fn tus_patch(
        &self,
        path: &str,
        who: &str,
        offset: usize,
        bytes: Vec<u8>,
    ) -> crate::common::Resp {
        self.raw(
            reqwest::Client::new()
                .patch(format!("{}{path}", self.base))
                .header(TUS.0, TUS.1)
                .header("upload-offset", offset.to_string())
                .header("content-type", "application/offset+octet-stream")
                .body(bytes),
            who,
        )
        .await
    }

    pub async fn tus_offset(&self, path: &str, who: &str) -> (u16, Option<usize>) {
        let res = self
            .raw(
                reqwest::Client::new()
                    .head(format!("{}{path}", self.base))
                    .header(TUS.0, TUS.1),
                who,
            )
            .await;
        let offset = res
            .headers
            .get("upload-offset")
            .map(|v| v.to_str().unwrap().parse().unwrap());
        (res.status, offset)
    }
}

async fn interrupted_tus_upload_resumes_to_the_identical_file(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Videos").await;
    let bytes: Vec<u8> = (0..12 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_246_822_519) >> 23) as u8)
        .collect();
    let len = bytes.len();

    let options = srv
        .raw(
            reqwest::Client::new().request(
                reqwest::Method::OPTIONS,
                format!("{}/api/libraries/{lib}/tus", srv.base),
            ),
            &owner,
        )
        .await;
    assert_eq!(options.status, 204);
    assert_eq!(options.headers["tus-version"], "1.0.0");
    assert!(
        options.headers["tus-extension"]
            .to_str()
            .unwrap()
            .contains("termination")
    );
    let no_version = srv
        .raw(
            reqwest::Client::new()
                .post(format!("{}/api/libraries/{lib}/tus", srv.base))
                .header("upload-length", "5"),
            &owner,
        )
        .await;
    assert_eq!((no_version.status, no_version.code()), (412, "tus_version"));

    let path = srv.tus_create(&lib, &owner, "holiday.mp4", len).await;
    assert_eq!(srv.tus_offset(&path, &owner).await, (200, Some(0)));
    let first = srv
        .tus_patch(&path, &owner, 0, bytes[..3 << 20].to_vec())
        .await;
    assert_eq!(
        (
            first.status,
            first.headers["upload-offset"].to_str().unwrap()
        ),
        (204, "3145728")
    );

    // The Wi-Fi drops halfway through the next piece.
    let addr = srv.base.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "PATCH {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {owner}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: {}\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: {}\r\n\r\n",
        3 << 20,
        4 << 20
    )
    .unwrap();
    stream.write_all(&bytes[3 << 20..5 << 20]).unwrap();
    stream.flush().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    drop(stream);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let (_, offset) = srv.tus_offset(&path, &owner).await;
    let offset = offset.unwrap();
    assert!(
        (3 << 20..=5 << 20).contains(&offset),
        "kept what arrived: {offset}"
    );
    assert_eq!(
        srv.get(&format!("/api/libraries/{lib}/files"), &owner)
            .await
            .json["items"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "nothing visible yet"
    );

    let wrong = srv.tus_patch(&path, &owner, 0, bytes[..10].to_vec()).await;
    assert_eq!((wrong.status, wrong.code()), (409, "offset_mismatch"));
    let tail = len - 1000;
    let most = srv
        .tus_patch(&path, &owner, offset, bytes[offset..tail].to_vec())
        .await;
    assert_eq!(most.status, 204, "{}", most.json);
    let too_much = srv
        .tus_patch(&path, &owner, tail, vec![0u8; len - tail + 1])
        .await;
    assert_eq!(too_much.status, 413);
    let (_, offset) = srv.tus_offset(&path, &owner).await;
    let offset = offset.unwrap();
    assert_eq!(offset, tail, "a refused piece stores nothing");
    let rest = srv
        .tus_patch(&path, &owner, offset, bytes[offset..].to_vec())
        .await;
    assert_eq!(rest.status, 204, "{}", rest.json);
    let file_id = rest.headers["alcoves-file-id"].to_str().unwrap().to_owned();

    let file = srv
        .get(&format!("/api/libraries/{lib}/files/{file_id}"), &owner)
        .await
        .json;
    assert_eq!(file["name"], "holiday.mp4");
    assert_eq!(file["size"], len);
    assert_eq!(file["sha256"], alcoves::digest::sha256_hex(&bytes));
    let (_, _, body) = srv.download(&lib, &file_id, &owner, &[]).await;
    assert!(body == bytes, "resumed upload is byte-identical");
    assert_eq!(srv.tus_offset(&path, &owner).await, (200, Some(len)));
    let again = srv.tus_patch(&path, &owner, len, Vec::new()).await;
    assert_eq!(
        again.headers["alcoves-file-id"].to_str().unwrap(),
        file_id,
        "finishing twice stores one file"
    );
    assert_eq!(
        srv.get(&format!("/api/libraries/{lib}/files"), &owner)
            .await
            .json["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Termination, wrong content type, and the size limit.
    let doomed = srv.tus_create(&lib, &owner, "doomed.bin", 10).await;
    let res = srv
        .raw(
            reqwest::Client::new()
                .delete(format!("{}{doomed}", srv.base))
                .header(TUS.0, TUS.1),
            &owner,
        )
        .await;
    assert_eq!(res.status, 204);
    assert_eq!(srv.tus_offset(&doomed, &owner).await.0, 404);
    let other = srv.tus_create(&lib, &owner, "x.bin", 10).await;
    let res = srv
        .raw(
            reqwest::Client::new()
                .patch(format!("{}{other}", srv.base))
                .header(TUS.0, TUS.1)
                .header("upload-offset", "0")
                .body("x"),
            &owner,
        )
        .await;
    assert_eq!(res.status, 415);
    let huge = srv
        .raw(
            reqwest::Client::new()
                .post(format!("{}/api/libraries/{lib}/tus", srv.base))
                .header(TUS.0, TUS.1)
                .header("upload-length", (1u64 << 60).to_string()),
            &owner,
        )
        .await;
    assert_eq!(huge.status, 413);
    srv.stop().await;
}
