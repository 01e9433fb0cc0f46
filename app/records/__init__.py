"""Below everything that reads records: what a record is (its family, how a body splits), the
named fields a filter and the capture index read, and the table columns."""
