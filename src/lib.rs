//! bionas
