"""Reading experiments and personas from the data: pure statistics, the store read-out, persona cards."""
