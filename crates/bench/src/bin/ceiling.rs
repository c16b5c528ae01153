//! The ceiling for HTTP benchmarks: the smallest useful hyper server, on the same runtime and
//! HTTP stack `scorelet serve` uses (tokio multi-thread, hyper http1, keep-alive), answering
//! every request with a fixed JSON body after reading the request body. Whatever it sustains is
//! the most any scoring server could on this machine with this load generator.
//!
//! `ceiling ADDR` — prints `listening on ADDR` once bound, then serves until killed.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

/// A prediction answer of the size scorelet returns for one row.
const BODY: &[u8] =
    br#"{"model":{"name":"churn","version":"unpublished"},"predictions":[{"label":"Yes","probability":0.631151}]}"#;

async fn answer(req: hyper::Request<Incoming>) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    // Read the body as a real server must; its content is not looked at.
    let _ = req.into_body().collect().await;
    Ok(hyper::Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(BODY)))
        .expect("a valid response"))
}

fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".into());
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(&addr).await.unwrap_or_else(|e| {
            eprintln!("error: cannot listen on {addr}: {e}");
            std::process::exit(1)
        });
        println!("listening on {}", listener.local_addr().expect("a bound address"));
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), hyper::service::service_fn(answer))
                    .await;
            });
        }
    });
}
