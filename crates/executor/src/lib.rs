//! The judge: turns a submission into sandbox runs and a verdict.
