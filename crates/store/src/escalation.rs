//! Escalation notices: an overdue task notifies its assignee, then the unit
//! head, then the command one level up, along the profile's chain, and each
//! notice is kept (who heard, when, acknowledged by whom).
