//! Alerting for Spyglass. Evaluation is split from IO so the state machine can be tested with
//! a hand-moved clock, and delivery is split from evaluation so a slow or dead receiver never
//! delays the next rule: the evaluator only queues webhooks, a worker sends them.
//!
//! Wiring: implement [`MetricSource`] and [`AlertRepo`], start a [`Notifier`], build an
//! [`Evaluator`], [`Evaluator::restore`] each rule's last state, then [`Evaluator::spawn`].

mod body;
pub mod error;
pub mod evaluator;
mod guard;
pub mod notify;
mod signature;
pub mod spec;
pub mod state;
pub mod templates;

pub use body::{BODY_VERSION, render as render_body};
pub use error::NotifyError;
pub use evaluator::{AlertRepo, Evaluator, MetricSource};
pub use guard::{check_target, internal_kind};
pub use notify::{Notifier, NotifierConfig, NotifierWorker, USER_AGENT};
pub use signature::{sign, verify};
pub use spec::{AlertsConfig, ConfigRule, RuleSpec};
pub use state::{Observation, RuleState, Transition, message};
pub use templates::{TEMPLATES, template};
