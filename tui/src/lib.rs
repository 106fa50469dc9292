//! The qmdb terminal UI. A placeholder: the UI is built in its own issue; until then
//! `qmdb` runs the script-mode loop on a terminal too.
