"""Tests of the instrumentors, one module (or package) per target library."""
