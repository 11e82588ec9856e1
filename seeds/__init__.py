"""The bundled seeds: feeds, topics, channel examples and the demo feeds (data only)."""
