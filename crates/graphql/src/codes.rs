//! Every error a client gets carries `extensions.code`, including the ones
//! async-graphql makes itself (a query that does not parse or validate, a
//! variable of the wrong type, a query over the depth or complexity limits),
//! over HTTP and over WebSocket alike. Our resolvers always set a code, so an
//! error without one came from the library checking the client's request:
//! BAD_USER_INPUT.

use std::sync::Arc;

use async_graphql::Response;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextRequest, NextSubscribe,
};
use futures::StreamExt;
use futures::stream::BoxStream;

use crate::error::Code;

/// The schema extension that fills in missing codes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientErrorCodes;

impl ExtensionFactory for ClientErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ClientErrorCodes)
    }
}

fn with_codes(mut response: Response) -> Response {
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", Code::BadUserInput.as_str());
        }
    }
    response
}

#[async_graphql::async_trait::async_trait]
impl Extension for ClientErrorCodes {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        with_codes(next.run(ctx).await)
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream).map(with_codes).boxed()
    }
}
