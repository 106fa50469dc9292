//! The UI state and its update logic (keys and worker events in, requests out); no drawing.
