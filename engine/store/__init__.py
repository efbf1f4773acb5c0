"""The store: tables, migrations, import, generated portfolios, fact derivation and planning."""
