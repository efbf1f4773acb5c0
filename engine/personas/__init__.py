"""Personas from the data: suggested persona rules, drift since the last plan, persona cards."""
