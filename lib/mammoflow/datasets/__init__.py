"""Dataset formats: parse-time listings, canonical tables, adapters and synthetic stand-ins."""
