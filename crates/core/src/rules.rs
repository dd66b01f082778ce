//! Classification tables loaded from the data files in `data/` (compiled in) and
//! extendable from configuration.
//!
//! IMPLEMENTATION OWNED BY THE CLASSIFIER WORK ITEM — see ARCHITECTURE.md.

/// All tables the classifier, the bot filter and the preview detector consult.
#[derive(Debug, Clone, Default)]
pub struct Rules {}

impl Rules {
    /// The built-in tables from `data/*.toml`.
    pub fn builtin() -> Self {
        Rules {}
    }
}
