//! Just enough HTTP/1.1 for the fakes on loopback (`fake_dynamodb`, `runtime_api`): a
//! listener whose task ends with it, one request reader (Content-Length or chunked body),
//! an answer writer, and a forwarder to a real server.

use std::future::Future;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A server on `127.0.0.1` that hands each connection to its own task; it stops accepting
/// when dropped.
pub struct FakeServer {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeServer {
    /// Listens on `port` (0: any free one) and serves every connection with `serve`.
    pub async fn start<F, Fut>(port: u16, serve: F) -> Self
    where
        F: Fn(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind a fake server");
        let addr = listener.local_addr().expect("fake server address");
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn));
            }
        });
        FakeServer { addr, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// One HTTP/1.1 request: its head (request line and headers) and body.
pub struct Request {
    pub head: String,
    pub body: Vec<u8>,
}

impl Request {
    /// The request line, e.g. `GET /path HTTP/1.1`.
    pub fn line(&self) -> &str {
        self.head.lines().next().unwrap_or_default()
    }

    pub fn method(&self) -> &str {
        self.line().split_whitespace().next().unwrap_or_default()
    }

    pub fn path(&self) -> &str {
        self.line().split_whitespace().nth(1).unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Reads more of `conn` into `buf`; `None` at end of stream or on an error.
async fn fill(conn: &mut TcpStream, buf: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 8192];
    let n = conn.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
    buf.extend_from_slice(&chunk[..n]);
    Some(())
}

/// Reads the next request from `conn` (Content-Length or chunked body), keeping what it
/// read beyond it in `buf` for the next call; `None` at end of stream.
pub async fn read_request(conn: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Request> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        fill(conn, buf).await?;
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    buf.drain(..head_end);
    let mut req = Request {
        head,
        body: Vec::new(),
    };
    if req
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let line_end = loop {
                if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                fill(conn, buf).await?;
            };
            let size_text = String::from_utf8_lossy(&buf[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            while buf.len() < line_end + 2 + size + 2 {
                fill(conn, buf).await?;
            }
            req.body
                .extend_from_slice(&buf[line_end + 2..line_end + 2 + size]);
            buf.drain(..line_end + 2 + size + 2);
            if size == 0 {
                return Some(req);
            }
        }
    }
    let len: usize = req
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < len {
        fill(conn, buf).await?;
    }
    req.body = buf.drain(..len).collect();
    Some(req)
}

/// An answer: `status` (e.g. `200 OK`), `headers`, a Content-Length and `body`.
pub fn answer(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

/// Writes [`answer`] to `conn`; `false` when the client has gone.
pub async fn respond(
    conn: &mut TcpStream,
    status: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> bool {
    conn.write_all(&answer(status, headers, body)).await.is_ok()
}

/// Reads and discards until the client closes the connection: an answer that never comes.
pub async fn drain(conn: &mut TcpStream) {
    let mut sink = [0u8; 1024];
    while matches!(conn.read(&mut sink).await, Ok(n) if n > 0) {}
}

/// Forwards `req` to `upstream` on a connection of its own and returns the answer, marked
/// `Connection: close` so that the client does not reuse the connection.
pub async fn forward(req: &Request, upstream: SocketAddr) -> std::io::Result<Vec<u8>> {
    fn with_close(head: &str) -> String {
        let mut lines: Vec<&str> = head
            .trim_end()
            .lines()
            .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
            .collect();
        lines.push("Connection: close");
        format!("{}\r\n\r\n", lines.join("\r\n"))
    }
    let mut conn = TcpStream::connect(upstream).await?;
    conn.write_all(with_close(&req.head).as_bytes()).await?;
    conn.write_all(&req.body).await?;
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await?;
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("the upstream answer has no head"))?;
    let mut out = with_close(&String::from_utf8_lossy(&answer[..end])).into_bytes();
    out.extend_from_slice(&answer[end + 4..]);
    Ok(out)
}
