//! Bodies through the filter chain: the downstream request body (also while a 0_2_100 filter
//! holds the request headers and takes the body first), the response body, and trailers that end
//! either.

use std::rc::Rc;

use bytes::Bytes;
use hyper::body::{Frame, Incoming};

use crate::body::BodyTx;
use crate::http::frontend::Frontend;
use crate::http::stream::{Chain, Dir, Interrupt, Source};
use crate::services::upstream::read_frame;
use crate::values::Headers;

/// Request body bytes that already went through filters `..through` (held headers let the body
/// reach those filters before the later ones saw the headers).
#[derive(Debug, Default)]
pub(crate) struct Carry {
    data: Vec<u8>,
    ended: bool,
    through: usize,
    buffers: Vec<Vec<u8>>,
}

/// Filter `at` returned StopIteration from its request headers hook under ABI 0_2_100: as in
/// Higress, the headers wait while the body flows into filters `..=at`, until filter `at` lets
/// body data through (its body hook returns Continue, or resumes after a pause at the end).
pub(crate) async fn hold_headers(
    chain: &Chain,
    at: usize,
    body: &mut Incoming,
    carry: &mut Carry,
) -> Result<(), Interrupt> {
    let mut buffers = std::mem::take(&mut carry.buffers);
    buffers.resize(chain.len(), Vec::new());
    let mut out: Option<Vec<u8>> = None;
    let mut ended = carry.ended;
    // What earlier held filters let through reaches the filters up to `at` first.
    if !carry.data.is_empty() || carry.ended {
        let tail: Vec<usize> = (carry.through..=at).collect();
        out = chain.body_chunk(Dir::Request, &tail, &mut buffers, std::mem::take(&mut carry.data), carry.ended).await?;
    }
    let order: Vec<usize> = (0..=at).collect();
    while out.is_none() && !ended {
        match read_frame(body).await {
            Err(e) => return Err(Interrupt::Reset(format!("downstream body: {e}"))),
            Ok(None) => {
                ended = true;
                out = chain.body_chunk(Dir::Request, &order, &mut buffers, Vec::new(), true).await?;
            }
            Ok(Some(frame)) => match frame.into_data() {
                Ok(data) => {
                    ended = hyper::body::Body::is_end_stream(&*body);
                    out = chain.body_chunk(Dir::Request, &order, &mut buffers, data.to_vec(), ended).await?;
                }
                Err(frame) => {
                    if let Ok(t) = frame.into_trailers() {
                        let (data, _) =
                            chain.end_with_trailers(Dir::Request, &order, &mut buffers, trailer_list(&t)).await?;
                        out = Some(data);
                        ended = true;
                    }
                }
            },
        }
    }
    *carry = Carry { data: out.unwrap_or_default(), ended, through: at + 1, buffers };
    Ok(())
}

async fn forward(tx: &BodyTx, data: Option<Vec<u8>>) -> bool {
    match data {
        Some(d) if !d.is_empty() => tx.send(Ok(Frame::data(Bytes::from(d)))).await.is_ok(),
        _ => true,
    }
}

async fn forward_trailers(tx: &BodyTx, trailers: &Headers) -> bool {
    let mut map = hyper::HeaderMap::new();
    for (k, v) in trailers {
        if let (Ok(k), Ok(v)) = (hyper::header::HeaderName::from_bytes(k), hyper::header::HeaderValue::from_bytes(v)) {
            map.append(k, v);
        }
    }
    tx.send(Ok(Frame::trailers(map))).await.is_ok()
}

async fn reset(tx: &BodyTx, why: &str) {
    let _ = tx.send(Err(std::io::Error::other(why.to_string()))).await;
}

fn trailer_list(t: &hyper::HeaderMap) -> Headers {
    t.iter().map(|(k, v)| (k.as_str().as_bytes().to_vec(), v.as_bytes().to_vec())).collect()
}

