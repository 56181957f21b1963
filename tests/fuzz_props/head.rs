//! A readable text form of a request head for the callback targets, and an
//! independent reading of the forwarding headers to check the crate's
//! HTTPS decisions against.
//!
//! ```text
//! POST /api/signature-callback        <- method and request target
//! x-utilsio-origin: utilsio.dev       <- header lines, repeats kept in order
//! x-forwarded-proto: https
//! @peer: 10.0.0.1:443                 <- the TCP peer (PeerAddr), optional
//! @tls                                <- TLS terminated in-process, optional
//!                                     <- empty line
//! {"deviceId": ...}                   <- body, the rest of the input
//! ```
//!
//! A line that is not a valid header (bad name or value bytes) is dropped;
//! an invalid method or target makes the whole input uninteresting.

use std::net::{IpAddr, SocketAddr};

use http::header::{FORWARDED, HeaderName};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use tower_signing::utilsio::{HttpsPolicy, PeerAddr, TlsConnected};

/// A parsed head.
#[derive(Debug, Clone)]
pub struct Head {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub peer: Option<SocketAddr>,
    pub tls: bool,
}

impl Head {
    /// Reads a head and the body that follows it; `None` for an invalid
    /// method or target.
    pub fn parse(data: &[u8]) -> Option<(Head, &[u8])> {
        let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
            Some(i) => (&data[..i], &data[i + 2..]),
            None => (data, &[][..]),
        };
        let mut lines = head
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let request_line = lines.next().unwrap_or_default();
        let (method, target) = match request_line.iter().position(|&b| b == b' ') {
            Some(i) => (&request_line[..i], &request_line[i + 1..]),
            None => (request_line, &b"/api/signature-callback"[..]),
        };
        let mut parsed = Head {
            method: Method::from_bytes(method).ok()?,
            uri: Uri::try_from(target).ok()?,
            headers: HeaderMap::new(),
            peer: None,
            tls: false,
        };
        for line in lines {
            if line == b"@tls" {
                parsed.tls = true;
                continue;
            }
            if let Some(addr) = line.strip_prefix(b"@peer: ") {
                parsed.peer = std::str::from_utf8(addr).ok().and_then(|a| a.parse().ok());
                continue;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let value = &line[colon + 1..];
            let value = value.strip_prefix(b" ").unwrap_or(value);
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(&line[..colon]),
                HeaderValue::from_bytes(value),
            ) {
                parsed.headers.append(name, value);
            }
        }
        Some((parsed, body))
    }

    /// The request with `body`, the `TlsConnected` and `PeerAddr` extensions
    /// set as the head says.
    pub fn request<B>(&self, body: B) -> Request<B> {
        let mut request = Request::new(body);
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        if self.tls {
            request.extensions_mut().insert(TlsConnected);
        }
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(PeerAddr(peer));
        }
        request
    }

    /// The request's parts (no body).
    pub fn parts(&self) -> Parts {
        self.request(()).into_parts().0
    }
}

/// The trusted proxies of the fixture policy that has some.
pub const TRUSTED: &[&str] = &["10.0.0.0/8", "127.0.0.1/32", "::1/128", "2001:db8::/32"];

/// `HttpsPolicy::required()` with [`TRUSTED`] proxies.
pub fn trusting_policy() -> HttpsPolicy {
    HttpsPolicy::required()
        .with_trusted_proxies(TRUSTED.iter().map(|net| net.parse().expect("fixture CIDR")))
}

/// Whether `addr` is in [`TRUSTED`], checked here.
pub fn is_trusted(addr: IpAddr) -> bool {
    TRUSTED
        .iter()
        .any(|net| net.parse::<Cidr>().expect("fixture CIDR").contains(addr))
}

/// An IPv4 or IPv6 CIDR range, so that membership is not checked with the
/// crate's own type.
pub struct Cidr(IpAddr, u32);

impl std::str::FromStr for Cidr {
    type Err = ();
    fn from_str(s: &str) -> Result<Cidr, ()> {
        let (base, bits) = s.split_once('/').ok_or(())?;
        Ok(Cidr(
            base.parse().map_err(|_| ())?,
            bits.parse().map_err(|_| ())?,
        ))
    }
}

impl Cidr {
    /// Whether `addr` (IPv4-mapped IPv6 read as IPv4) is in the range.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.0, addr.to_canonical()) {
            (IpAddr::V4(b), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - self.1).unwrap_or(0);
                u32::from(b) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(b), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - self.1).unwrap_or(0);
                u128::from(b) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// The forwarding headers as read here, independently of the crate.
