//! mdb language and dcmds.