/// Reads the downstream request body and runs it through the request body hooks (after what
/// `carry` holds, which only the filters from `carry.through` still have to see). Request
/// trailers end the body for the filters; like Envoy's HTTP/1 upstream codec by default, they
/// are not sent to the (HTTP/1.1) upstream.
pub(crate) async fn pump_request(
    chain: Rc<Chain>,
    mut body: Incoming,
    tx: BodyTx,
    carry: Carry,
) -> Result<(), Interrupt> {
    let order: Vec<usize> = (0..chain.len()).collect();
    let Carry { data, ended, through, mut buffers } = carry;
    buffers.resize(order.len(), Vec::new());
    if through > 0 {
        let tail: Vec<usize> = (through..order.len()).collect();
        let out = chain.body_chunk(Dir::Request, &tail, &mut buffers, data, ended).await?;
        forward(&tx, out).await;
        if ended {
            return Ok(());
        }
    }
    loop {
        match read_frame(&mut body).await {
            Err(e) => {
                reset(&tx, "downstream body error").await;
                return Err(Interrupt::Reset(format!("downstream body: {e}")));
            }
            Ok(None) => {
                let out = chain.body_chunk(Dir::Request, &order, &mut buffers, Vec::new(), true).await?;
                forward(&tx, out).await;
                return Ok(());
            }
            Ok(Some(frame)) => match frame.into_data() {
                Ok(data) => {
                    let eos = hyper::body::Body::is_end_stream(&body);
                    let out = chain.body_chunk(Dir::Request, &order, &mut buffers, data.to_vec(), eos).await?;
                    forward(&tx, out).await;
                    if eos {
                        return Ok(());
                    }
                }
                Err(frame) => {
                    if let Ok(t) = frame.into_trailers() {
                        let (data, _trailers) =
                            chain.end_with_trailers(Dir::Request, &order, &mut buffers, trailer_list(&t)).await?;
                        forward(&tx, Some(data)).await;
                        return Ok(());
                    }
                }
            },
        }
    }
}

/// Streams the response body through the response body hooks to the client; response
/// trailers end it (and reach the client when it speaks HTTP/2).
pub(crate) async fn pump_response(
    chain: Rc<Chain>,
    order: Vec<usize>,
    source: Source,
    tx: BodyTx,
    worker: Option<Rc<Frontend>>,
) {
    let mut buffers = vec![Vec::new(); chain.len()];
    match source {
        Source::Fixed(body) => match chain.body_chunk(Dir::Response, &order, &mut buffers, body, true).await {
            Ok(out) => {
                forward(&tx, out).await;
            }
            Err(_) => reset(&tx, "local reply after response headers").await,
        },
        Source::Upstream(mut incoming, mut lease) => loop {
            match read_frame(&mut incoming).await {
                Err(e) => {
                    reset(&tx, &format!("upstream body: {e}")).await;
                    return;
                }
                Ok(None) => {
                    if let (Some(w), Some(l)) = (&worker, lease.take()) {
                        w.services.upstream.release(l);
                    }
                    match chain.body_chunk(Dir::Response, &order, &mut buffers, Vec::new(), true).await {
                        Ok(out) => {
                            forward(&tx, out).await;
                        }
                        Err(_) => reset(&tx, "local reply after response headers").await,
                    }
                    break;
                }
                Ok(Some(frame)) => match frame.into_data() {
                    Ok(data) => {
                        let eos = hyper::body::Body::is_end_stream(&incoming);
                        if eos && let (Some(w), Some(l)) = (&worker, lease.take()) {
                            w.services.upstream.release(l);
                        }
                        match chain.body_chunk(Dir::Response, &order, &mut buffers, data.to_vec(), eos).await {
                            Ok(out) => {
                                if !forward(&tx, out).await {
                                    return;
                                }
                            }
                            Err(_) => {
                                reset(&tx, "local reply after response headers").await;
                                return;
                            }
                        }
                        if eos {
                            break;
                        }
                    }
                    Err(frame) => {
                        if let Ok(t) = frame.into_trailers() {
                            if let (Some(w), Some(l)) = (&worker, lease.take()) {
                                w.services.upstream.release(l);
                            }
                            match chain.end_with_trailers(Dir::Response, &order, &mut buffers, trailer_list(&t)).await {
                                Ok((data, trailers)) => {
                                    if forward(&tx, Some(data)).await {
                                        forward_trailers(&tx, &trailers).await;
                                    }
                                }
                                Err(_) => reset(&tx, "local reply after response headers").await,
                            }
                            return;
                        }
                    }
                },
            }
        },
    }
}
