//! Whether a request came over HTTPS, and who sent it, as far as the
//! connection and the forwarding headers the deployment trusts can tell.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http::{Extensions, HeaderMap, HeaderValue, header};
use ipnet::IpNet;

/// Request extension: the connection was TLS-terminated by this process
/// (a rustls acceptor in front of hyper). Such a request counts as HTTPS
/// without any header.
///
/// ```
/// use tower_signing::utilsio::TlsConnected;
///
/// let mut request = http::Request::new(());
/// // in the accept loop, after the TLS handshake:
/// request.extensions_mut().insert(TlsConnected);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TlsConnected;

/// Request extension: the TCP peer's address, for servers that are not axum
/// (insert it in the hyper accept loop). Under axum, serve with
/// `into_make_service_with_connect_info::<SocketAddr>()` instead: the layers
/// and the extractor read axum's `ConnectInfo<SocketAddr>` too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// What "came over HTTPS" means for the callback.
///
/// - **Strict (the default, no trusted proxies):** exactly one
///   `X-Forwarded-Proto` value, equal to `https` (ASCII case-insensitive).
///   A list (`https, http`), a repeated header line, or a `Forwarded` header
///   that disagrees with it (or has several elements, or several `proto`
///   parameters) is refused. `Forwarded` alone counts only with a single
///   element holding a single `proto`. The request target's scheme
///   (`POST https://...` over plain HTTP) proves nothing and is ignored.
/// - **Trusted proxies** ([`HttpsPolicy::with_trusted_proxies`]): the
///   forwarded value counts only when the TCP peer is one of them, and the
///   value read is the rightmost one, which the nearest proxy appended.
/// - A request carrying the [`TlsConnected`] extension is HTTPS.
///
/// The TCP peer comes from the [`PeerAddr`] extension or axum's
/// `ConnectInfo<SocketAddr>`.
///
/// ```
/// use tower_signing::utilsio::HttpsPolicy;
///
/// let behind_lb = HttpsPolicy::required()
///     .with_trusted_proxies(["10.0.0.0/8".parse()?, "127.0.0.1/32".parse()?]);
/// assert_eq!(behind_lb.trusted_proxies().len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct HttpsPolicy {
    pub(super) required: bool,
    trusted_proxies: Arc<[IpNet]>,
}

impl Default for HttpsPolicy {
    fn default() -> Self {
        HttpsPolicy::required()
    }
}

impl HttpsPolicy {
    /// HTTPS required, no trusted proxies (strict forwarding rules).
    #[must_use]
    pub fn required() -> Self {
        HttpsPolicy {
            required: true,
            trusted_proxies: Arc::new([]),
        }
    }

    /// No HTTPS check at all.
    ///
    /// # Warning
    /// A callback over plain HTTP is then signed: use it only for local
    /// development.
    #[must_use]
    pub fn off() -> Self {
        HttpsPolicy {
            required: false,
            ..HttpsPolicy::required()
        }
    }

    /// Trusts `X-Forwarded-Proto`, `Forwarded` and `X-Forwarded-For` only
    /// from these peers (addresses or CIDR ranges), reading the rightmost
    /// value, the one the nearest proxy appended.
    ///
    /// # Warning
    /// List only proxies that append to (or overwrite) these headers. A
    /// trusted range that includes clients lets them choose the scheme and
    /// the address the source allow-list sees.
    #[must_use]
    pub fn with_trusted_proxies(mut self, proxies: impl IntoIterator<Item = IpNet>) -> Self {
        self.trusted_proxies = proxies.into_iter().collect();
        self
    }

    /// Whether HTTPS is required.
    pub fn is_required(&self) -> bool {
        self.required
    }

    /// The trusted proxies.
    pub fn trusted_proxies(&self) -> &[IpNet] {
        &self.trusted_proxies
    }

