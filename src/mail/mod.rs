//! The pure mail layer: parsing and normalising what a message says about itself (ids, subjects,
//! addresses). No I/O, no clock, no database: everything here is a function of its inputs.

pub mod address;
pub mod ids;
pub mod parse;
pub mod render;
pub mod sanitize;
pub mod subject;
pub mod trim;
