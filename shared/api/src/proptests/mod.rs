//! Property tests of the API's hand-written parsers (issue 23): the JSON body fields (the
//! pagination cursors' are rota-domain's, with the codec). Each states an invariant (a round trip, "any edit is refused", "accepts
//! exactly what the rule allows", "never panics") over generated inputs. Named `proptests` so
//! that `cargo nextest run -p rota-api proptest` runs them all.

mod fields;
