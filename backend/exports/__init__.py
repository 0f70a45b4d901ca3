"""The data out: a case as a FHIR R4 Bundle, and the pseudonymised national data set as bulk NDJSON."""
