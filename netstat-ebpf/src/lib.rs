#![no_std]
// Exists so the workspace sees a library target; the programs are in main.rs.
