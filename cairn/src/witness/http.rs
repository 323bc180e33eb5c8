//! HTTP/1 for the witness, on hyper: the server of `POST /add-checkpoint`
//! and the client that submits to one. Bodies are capped at [`MAX_BODY`].

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};

use super::Service;

/// The largest request or response body: a checkpoint note, 63 proof lines
/// and some signatures fit many times over.
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// How long a client waits for the witness.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves the witness on `listen` until interrupted. Prints
/// `witness <vkey> listening on <addr>` on stdout once bound.
pub(crate) async fn serve(listen: &str, service: Arc<Service>) -> anyhow::Result<()> {
    let listener =
        TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    println!("witness {} listening on {addr}", service.verifier_key());
    {
        use std::io::Write as _;
        std::io::stdout().flush()?;
    }
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let service = service.clone();
        let _connection = tokio::spawn(async move {
            let handler = service_fn(move |request| handle(service.clone(), request));
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), handler)
                .await;
            if let Err(e) = served {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }
}

/// Answers one request.
async fn handle(
    service: Arc<Service>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.uri().path() != "/add-checkpoint" {
        return Ok(answer(404, "text/plain; charset=utf-8", "not found\n".into()));
    }
    if request.method() != Method::POST {
        return Ok(answer(405, "text/plain; charset=utf-8", "use POST\n".into()));
    }
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let too_large = e.downcast_ref::<http_body_util::LengthLimitError>().is_some();
            let (status, text) = if too_large {
                (413, format!("the body is larger than {MAX_BODY} bytes\n"))
            } else {
                (400, "cannot read the body\n".to_owned())
            };
            return Ok(answer(status, "text/plain; charset=utf-8", text));
        }
    };
    let timestamp = crate::clock::now_ms() / 1000;
    // The check writes and fsyncs the state file: off the async workers.
    let answered =
        tokio::task::spawn_blocking(move || service.add_checkpoint(&body, timestamp)).await;
    Ok(match answered {
        Ok((status, content_type, text)) => answer(status, content_type, text),
        Err(_) => answer(500, "text/plain; charset=utf-8", "internal error\n".into()),
    })
}

fn answer(status: u16, content_type: &'static str, text: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let _ =
        response.headers_mut().insert(CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    response
}

/// The `add-checkpoint` URI of the witness at `url` and its host, or why
/// `url` is not a witness URL.
pub(crate) fn endpoint(url: &str) -> anyhow::Result<(Uri, http::uri::Authority)> {
    let uri: Uri = format!("{}/add-checkpoint", url.trim_end_matches('/'))
        .parse()
        .with_context(|| format!("{url} is not a URL"))?;
    if uri.scheme_str() != Some("http") {
        bail!("the witness URL {url} must start with http://");
    }
    let Some(authority) = uri.authority().cloned() else {
        bail!("the witness URL {url} has no host");
    };
    Ok((uri, authority))
}

/// A witness's answer to the client: status, content type and body.
#[derive(Debug)]
pub(crate) struct Reply {
    /// The HTTP status code.
    pub(crate) status: u16,
    /// The `Content-Type`, if any.
    pub(crate) content_type: String,
    /// The body, as text.
    pub(crate) text: String,
}

/// Posts an `add-checkpoint` body to the witness at `url` (`http://host:port`
/// with an optional path prefix).
pub(crate) async fn post_add_checkpoint(url: &str, body: String) -> anyhow::Result<Reply> {
    let (uri, authority) = endpoint(url)?;
    let port = authority.port_u16().unwrap_or(80);
    let exchange = async {
        let stream = TcpStream::connect((authority.host(), port))
            .await
            .with_context(|| format!("cannot connect to the witness at {url}"))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        let _connection = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("witness connection ended: {e}");
            }
        });
        let path = uri.path_and_query().map_or("/add-checkpoint", |p| p.as_str());
        let request = Request::post(path)
            .header(HOST, authority.as_str())
            .header(CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from(body)))?;
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| anyhow::format_err!("cannot read the witness's answer: {e}"))?
            .to_bytes();
        let text =
            String::from_utf8(bytes.to_vec()).context("the witness's answer is not UTF-8")?;
        anyhow::Ok(Reply { status, content_type, text })
    };
    tokio::time::timeout(CLIENT_TIMEOUT, exchange)
        .await
        .with_context(|| format!("the witness at {url} did not answer in time"))?
}
