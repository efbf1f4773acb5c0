"""The staff page: a debtor's next message as they will see it, beside the trace."""
