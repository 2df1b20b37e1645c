//! The `tracing` events sea-tenant emits, captured for assertions: which path provisioned a
//! tenant (`how = "script"` or `"live"`, the debug event of `sea_tenant::provision`).

use std::fmt;
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{Layer, Registry};

/// One provisioning as the event reported it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provisioned {
    /// The tenant.
    pub tenant: String,
    /// `script` or `live`.
    pub how: String,
}

/// The provisioning events of the whole test process. A process-wide subscriber, not a
/// thread's scoped one: `tracing` caches per call site whether anyone listens, and a scoped
/// subscriber set while another test thread first hits the call site can miss its events.
/// Tests tell their events apart by tenant name, so use names unique within a test binary.
pub struct ProvisionEvents;

static SEEN: Mutex<Vec<Provisioned>> = Mutex::new(Vec::new());
static INSTALLED: OnceLock<bool> = OnceLock::new();

impl ProvisionEvents {
    /// Starts capturing (the first call in a process installs the subscriber; `false` if the
    /// process had one already, and then nothing is captured).
    pub fn capture() -> Self {
        let installed = *INSTALLED.get_or_init(|| {
            tracing::subscriber::set_global_default(Registry::default().with(Capture)).is_ok()
        });
        assert!(installed, "another global tracing subscriber is installed");
        ProvisionEvents
    }

    /// How `tenant` was provisioned, each time it was.
    pub fn how(&self, tenant: &str) -> Vec<String> {
        SEEN.lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|p| p.tenant == tenant)
            .map(|p| p.how.clone())
            .collect()
    }
}

struct Capture;

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Provisioned::default();
        event.record(&mut fields);
        if !fields.how.is_empty() {
            SEEN.lock().unwrap_or_else(|p| p.into_inner()).push(fields);
        }
    }
}

impl Visit for Provisioned {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "how" {
            self.how = value.to_owned();
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "tenant" {
            // `%tenant` arrives as Display wrapped in Debug: no quotes.
            self.tenant = format!("{value:?}");
        }
    }
}
