//! The contact-tracing engine. Pure compute: no I/O.
