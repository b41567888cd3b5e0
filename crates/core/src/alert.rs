//! An alert: one incident version that matched one subscription.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::incident::Incident;

#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Increasing per installation: clients resume a stream from the last id they saw.
    pub id: i64,
    pub subscription_id: Uuid,
    pub created_at: DateTime<Utc>,
    /// The incident as it was at the version that raised this alert.
    pub incident: Incident,
}
