//! Tests of loading a serve configuration: valid files, defaults, and the exact messages of
//! refused ones.

use super::*;