    fn is_trusted(&self, addr: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&addr))
    }

    /// Whether the request passes: HTTPS not required, or it came over
    /// HTTPS by the rules above.
    pub fn allows(
        &self,
        headers: &HeaderMap,
        extensions: &Extensions,
        peer: Option<SocketAddr>,
    ) -> bool {
        !self.required || self.is_https(headers, extensions, peer)
    }

    /// Whether the request came over HTTPS, by the rules above.
    pub fn is_https(
        &self,
        headers: &HeaderMap,
        extensions: &Extensions,
        peer: Option<SocketAddr>,
    ) -> bool {
        if extensions.get::<TlsConnected>().is_some() {
            return true;
        }
        let Some(proto) = list(headers.get_all("x-forwarded-proto")) else {
            return false;
        };
        let Some(forwarded) = forwarded_protos(headers.get_all(header::FORWARDED)) else {
            return false;
        };
        let trusted = !self.trusted_proxies.is_empty();
        let (proto, forwarded) = if trusted {
            if !peer.is_some_and(|p| self.is_trusted(p.ip().to_canonical())) {
                return false;
            }
            (proto.last().copied(), forwarded.last())
        } else {
            if proto.len() > 1 || forwarded.len() > 1 {
                return false;
            }
            (proto.first().copied(), forwarded.first())
        };
        let forwarded = match forwarded.map(Vec::as_slice) {
            None | Some([]) => None,
            Some([one]) => Some(one.as_str()),
            Some(_) => return false, // several proto parameters in one element
        };
        let https = |p: &str| p.eq_ignore_ascii_case("https");
        match (proto, forwarded) {
            (Some(p), Some(f)) => https(p) && https(f),
            (Some(p), None) => https(p),
            (None, Some(f)) => https(f),
            (None, None) => false,
        }
    }

    /// The caller's address: with the TCP peer trusted, the rightmost
    /// `X-Forwarded-For` address that is not a trusted proxy; otherwise the
    /// peer. `None` when the peer is unknown or a forwarded address does not
    /// parse.
    pub fn client_addr(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<IpAddr> {
        let peer = peer?.ip().to_canonical();
        if !self.is_trusted(peer) {
            return Some(peer);
        }
        let mut client = peer;
        for item in list(headers.get_all("x-forwarded-for"))?.into_iter().rev() {
            client = parse_addr(item)?;
            if !self.is_trusted(client) {
                break;
            }
        }
        Some(client)
    }
}

/// The comma-separated items of every line of a header, trimmed; `None` when
/// a line is not visible ASCII.
fn list<'a>(lines: impl IntoIterator<Item = &'a HeaderValue>) -> Option<Vec<&'a str>> {
    let mut items = Vec::new();
    for line in lines {
        items.extend(line.to_str().ok()?.split(',').map(str::trim));
    }
    Some(items)
}

