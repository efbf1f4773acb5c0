"""Payment options of a message: provider links, bank transfer with EPC QR, Barzahlen, SEPA."""
