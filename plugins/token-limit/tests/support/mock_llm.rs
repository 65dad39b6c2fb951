//! A mock LLM upstream on a real TCP socket: OpenAI (chat and Responses), Qwen (DashScope native
//! and compatible mode) and Anthropic, as JSON or SSE, with known usage. The usage event of a
//! stream is sent in several TCP writes split inside the JSON. Like the real APIs, OpenAI-style
//! streams carry usage only when the request asks for `stream_options.include_usage`. A gate
//! can hold responses (all of them, or a stream after its first event) until the test opens it;
//! after the gate a stream can send `tail` more text events first, or be cut (`cut=1`: the
//! connection closes with no further byte, as an upstream reset).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Longest a gated response waits for the test.
const GATE_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Default)]
struct State {
    arrivals: AtomicUsize,
    gate: Mutex<bool>,
    opened: Condvar,
    finished_streams: AtomicUsize,
    bodies: Mutex<Vec<Vec<u8>>>,
    headers: Mutex<Vec<Vec<(String, String)>>>,
    stop: AtomicBool,
}

/// The running mock; its accept thread ends on drop.
pub struct MockLlm {
    addr: SocketAddr,
    state: Arc<State>,
}

impl MockLlm {
    pub fn start() -> MockLlm {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let st = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                std::thread::spawn(move || serve(conn, &st));
            }
        });
        MockLlm { addr, state }
    }

    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Requests that reached the upstream so far.
    pub fn arrivals(&self) -> usize {
        self.state.arrivals.load(Ordering::SeqCst)
    }

    /// Streams whose last byte was written.
    pub fn finished_streams(&self) -> usize {
        self.state.finished_streams.load(Ordering::SeqCst)
    }

    /// Request bodies received, in order.
    pub fn bodies(&self) -> Vec<Vec<u8>> {
        self.state.bodies.lock().unwrap().clone()
    }

    /// Request headers received (lower-case names), in order.
    pub fn headers(&self) -> Vec<Vec<(String, String)>> {
        self.state.headers.lock().unwrap().clone()
    }

    /// Lets every held response go.
    pub fn open_gate(&self) {
        *self.state.gate.lock().unwrap() = true;
        self.state.opened.notify_all();
    }

    /// Holds responses again.
    pub fn close_gate(&self) {
        *self.state.gate.lock().unwrap() = false;
    }
}

impl Drop for MockLlm {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        self.open_gate();
        let _ = TcpStream::connect(self.addr);
    }
}

fn wait_gate(state: &State) {
    let guard = state.gate.lock().unwrap();
    let _ = state.opened.wait_timeout_while(guard, GATE_TIMEOUT, |open| !*open).unwrap();
}

struct Request {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let path = line.split_whitespace().nth(1)?.to_string();
    let (mut length, mut chunked) = (0usize, false);
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        headers.push((k.clone(), v.to_string()));
        if k == "content-length" {
            length = v.parse().ok()?;
        } else if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
            chunked = true;
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    }
    Some(Request { path, headers, body })
}

fn serve(conn: TcpStream, state: &State) {
    let _ = conn.set_nodelay(true);
    let Ok(write_half) = conn.try_clone() else { return };
    let mut reader = BufReader::new(conn);
    let mut out = write_half;
    while let Some(req) = read_request(&mut reader) {
        state.arrivals.fetch_add(1, Ordering::SeqCst);
        state.bodies.lock().unwrap().push(req.body.clone());
        state.headers.lock().unwrap().push(req.headers.clone());
        if respond(&mut out, &req, state).is_err() {
            return;
        }
    }
}

fn query(path: &str, name: &str) -> Option<u64> {
    let q = path.split_once('?')?.1;
    q.split('&').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
}

