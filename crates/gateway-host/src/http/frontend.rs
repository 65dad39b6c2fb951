//! What the HTTP side of one worker serves with: its routes (the config), a VM slot per
//! plugin, the upstream clusters and pool, and the gateway-wide shared state. The worker
//! builds it; listeners and streams only read it.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use crate::config::GatewayConfig;
use crate::services::Services;
use crate::services::shared::SharedState;
use crate::vm::PluginSlot;

/// Everything a worker's listeners serve with.
pub struct Frontend {
    pub services: Rc<Services>,
    pub plugins: HashMap<String, Rc<PluginSlot>>,
    pub config: Arc<GatewayConfig>,
    pub shared: Arc<SharedState>,
}
