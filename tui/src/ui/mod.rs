//! Drawing the UI state with ratatui.
