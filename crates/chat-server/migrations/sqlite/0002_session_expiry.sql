-- Sessions expire a while after their last use; the sweep finds them by this index.
CREATE INDEX sessions_updated ON sessions (updated_ms);
