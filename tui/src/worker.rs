//! The session worker: the thread that owns the session and runs dcmds for the UI.