#[derive(Debug)]
pub struct Forwarding {
    /// Every comma-separated `X-Forwarded-Proto` item of every line, trimmed.
    pub xfp: Vec<String>,
    /// The `Forwarded` elements of every line, each with its `proto` values
    /// (unquoted), or `None` when a line has an unterminated quote.
    pub forwarded: Option<Vec<Vec<String>>>,
}

impl Forwarding {
    pub fn read(headers: &HeaderMap) -> Forwarding {
        let xfp = headers
            .get_all("x-forwarded-proto")
            .iter()
            .flat_map(|v| v.as_bytes().split(|&b| b == b','))
            .map(|item| String::from_utf8_lossy(item).trim().to_owned())
            .collect();
        let forwarded = headers
            .get_all(FORWARDED)
            .iter()
            .map(|line| forwarded_elements(line.as_bytes()))
            .collect::<Option<Vec<_>>>()
            .map(|lines| lines.concat());
        Forwarding { xfp, forwarded }
    }
}

/// Splits one `Forwarded` line into elements (`,`) of `name=value` pairs
/// (`;`), a value quoted or not, and keeps each element's `proto` values.
/// `None` on an unterminated quoted string (a value is quoted only when `"`
/// follows `=` at once: `= "x` is a plain, if odd, value). A name without a
/// value is skipped, the more lenient reading, so that this bounds what the
/// crate may accept.
fn forwarded_elements(line: &[u8]) -> Option<Vec<Vec<String>>> {
    let text = String::from_utf8_lossy(line);
    let mut chars = text.chars().peekable();
    let mut elements = vec![Vec::new()];
    loop {
        let mut name = String::new();
        while let Some(c) = chars.next_if(|c| !matches!(c, '=' | ';' | ',')) {
            name.push(c);
        }
        let mut value = None;
        if chars.next_if_eq(&'=').is_some() {
            let mut v = String::new();
            if chars.next_if_eq(&'"').is_some() {
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => v.push(chars.next()?),
                        c => v.push(c),
                    }
                }
            }
            while let Some(c) = chars.next_if(|c| !matches!(c, ';' | ',')) {
                v.push(c);
            }
            value = Some(v);
        }
        if let Some(value) = value
            && name.trim().eq_ignore_ascii_case("proto")
        {
            elements
                .last_mut()
                .expect("one element")
                .push(value.trim().to_owned());
        }
        match chars.next() {
            Some(',') => elements.push(Vec::new()),
            Some(_) => {}
            None => return Some(elements),
        }
    }
}

fn is_https(value: &str) -> bool {
    value.eq_ignore_ascii_case("https")
}

/// What the strict policy (no trusted proxies) may accept, without TLS:
/// at most one scheme value in the whole head (one `X-Forwarded-Proto`
/// item, one `Forwarded` element with at most one `proto`), at least one,
/// and each of them `https`.
pub fn strict_may_accept(f: &Forwarding) -> bool {
    let Some(forwarded) = &f.forwarded else {
        return false;
    };
    let xfp_ok = f.xfp.len() <= 1 && f.xfp.iter().all(|p| is_https(p));
    let fwd_ok = forwarded.len() <= 1 && forwarded.iter().all(|e| e.len() <= 1);
    let protos: Vec<&String> = f.xfp.iter().chain(forwarded.iter().flatten()).collect();
    xfp_ok && fwd_ok && !protos.is_empty() && protos.iter().all(|p| is_https(p))
}

/// What a policy with trusted proxies may accept from a trusted peer,
/// without TLS: the rightmost `X-Forwarded-Proto` item and the last
/// `Forwarded` element's single `proto`, where present, are `https`, and
/// one of them is present.
pub fn trusted_may_accept(f: &Forwarding) -> bool {
    let Some(forwarded) = &f.forwarded else {
        return false;
    };
    let last_xfp = f.xfp.last();
    let last_fwd = match forwarded.last().map(Vec::as_slice) {
        None | Some([]) => None,
        Some([one]) => Some(one),
        Some(_) => return false,
    };
    (last_xfp.is_some() || last_fwd.is_some())
        && last_xfp.is_none_or(|p| is_https(p))
        && last_fwd.is_none_or(|p| is_https(p))
}