fn parse_addr(item: &str) -> Option<IpAddr> {
    item.parse::<IpAddr>()
        .or_else(|_| item.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// The `proto` values of each element of the RFC 7239 `Forwarded` header
/// (every line, in order), unquoted; `None` when the header is malformed
/// (an unterminated quote, a parameter without `=`, non-ASCII).
fn forwarded_protos<'a>(
    lines: impl IntoIterator<Item = &'a HeaderValue>,
) -> Option<Vec<Vec<String>>> {
    let mut elements = Vec::new();
    for line in lines {
        let mut element = Vec::new();
        let mut chars = line.to_str().ok()?.chars().peekable();
        loop {
            // One `name=value` pair.
            let mut name = String::new();
            while let Some(&c) = chars.peek() {
                if c == '=' || c == ';' || c == ',' {
                    break;
                }
                name.push(c);
                chars.next();
            }
            let mut value = String::new();
            if chars.next_if_eq(&'=').is_none() {
                if !name.trim().is_empty() {
                    return None;
                }
            } else if chars.next_if(|c| *c == '"').is_some() {
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => value.push(chars.next()?),
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(c) = chars.next_if(|c| *c != ';' && *c != ',') {
                    value.push(c);
                }
            }
            if name.trim().eq_ignore_ascii_case("proto") {
                element.push(value.trim().to_owned());
            }
            while chars.next_if(|c| c.is_ascii_whitespace()).is_some() {}
            match chars.next() {
                Some(';') => {}
                Some(',') => elements.push(std::mem::take(&mut element)),
                None => break,
                Some(_) => return None, // text after a quoted value
            }
        }
        elements.push(element);
    }
    Some(elements)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn strict(pairs: &[(&'static str, &'static str)]) -> bool {
        HttpsPolicy::required().is_https(&headers(pairs), &Extensions::new(), None)
    }

    const PEER: &str = "10.0.0.7:5000";

    fn behind_proxy(pairs: &[(&'static str, &'static str)], peer: &str) -> bool {
        HttpsPolicy::required()
            .with_trusted_proxies(["10.0.0.0/8".parse().unwrap()])
            .is_https(
                &headers(pairs),
                &Extensions::new(),
                Some(peer.parse().unwrap()),
            )
    }

    #[test]
    fn one_forwarded_proto_https_is_accepted() {
        for value in ["https", "HTTPS", " https "] {
            assert!(strict(&[("x-forwarded-proto", value)]), "{value:?}");
        }
        assert!(strict(&[("forwarded", "proto=https")]));
        assert!(strict(&[("forwarded", "for=1.2.3.4;proto=\"https\";by=x")]));
        assert!(strict(&[
            ("x-forwarded-proto", "https"),
            ("forwarded", "for=1.2.3.4;proto=https")
        ]));
        assert!(strict(&[
            ("x-forwarded-proto", "https"),
            ("forwarded", "for=1.2.3.4")
        ]));
    }

    #[test]
    fn forwarding_attacks_are_refused() {
        for pairs in [
            &[("x-forwarded-proto", "https, http")][..],
            &[("x-forwarded-proto", "http, https")],
            &[
                ("x-forwarded-proto", "https"),
                ("x-forwarded-proto", "http"),
            ],
            &[
                ("x-forwarded-proto", "https"),
                ("x-forwarded-proto", "https"),
            ],
            &[("x-forwarded-proto", "http"), ("forwarded", "proto=https")],
            &[("x-forwarded-proto", "https"), ("forwarded", "proto=http")],
            &[("forwarded", "proto=https;proto=http")],
            &[("forwarded", "proto=https, proto=http")],
            &[("forwarded", "Proto=HTTPS, proto=http")],
            &[("forwarded", "proto=https"), ("forwarded", "proto=https")],
            &[("forwarded", "for=\"x;proto=https\"")],
            &[("forwarded", "proto=\"https, http\"")],
            &[("forwarded", "proto=\"https")],
            &[("forwarded", "proto=\"https\"x")],
            &[("forwarded", "for=1.2.3.4, proto=https")],
            &[("forwarded", "protocol=https")],
            &[("x-forwarded-proto", "https"), ("forwarded", "junk")],
            &[("x-forwarded-proto", "http")],
            &[("x-forwarded-proto", "")],
            &[],
        ] {
            assert!(!strict(pairs), "{pairs:?}");
        }
    }

    #[test]
    fn tls_marker_is_https_without_headers() {
        let mut extensions = Extensions::new();
        extensions.insert(TlsConnected);
        assert!(HttpsPolicy::required().is_https(&HeaderMap::new(), &extensions, None));
    }

    #[test]
    fn trusted_proxy_value_is_the_rightmost() {
        // The client sent http; the trusted proxy appended https.
        assert!(behind_proxy(&[("x-forwarded-proto", "http, https")], PEER));
        assert!(behind_proxy(
            &[
                ("x-forwarded-proto", "http"),
                ("x-forwarded-proto", "https")
            ],
            PEER
        ));
        assert!(behind_proxy(
            &[("forwarded", "proto=http, proto=https")],
            PEER
        ));
        // The client sent https; the proxy appended http.
        assert!(!behind_proxy(&[("x-forwarded-proto", "https, http")], PEER));
        // An untrusted peer sending https.
        assert!(!behind_proxy(
            &[("x-forwarded-proto", "https")],
            "192.0.2.1:5000"
        ));
        // No peer known.
        let policy = HttpsPolicy::required().with_trusted_proxies(["10.0.0.0/8".parse().unwrap()]);
        let h = headers(&[("x-forwarded-proto", "https")]);
        assert!(!policy.is_https(&h, &Extensions::new(), None));
        // An IPv4-mapped IPv6 peer is the IPv4 address.
        assert!(behind_proxy(
            &[("x-forwarded-proto", "https")],
            "[::ffff:10.0.0.7]:80"
        ));
    }

    #[test]
    fn off_allows_everything() {
        assert!(HttpsPolicy::off().allows(&HeaderMap::new(), &Extensions::new(), None));
        assert!(!HttpsPolicy::required().allows(&HeaderMap::new(), &Extensions::new(), None));
    }

    #[test]
    fn client_address_resolution() {
        let policy = HttpsPolicy::required().with_trusted_proxies(["10.0.0.0/8".parse().unwrap()]);
        let peer = Some(PEER.parse().unwrap());
        let xff = |v: &'static str| headers(&[("x-forwarded-for", v)]);
        assert_eq!(
            policy.client_addr(&xff("203.0.113.9, 198.51.100.4, 10.0.0.3"), peer),
            Some("198.51.100.4".parse().unwrap())
        );
        assert_eq!(
            policy.client_addr(&xff("10.0.0.2"), peer),
            Some("10.0.0.2".parse().unwrap())
        );
        assert_eq!(
            policy.client_addr(&HeaderMap::new(), peer),
            Some("10.0.0.7".parse().unwrap())
        );
        assert_eq!(policy.client_addr(&xff("nonsense"), peer), None);
        assert_eq!(
            policy.client_addr(&xff("[2001:db8::1]:443"), peer),
            Some("2001:db8::1".parse().unwrap())
        );
        // An untrusted peer's header is ignored.
        let outsider = Some("192.0.2.1:5000".parse().unwrap());
        assert_eq!(
            policy.client_addr(&xff("198.51.100.4"), outsider),
            Some("192.0.2.1".parse().unwrap())
        );
        // Without trusted proxies the header never counts.
        assert_eq!(
            HttpsPolicy::required().client_addr(&xff("198.51.100.4"), peer),
            Some("10.0.0.7".parse().unwrap())
        );
        assert_eq!(policy.client_addr(&HeaderMap::new(), None), None);
    }
}
