//! Lucarne's pure domain: what a visit is, where it came from, and how reports are asked.
//!
//! Invariant: this crate does no IO, knows no HTTP, no SQL and no async runtime.
//! Everything here is a function of its inputs (plus an explicit random source where
//! randomness is the point, e.g. tokens and the synthetic traffic generator).

pub mod access_log;
pub mod annotations;
pub mod cascade;
pub mod channel;
pub mod classify;
pub mod conversions;
pub mod embed;
pub mod event;
pub mod funnel;
pub mod imported;
pub mod interval;
pub mod links;
pub mod query;
pub mod rules;
pub mod stats;
pub mod survey;
pub mod synth;
pub mod text;
pub mod token;
pub mod url_clean;
pub mod useragent;
pub mod visitor;

pub use channel::{Channel, ChannelGroup, Evidence};
