"""The reliability and security suite: one module per guarantee (see docs/reliability.md)."""
