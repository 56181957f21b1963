//! Helpers for the layers' unit tests.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use tower::Service;
use tower::service_fn;

/// Counts how many times the inner service ran.
#[derive(Clone, Default)]
pub(crate) struct Calls(Arc<AtomicUsize>);

impl Calls {
    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// An inner service that counts its calls and answers 200 with the request
/// body echoed back.
pub(crate) fn echo<B>() -> (
    impl Service<Request<B>, Response = Response<Full<Bytes>>, Error = Infallible, Future = impl Send>
    + Clone,
    Calls,
)
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: std::fmt::Debug,
{
    let calls = Calls::default();
    let counter = calls.clone();
    let svc = service_fn(move |req: Request<B>| {
        counter.0.fetch_add(1, Ordering::SeqCst);
        async move {
            let bytes = req.into_body().collect().await.unwrap().to_bytes();
            Ok::<_, Infallible>(Response::new(Full::new(bytes)))
        }
    });
    (svc, calls)
}

pub(crate) async fn status_and_body(res: Response<Full<Bytes>>) -> (StatusCode, String) {
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

pub(crate) fn full(body: &str) -> Full<Bytes> {
    Full::new(Bytes::from(body.to_owned()))
}
