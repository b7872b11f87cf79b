//! A stream of named server-sent events (`event: NAME` then `data: JSON`), as the Responses API
//! and Anthropic's Messages API send them: a head, then what each piece of the generation and
//! its final record give, in order.

use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, StreamExt};
use serde_json::Value;
use tokio_stream::wrappers::ReceiverStream;

use crate::run::Chunk;

/// The events `head`, then those `on` gives for `first` and every later chunk of `rx`.
pub(crate) fn stream<K: AsRef<str> + Send + 'static>(
    head: Vec<(K, Value)>,
    first: Chunk,
    rx: tokio::sync::mpsc::Receiver<Chunk>,
    on: impl FnMut(Chunk) -> Vec<(K, Value)> + Send + 'static,
) -> Response {
    let chunks = stream::iter([first]).chain(ReceiverStream::new(rx)).map(on);
    let events = stream::iter(head).chain(chunks.flat_map(stream::iter)).map(|(kind, data)| {
        Ok::<_, std::convert::Infallible>(Event::default().event(kind).data(data.to_string()))
    });
    Sse::new(events).into_response()
}
