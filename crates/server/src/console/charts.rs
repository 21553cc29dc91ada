//! SVG charts drawn on the server (in progress).