/// The SSE events (each already framed) and JSON body of a format, with usage `i`/`o`.
fn stream_events(format: &str, i: u64, o: u64, include_usage: bool) -> Vec<String> {
    let t = i + o;
    let ev = |name: &str, data: String| {
        if name.is_empty() { format!("data: {data}\n\n") } else { format!("event: {name}\ndata: {data}\n\n") }
    };
    match format {
        "openai" | "qwen-compat" => {
            let mut events = vec![
                ev("", r#"{"choices":[{"index":0,"delta":{"content":"Hello"}}],"usage":null}"#.into()),
                ev("", r#"{"choices":[{"index":0,"delta":{"content":" world"}}],"usage":null}"#.into()),
            ];
            if include_usage {
                events.push(ev("", format!(r#"{{"choices":[],"usage":{{"prompt_tokens":{i},"completion_tokens":{o},"total_tokens":{t}}}}}"#)));
            }
            events.push(ev("", "[DONE]".into()));
            events
        }
        "qwen" => (1..=3)
            .map(|k| {
                let out = o * k / 3;
                format!(
                    "id:{k}\nevent:result\n:HTTP_STATUS/200\ndata:{{\"output\":{{\"text\":\"x\"}},\"usage\":{{\"input_tokens\":{i},\"output_tokens\":{out},\"total_tokens\":{}}}}}\n\n",
                    i + out
                )
            })
            .collect(),
        "anthropic" => vec![
            ev("message_start", format!(r#"{{"type":"message_start","message":{{"id":"m","usage":{{"input_tokens":{i},"output_tokens":1}}}}}}"#)),
            ev("content_block_delta", r#"{"type":"content_block_delta","delta":{"type":"text_delta","text":"Hello"}}"#.into()),
            ev("ping", r#"{"type":"ping"}"#.into()),
            ev("message_delta", format!(r#"{{"type":"message_delta","delta":{{"stop_reason":"end_turn"}},"usage":{{"output_tokens":{o}}}}}"#)),
            ev("message_stop", r#"{"type":"message_stop"}"#.into()),
        ],
        "responses" => vec![
            ev("response.created", r#"{"type":"response.created","response":{"usage":null}}"#.into()),
            ev("response.output_text.delta", r#"{"type":"response.output_text.delta","delta":"Hi"}"#.into()),
            ev("response.completed", format!(r#"{{"type":"response.completed","response":{{"usage":{{"input_tokens":{i},"output_tokens":{o},"total_tokens":{t}}}}}}}"#)),
        ],
        _ => vec![ev("", "not json at all".into())],
    }
}

fn json_body(format: &str, i: u64, o: u64) -> String {
    let t = i + o;
    match format {
        "openai" | "qwen-compat" => format!(
            r#"{{"id":"c","choices":[{{"message":{{"content":"hi"}}}}],"usage":{{"prompt_tokens":{i},"completion_tokens":{o},"total_tokens":{t}}}}}"#
        ),
        "qwen" => format!(
            r#"{{"output":{{"text":"hi"}},"usage":{{"input_tokens":{i},"output_tokens":{o},"total_tokens":{t}}},"request_id":"r"}}"#
        ),
        "anthropic" => format!(
            r#"{{"id":"m","type":"message","content":[{{"type":"text","text":"hi"}}],"usage":{{"input_tokens":{i},"output_tokens":{o}}}}}"#
        ),
        "responses" => format!(
            r#"{{"object":"response","output":[],"usage":{{"input_tokens":{i},"output_tokens":{o},"total_tokens":{t}}}}}"#
        ),
        _ => "{}".into(),
    }
}

fn write_chunk(out: &mut TcpStream, data: &[u8]) -> std::io::Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    out.write_all(format!("{:x}\r\n", data.len()).as_bytes())?;
    out.write_all(data)?;
    out.write_all(b"\r\n")?;
    out.flush()
}

/// Writes `data` as separate chunks cut at `cuts` (byte offsets), pausing briefly so they
/// leave as separate TCP segments.
fn write_split(out: &mut TcpStream, data: &[u8], cuts: &[usize]) -> std::io::Result<()> {
    let mut start = 0;
    for &c in cuts.iter().chain(std::iter::once(&data.len())) {
        let c = c.clamp(start, data.len());
        write_chunk(out, &data[start..c])?;
        start = c;
        std::thread::sleep(Duration::from_millis(3));
    }
    Ok(())
}

fn respond(out: &mut TcpStream, req: &Request, state: &State) -> std::io::Result<()> {
    let path = req.path.as_str();
    let format = path.trim_start_matches('/').split(['/', '?']).next().unwrap_or_default().to_string();
    // `/v1/...` (no format segment) answers as OpenAI with the usage of Higress's README demo.
    let (format, (i0, o0)) = if format == "v1" { ("openai".to_string(), (13, 33)) } else { (format, (10, 20)) };
    let (i, o) = (query(path, "in").unwrap_or(i0), query(path, "out").unwrap_or(o0));
    let doc = serde_json::from_slice::<serde_json::Value>(&req.body).ok();
    let stream = doc.as_ref().and_then(|v| v.get("stream")).and_then(serde_json::Value::as_bool).unwrap_or(false);
    let include_usage = doc
        .as_ref()
        .and_then(|v| v.pointer("/stream_options/include_usage"))
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    if query(path, "hold") == Some(1) {
        wait_gate(state);
    }
    if format == "bad" {
        return respond_bad(out, path);
    }
    if !stream {
        let body = json_body(&format, i, o);
        let head =
            format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", body.len());
        out.write_all(head.as_bytes())?;
        return out.write_all(body.as_bytes());
    }
    out.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")?;
    let events = stream_events(&format, i, o, include_usage);
    for (k, event) in events.iter().enumerate() {
        if k == 1 && query(path, "gate") == Some(1) {
            if query(path, "cut") == Some(1) {
                // An upstream reset after the first event: the connection closes mid-body.
                return out.shutdown(std::net::Shutdown::Both);
            }
            for _ in 0..query(path, "tail").unwrap_or(0) {
                write_chunk(
                    out,
                    b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" more\"}}],\"usage\":null}\n\n",
                )?;
                std::thread::sleep(Duration::from_millis(3));
            }
        }
        let bytes = event.as_bytes();
        match event.find("usage\":{") {
            // The usage event goes out in three writes: inside the key and inside a number.
            Some(pos) if !event.contains("\"usage\":null") => write_split(out, bytes, &[pos + 2, pos + 20])?,
            _ => write_chunk(out, bytes)?,
        }
        if k == 0 && query(path, "gate") == Some(1) {
            wait_gate(state);
        }
    }
    out.write_all(b"0\r\n\r\n")?;
    out.flush()?;
    state.finished_streams.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

fn respond_bad(out: &mut TcpStream, path: &str) -> std::io::Result<()> {
    let kind = path.trim_start_matches("/bad/").split(['/', '?']).next().unwrap_or_default();
    let (status, ctype, body): (u16, &str, String) = match kind {
        "html" => (200, "text/html", "<html>gateway timeout</html>".into()),
        "truncated" => {
            (200, "text/event-stream", "data: {\"choices\":[]}\n\ndata: {\"usage\":{\"prompt_tokens\":5,\"compl".into())
        }
        "negative" => (200, "application/json", r#"{"usage":{"prompt_tokens":-5,"completion_tokens":-1}}"#.into()),
        "huge" => (
            200,
            "application/json",
            r#"{"usage":{"prompt_tokens":1e300,"completion_tokens":99999999999999999999999999}}"#.into(),
        ),
        "binary" => {
            (200, "text/event-stream", String::from_utf8_lossy(&[0xff, 0xfe, b'\n', b'\n', 0x00, b'd']).into_owned())
        }
        _ => (500, "application/json", r#"{"error":{"message":"upstream exploded"}}"#.into()),
    };
    let head = format!("HTTP/1.1 {status} X\r\ncontent-type: {ctype}\r\ntransfer-encoding: chunked\r\n\r\n");
    out.write_all(head.as_bytes())?;
    write_split(out, body.as_bytes(), &[body.len() / 2])?;
    out.write_all(b"0\r\n\r\n")?;
    out.flush()
}
